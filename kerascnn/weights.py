"""Loading weights into a zoo model: a published variant (by name) or a local file.

Formats: ``keras-h5`` (legacy Keras ``.h5``, loaded by layer name), ``keras-weights``
(Keras 3 ``.weights.h5`` or ``.keras``) and ``torch-pth`` (torchvision state dicts,
converted; read without executing pickled code). Local files are recognised by their
suffix: ``.pth``/``.pt``, ``.weights.h5``/``.keras``, else ``.h5``/``.hdf5`` legacy.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError
from kerascnn.registry import get_model_card

__all__ = ["load_file", "load_into", "loaded_variant", "resolve_classes"]

# model -> (zoo name, variant, weight card) for models loaded with a published variant
_loaded: weakref.WeakKeyDictionary[Any, tuple[str, str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def resolve_classes(name: str, weights: Any, include_top: bool, classes: Any) -> Any:
    """The ``classes`` a builder should use: the weights' classes, else the model's default.

    Asking for other classes than a variant's with ``include_top=True`` is a ``ValueError``
    pointing to ``kerascnn.transfer.swap_head``; a ``-notop`` variant needs
    ``include_top=False``.
    """
    from kerascnn.cards import class_names

    card = get_model_card(name)
    variant = card.get("weights", {}).get(weights) if isinstance(weights, str) else None
    published = len(class_names(variant)) if variant and variant.get("include_top", True) else None
    if variant and include_top and not variant.get("include_top", True):
        full = [v for v, c in card["weights"].items() if c.get("include_top", True)]
        alt = f", or weights={full[0]!r}" if full else ""
        raise UserError(f"{name}:{weights} holds no classifier; build with include_top=False{alt}")
    if classes is None:
        return published or card.get("classes")
    if include_top and published and classes != published:
        raise UserError(
            f"{name}: weights {weights!r} predict {published} classes, not {classes}; "
            f"build with include_top=False, or load them and call "
            f"kerascnn.transfer.swap_head(model, {classes}) to fine-tune a new head"
        )
    return classes


def loaded_variant(model: Any) -> tuple[str, str, dict[str, Any]] | None:
    """``(zoo name, variant, weight card)`` if ``model`` was loaded with a published variant."""
    return _loaded.get(model)


def _has_head(model: Any) -> bool:
    from keras import layers

    return any(isinstance(layer, layers.Dense) for layer in model.layers)


def load_file(model: Any, path: str | Path, fmt: str | None = None) -> Any:
    """Load a weights file of format ``fmt`` (guessed from the suffix when None)."""
    from kerascnn import convert

    path = Path(path)
    name = path.name.lower()
    if fmt is None:
        if name.endswith((".pth", ".pt")):
            fmt = "torch-pth"
        elif name.endswith((".weights.h5", ".keras")):
            fmt = "keras-weights"
        elif name.endswith((".h5", ".hdf5")):
            fmt = "keras-h5"
        else:
            raise UserError(
                f"{path}: unknown weights format; expected .pth, .weights.h5, .keras or .h5"
            )
    if fmt == "torch-pth":
        convert.load_torch_state_dict(model, path)
    elif fmt == "keras-h5":
        convert.load_legacy_h5(model, path)
    else:
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"{path}: cannot load these weights into {model.name}: {message}"
            ) from None
    return model


def load_into(model: Any, name: str, weights: str, *, progress: bool | None = None) -> Any:
    """Load ``weights`` (a variant of zoo model ``name`` or a weights file) into ``model``.

    A variant is downloaded on first use, cached and verified (``kerascnn.cache``). A
    full-top variant loads into a model built with ``include_top=False`` (the head's
    weights are skipped), or, when the full file is not cached yet and a ``-notop``
    variant exists, that smaller variant is used; a ``-notop`` variant needs
    ``include_top=False``.
    """
    from kerascnn import hub
    from kerascnn.cache import cached_path, variant_file

    variants = get_model_card(name).get("weights", {})
    if weights in variants:
        card = variants[weights]
        notop = variants.get(f"{weights}-notop")
        if notop and not _has_head(model):  # as keras.applications: fetch the smaller file
            cached = "file" in card or hub.is_valid(
                cached_path(name, weights, card), card["hash"], card.get("size")
            )
            if not cached:
                weights, card = f"{weights}-notop", notop
        if _has_head(model) and not card.get("include_top", True):
            full = [v for v, c in variants.items() if c.get("include_top", True)]
            alt = f", or weights={full[0]!r}" if full else ""
            raise UserError(
                f"{name}:{weights} holds no classifier; build with include_top=False{alt}"
            )
        load_file(model, variant_file(name, weights, card, progress=progress), card["format"])
        _loaded[model] = (name, weights, card)
        return model
    path = Path(weights).expanduser()
    if path.is_file():
        return load_file(model, path)
    known = ", ".join(sorted(variants)) or "none published yet"
    raise UserError(
        f"{name}: unknown weights {weights!r}: neither a variant ({known}) nor an existing file"
    )
