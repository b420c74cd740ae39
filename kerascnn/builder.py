"""What zoo builders call to get their weights: the classes a variant's head predicts, the file
a variant loads from, and loading a published variant (by name) or a local file (``keras-h5``,
``keras-weights`` or ``torch-pth``, recognised by its suffix) into a built model.

Above the registry, as timm's ``_builder`` is above its ``_registry``: it reads the model cards
through :mod:`kerascnn.registry`, which never imports it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerascnn.errors import UserError
from kerascnn.registry import get_model_card
from kerascnn.weights import cache, convert
from kerascnn.weights.cards import WeightCard

__all__ = ["load_file", "load_into", "pick_variant", "resolve_classes"]

_SUFFIXES = (
    ((".pth", ".pt"), "torch-pth"),
    ((".weights.h5", ".keras"), "keras-weights"),
    ((".h5", ".hdf5"), "keras-h5"),
)


def _no_head_error(card: WeightCard) -> UserError:
    full = [v for v, c in get_model_card(card.model).weights.items() if c.include_top]
    alt = f", or weights={full[0]!r}" if full else ""
    return UserError(f"{card.spec} holds no classifier; build with include_top=False{alt}")


def resolve_classes(name: str, weights: Any, include_top: bool, classes: Any) -> Any:
    """The ``classes`` a builder should use: the weights' classes, else the model's default.

    Args:
        name, weights: the zoo model and its ``weights`` argument (a variant, file or None).
        include_top, classes: the builder's; classes other than a variant head's: UserError.
    """
    card = get_model_card(name)
    variant = card.weights.get(weights) if isinstance(weights, str) else None
    published = len(variant.classes) if variant and variant.include_top else None
    if variant and include_top and not variant.include_top:
        raise _no_head_error(variant)
    if classes is None:
        return published or card.classes
    if include_top and published and classes != published:
        raise UserError(
            f"{name}: weights {weights!r} predict {published} classes, not {classes}; "
            f"build with include_top=False, or load them and call "
            f"kerascnn.transfer.swap_head(model, {classes}) to fine-tune a new head"
        )
    return classes


def pick_variant(name: str, variant: str, include_top: bool) -> WeightCard:
    """The card to load for ``name:variant`` into a model with or without its head: as
    ``keras.applications``, a headless model takes the ``-notop`` file unless the full one is
    cached; a ``-notop`` variant into a model with a head fails."""
    model_card = get_model_card(name)
    card = model_card.weight(variant)
    notop = model_card.weights.get(f"{variant}-notop")
    if notop and not include_top and not cache.is_cached(card):
        card = notop
    if include_top and not card.include_top:
        raise _no_head_error(card)
    return card


def load_file(model: Any, path: str | Path, fmt: str | None = None) -> Any:
    """Load a weights file of format ``fmt`` (guessed from the suffix when None)."""
    path = Path(path)
    if fmt is None:
        fmt = next((f for ends, f in _SUFFIXES if path.name.lower().endswith(ends)), None)
        if fmt is None:
            raise UserError(
                f"{path}: unknown weights format; use a .pth, .weights.h5, .keras or .h5 file"
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
                f"{path}: cannot load these weights into {model.name} ({message}); "
                "build the model with the arguments the weights were saved with"
            ) from None
    return model


def load_into(model: Any, name: str, weights: str, *, progress: bool | None = None) -> Any:
    """Load ``weights`` into ``model``, a zoo model ``name``; return the model.

    Args:
        model, name: the built model and its zoo name.
        weights: a variant (cached, verified; see :func:`pick_variant`) or a weights file.
        progress: show a download progress bar (default: on a terminal).
    """
    if weights in get_model_card(name).weights:
        from keras import layers

        has_head = any(isinstance(layer, layers.Dense) for layer in model.layers)
        card = pick_variant(name, weights, has_head)
        return load_file(model, cache.variant_file(card, progress=progress), card.format)
    path = Path(weights).expanduser()
    if path.is_file():
        return load_file(model, path)
    known = ", ".join(sorted(get_model_card(name).weights)) or "none published yet"
    raise UserError(
        f"{name}: unknown weights {weights!r}; use a variant ({known}) or an existing file"
    )
