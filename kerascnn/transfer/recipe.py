"""The two-phase fine-tuning recipe: train a new head on a frozen backbone, then
unfreeze the top blocks and train on, with a smaller learning rate for the backbone."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from kerascnn.cards import read_model_metadata, write_model_metadata
from kerascnn.errors import UserError
from kerascnn.transfer import batchnorm, freezing
from kerascnn.transfer.head import find_feature_layer, swap_head
from kerascnn.transfer.rates import backbone_multipliers, discriminative_optimizer

__all__ = ["FinetuneResult", "finetune", "load_image_folder"]


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns; ``history`` has one dict per phase."""

    model: Any
    classes: list[str]
    preprocessing: str
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    model_path: Path | None = None


def load_image_folder(
    path: str | os.PathLike[str],
    image_size: tuple[int, int],
    *,
    validation_split: float = 0.2,
    seed: int = 0,
    batch_size: int = 32,
) -> tuple[Any, Any, list[str]]:
    """``(train, validation or None, class names)`` from a folder of class folders.

    ``kerascnn.data.image_folder``'s split (by file name, stratified, stable) and
    checks (unreadable images reported and skipped).
    """
    from kerascnn.data import image_folder

    folder = image_folder(path, tuple(image_size), validation_split, seed, batch_size=batch_size)
    return folder.train, folder.validation, list(folder.class_names)


def _preprocess(mode: str) -> Any:
    if mode == "none":
        return None
    from keras.applications import imagenet_utils

    return lambda x, y: (imagenet_utils.preprocess_input(x, mode=mode), y)


def _backbone(spec: Any, image_size: tuple[int, int] | None) -> tuple[Any, str, tuple[int, int]]:
    """``(model, preprocessing, size)`` for a model, a ``.keras`` file or ``NAME[:VARIANT]``."""
    if isinstance(spec, keras.Model):
        size = image_size or tuple(spec.input_shape[1:3])
        if None in size:
            raise UserError(f"{spec.name} takes any input size; pass image_size=(H, W)")
        return spec, "none", size
    spec = str(spec)
    if spec.endswith(".keras"):
        from kerascnn.saved import load_saved_model

        model, _, size = _backbone(load_saved_model(spec), image_size)
        return model, read_model_metadata(spec).get("preprocessing", "none"), size
    from kerascnn.registry import create_model, get_model_card

    name, _, variant = spec.partition(":")
    card = get_model_card(name)
    weights = card.get("weights", {}).get(variant, {}) if variant else {}
    default = tuple(weights.get("input_shape") or card.get("input_shape") or (224, 224, 3))
    size = tuple(image_size or default[:2])
    # The full top only loads at the size the weights were made for; otherwise no top.
    if size == default[:2] and weights.get("include_top", True):
        model = create_model(spec)
    else:
        model = create_model(spec, include_top=False, input_shape=(*size, default[2]))
    return model, weights.get("preprocessing", "none"), size


def _optimizer(optimizer: Any, lr: float) -> keras.optimizers.Optimizer:
    base = keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
    return type(base).from_config({**base.get_config(), "learning_rate": lr})


def finetune(
    model_or_spec: Any,
    data: str | os.PathLike[str],
    *,
    classes: int | str = "auto",
    head_epochs: int = 5,
    finetune_epochs: int = 5,
    unfreeze: str | int = "top-2-blocks",
    lr: float = 1e-3,
    backbone_lr_mult: float = 0.1,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    image_size: tuple[int, int] | None = None,
    batch_size: int = 32,
    validation_split: float = 0.2,
    seed: int = 0,
    hidden: Sequence[int] = (),
    dropout: float = 0.5,
    pooling: str | None = None,
    feature_layer: str | int | None = None,
    adapt_batch_norm: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    callbacks: Sequence[Any] = (),
    verbose: Any = "auto",
) -> FinetuneResult:
    """Fine-tune a pretrained network on a folder of class folders, in two phases.

    1. ``head_epochs``: a new head (``swap_head``) on the frozen backbone, at ``lr``.
    2. ``finetune_epochs``: layers from ``unfreeze`` on (a layer, or
       ``"top-N-blocks"``: blocks are layer-name prefixes before ``_``) are
       trained too, at ``lr x backbone_lr_mult``; the head stays at ``lr``;
       batch norm stays in inference mode. The model is recompiled in between.

    ``adapt_batch_norm=True`` first replaces the backbone's batch-norm statistics by
    those of the training images (AdaBN, see ``kerascnn.transfer.batchnorm``).

    With ``output_dir``: ``model.keras``, ``model.classes.json`` (class names,
    preprocessing) and ``history.json``.
    """
    if classes != "auto" and (isinstance(classes, bool) or not isinstance(classes, int)):
        raise UserError(f"classes must be 'auto' or an integer, got {classes!r}")
    if classes != "auto" and classes < 2:
        raise UserError(f"classes must be at least 2, got {classes}")
    if head_epochs < 0 or finetune_epochs < 0 or head_epochs + finetune_epochs == 0:
        raise UserError("head_epochs and finetune_epochs must be >= 0, and not both 0")
    base, preprocessing, size = _backbone(model_or_spec, image_size)
    train, val, names = load_image_folder(
        data, size, validation_split=validation_split, seed=seed, batch_size=batch_size
    )
    if len(names) < 2:
        raise UserError(f"{data}: found {len(names)} class folder(s); need at least 2")
    if classes != "auto" and classes != len(names):
        raise UserError(
            f"{data} has {len(names)} class folders ({', '.join(names)}) but classes={classes}"
        )
    fn = _preprocess(preprocessing)
    if fn is not None:
        train, val = train.map(fn), (val.map(fn) if val is not None else None)
    feature = find_feature_layer(base, feature_layer)
    model = swap_head(
        base, len(names), hidden=hidden, dropout=dropout, pooling=pooling, feature_layer=feature
    )
    if finetune_epochs:
        freezing.resolve_start(model, unfreeze)  # a bad layer name fails before training
    if adapt_batch_norm and not batchnorm.adapt_batch_norm(model, train):
        raise UserError(f"{model.name} has no BatchNormalization layers; drop adapt_batch_norm")
    # the pipeline shuffles itself; shuffle=False only silences Keras' warning
    fit = {
        "validation_data": val,
        "callbacks": list(callbacks),
        "verbose": verbose,
        "shuffle": False,
    }
    history: dict[str, dict[str, list[float]]] = {}
    freezing.freeze(model, up_to=feature)  # phase 2 unfreezes from `unfreeze` on
    if head_epochs:
        model.compile(
            _optimizer(optimizer, lr), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        history["head"] = model.fit(train, epochs=head_epochs, **fit).history
    if finetune_epochs:
        freezing.unfreeze(model, from_=unfreeze)
        mults = backbone_multipliers(model, backbone_lr_mult, feature_layer=feature)
        opt = discriminative_optimizer(model, mults, optimizer=optimizer, learning_rate=lr)
        model.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"])
        total = head_epochs + finetune_epochs
        phase2 = model.fit(train, initial_epoch=head_epochs, epochs=total, **fit)
        history["finetune"] = phase2.history
    history = {p: {k: [float(v) for v in vs] for k, vs in h.items()} for p, h in history.items()}
    result = FinetuneResult(model, names, preprocessing, history)
    if output_dir is not None:
        result.model_path = _save(model, Path(output_dir), names, preprocessing, history)
    return result


def _save(model: Any, out: Path, names: list[str], preprocessing: str, history: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.keras"
    fd, tmp = tempfile.mkstemp(suffix=".keras", dir=out)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    write_model_metadata(target, names, preprocessing)
    hist = out / "history.json"
    hist.with_name("history.json.part").write_text(json.dumps(history, indent=1), encoding="utf-8")
    hist.with_name("history.json.part").replace(hist)
    return target
