"""``kerascnn.load``: the one way from a spec, file, run folder or Keras model to a
:class:`LoadedModel` (model, card or saved metadata, class names, preprocessing, split).
Every command and library entry point that takes a model goes through it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError, deprecated, renamed_argument
from kerascnn.saved import MODEL_SUFFIXES
from kerascnn.weights.cards import ModelCard, WeightCard

__all__ = ["RUN_MODEL_FILES", "LoadedModel", "is_path", "load"]

RUN_MODEL_FILES = ("model.keras", "best.keras")  # what a run folder resolves to, in order


@dataclass
class LoadedModel:
    """A Keras model with what kerascnn knows about it.

    Attributes:
        model: the ``keras.Model``.
        source: what was loaded, as given (a spec, a path, a URI, the Keras model's name).
        weights_card: the card of its published weights (``gesture_cnn:sign-digits``), or None.
        architecture_card: the card of its zoo architecture (``gesture_cnn``), or None.
        classes: class names in the order of the outputs, or None when unknown.
        preprocessing, crop: how pixels are fed to it (``kerascnn.preprocessing``).
        split: the data split its weights were trained on (a run's ``split.json``, a card's).
        path: the file it was read from, or None.
        pretrained: False for random initial weights.
        preset: a preset's ``metadata.json`` (``kerascnn.weights.preset``), or None.
    """

    model: Any
    source: str
    weights_card: WeightCard | None = None
    architecture_card: ModelCard | None = None
    classes: list[str] | None = None
    preprocessing: str = "none"
    crop: float | None = None
    split: dict[str, Any] | None = None
    path: Path | None = None
    pretrained: bool = True
    preset: dict[str, Any] | None = None

    @property
    def card(self) -> WeightCard | None:
        """Deprecated: :attr:`weights_card`."""
        deprecated("LoadedModel.card", "LoadedModel.weights_card")
        return self.weights_card

    @property
    def model_card(self) -> ModelCard | None:
        """Deprecated: :attr:`architecture_card`."""
        deprecated("LoadedModel.model_card", "LoadedModel.architecture_card")
        return self.architecture_card

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the model takes: its input shape, else its weights' or card's size."""
        shape = tuple(self.model.input_shape[1:3])
        if None in shape:
            fallback = self.weights_card or self.architecture_card
            if fallback is None or fallback.input_shape is None:
                raise UserError(
                    f"{self.source} accepts any input size; pass image_size=(height, width)",
                    arguments={"image_size=(height, width)": "image_size"},
                )
            shape = fallback.input_shape[:2]
        return int(shape[0]), int(shape[1])

    def preprocess(self, pixels: Any) -> Any:
        """RGB pixels in [0, 255] -> this model's input."""
        from kerascnn.preprocessing import preprocess

        return preprocess(pixels, self.preprocessing)


def is_path(source: Any) -> bool:
    """Whether ``source`` names a file or folder (existing, or a model file name), not a spec."""
    if not isinstance(source, str | os.PathLike):
        return False
    path = Path(source).expanduser()
    return path.exists() or path.suffix.lower() in MODEL_SUFFIXES or os.sep in str(source)


def _is_preset_folder(source: str | os.PathLike[str]) -> bool:
    from kerascnn.weights.preset import is_preset

    return Path(source).expanduser().is_dir() and is_preset(Path(source).expanduser())


def _from_file(path: Path, preprocessing: str | None) -> LoadedModel:
    from kerascnn.saved import load_saved_model, read_metadata

    if not path.exists() and path.suffix.lower() not in MODEL_SUFFIXES:
        raise UserError(f"{path}: no such file or folder; give a .keras file or a run folder")
    if path.is_dir():
        found = [path / n for n in RUN_MODEL_FILES if (path / n).is_file()]
        if not found:
            raise UserError(
                f"{path}: no {' or '.join(RUN_MODEL_FILES)} in this folder; "
                "give a run folder of `kerascnn train`/`finetune`, a .keras file or a zoo name"
            )
        path = found[0]
    model = load_saved_model(path)
    meta = read_metadata(path)
    split_file = path.parent / "split.json"
    split = json.loads(split_file.read_text("utf-8")) if split_file.is_file() else None
    return LoadedModel(
        model,
        str(path),
        classes=meta.get("classes"),
        preprocessing=preprocessing or meta.get("preprocessing", "none"),
        split=split,
        path=path,
    )


def _from_preset(source: str, preprocessing: str | None) -> LoadedModel:
    """A preset folder, or one fetched from an ``hf://``, ``kaggle://`` or ``https://`` URI."""
    from kerascnn.registry import get_model_card, list_models
    from kerascnn.weights.preset import WEIGHTS_FILE, load_preset

    if "://" in source:
        from kerascnn.weights.locate import locate_preset

        folder = locate_preset(source)
    else:
        folder = Path(source).expanduser()
    model, meta = load_preset(folder, source)
    name = meta["architecture"]
    model_card = get_model_card(name) if name in list_models() else None
    mode = preprocessing or meta.get("preprocessing", "none")
    classes = meta.get("classes") or None
    return LoadedModel(model, source, None, model_card, classes, mode, meta.get("crop"),
                       meta.get("split"), folder / WEIGHTS_FILE, preset=meta)  # fmt: skip


def _from_spec(spec: str, preprocessing: str | None, builder_args: dict[str, Any]) -> LoadedModel:
    """A zoo spec. A bare name takes the default published weights (the first variant with a
    classifier) unless ``weights`` is given: ``weights=None`` builds random initial weights."""
    from kerascnn.builder import pick_variant
    from kerascnn.registry import create_model, get_model_card
    from kerascnn.weights.cards import parse_spec

    name, variant = parse_spec(spec)
    model_card = get_model_card(name)
    has_classifier = any(c.include_top for c in model_card.weights.values())
    if variant is None and "weights" not in builder_args and has_classifier:
        variant = model_card.default_variant()
    if variant is None:
        model = create_model(name, **builder_args)
        pretrained = builder_args.get("weights") is not None
        mode = preprocessing or "none"
        return LoadedModel(model, spec, None, model_card, preprocessing=mode, pretrained=pretrained)
    include_top = builder_args.get("include_top", True)
    card = pick_variant(name, variant, include_top)
    model = create_model(name, **{**builder_args, "weights": card.variant})
    classes = list(card.classes) if card.include_top and include_top else None
    split = dict(card.split) if card.split else None
    mode = preprocessing or card.preprocessing
    return LoadedModel(model, spec, card, model_card, classes, mode, card.crop, split)


def _old_default_weights(model: Any, default_weights: Any, builder_args: dict[str, Any]) -> None:
    """``load(default_weights=...)``, deprecated: ``builder_args`` updated (``False`` for a bare
    name: ``weights=None``)."""
    if default_weights is not None:
        if default_weights:
            new = "kerascnn.load(NAME): a bare name takes its default weights"
        else:
            new = "kerascnn.load(NAME, weights=None) for random initial weights"
        deprecated(f"kerascnn.load(default_weights={default_weights})", new, stacklevel=4)
        bare = isinstance(model, str) and not is_path(model) and ":" not in model
        if not default_weights and bare:
            builder_args.setdefault("weights", None)


def load(
    model: Any = None,
    *,
    preprocessing: str | None = None,
    default_weights: bool | None = None,
    **builder_args: Any,
) -> LoadedModel:
    """Resolve ``model`` into a :class:`LoadedModel`.

    Args:
        model: a zoo spec (``"gesture_cnn:sign-digits"``; a bare name takes its default
            published weights where it has some, ``weights=None`` random ones), a
            ``.keras``/``.h5`` file (class names from its ``.classes.json`` sidecar), a run
            folder (its ``model.keras``), a preset folder or URI (``hf://owner/repo[@revision]``,
            ``kaggle://owner/model/keras/variant[/version]``, ``https://.../preset.zip``; see
            ``kerascnn.weights.hub``), a ``keras.Model`` or a :class:`LoadedModel` (returned as
            it is).
            ``source=``: deprecated.
        preprocessing: overrides the weights' or sidecar's preprocessing mode.
        default_weights: deprecated; a bare name takes its default weights (``weights=None``:
            random ones).
        **builder_args: passed to the zoo builder (``weights``, ``include_top``,
            ``input_shape``, ...).
    """
    source = renamed_argument("kerascnn.load", "source", model, builder_args)
    _old_default_weights(source, default_weights, builder_args)
    if preprocessing is not None:
        from kerascnn.preprocessing import get_preprocessing

        get_preprocessing(preprocessing)
    if isinstance(source, LoadedModel):
        return replace(source, preprocessing=preprocessing) if preprocessing else source
    if isinstance(source, str | os.PathLike):
        if "://" in str(source) or _is_preset_folder(source):
            if builder_args:
                raise UserError(f"{source}: a preset takes no builder arguments; drop them")
            return _from_preset(str(source), preprocessing)
        if is_path(source):
            if builder_args:
                raise UserError(
                    f"{source}: a saved model takes no builder arguments "
                    f"({', '.join(builder_args)}); drop them"
                )
            return _from_file(Path(source).expanduser(), preprocessing)
        return _from_spec(str(source), preprocessing, builder_args)
    import keras

    if isinstance(source, keras.Model):
        from kerascnn.registry import get_model_card, list_models

        card = get_model_card(source.name) if source.name in list_models() else None
        return LoadedModel(source, source.name, None, card, preprocessing=preprocessing or "none")
    raise UserError(
        f"cannot load a model from {source!r}; give a zoo name like 'vgg16:imagenet', "
        "a .keras file, a run folder or a keras.Model"
    )
