"""Loading weights into a zoo model: a published variant (by name) or a local file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerascnn.errors import UserError
from kerascnn.registry import get_model_card

__all__ = ["load_into"]


def load_into(model: Any, name: str, weights: str) -> Any:
    """Load ``weights`` (a variant of zoo model ``name`` or a weights file) into ``model``."""
    variants = get_model_card(name).get("weights", {})
    if weights in variants:
        raise UserError(f"{name}: weights {weights!r} cannot be loaded by this version")
    path = Path(weights).expanduser()
    if path.is_file():
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError) as exc:
            raise UserError(f"{path}: cannot load these weights into {name}: {exc}") from None
        return model
    known = ", ".join(sorted(variants)) or "none published yet"
    raise UserError(
        f"{name}: unknown weights {weights!r}: neither a variant ({known}) nor an existing file"
    )
