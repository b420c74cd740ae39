"""Loading a saved model file with a one-line error when it cannot be loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = ["is_model_file", "load_saved_model"]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_model_file(spec: Any) -> bool:
    """Whether ``spec`` names a saved model file rather than a zoo spec."""
    return Path(str(spec)).suffix.lower() in MODEL_SUFFIXES or Path(str(spec)).is_file()


def load_saved_model(path: str | Path) -> Any:
    """Load a ``.keras`` (or legacy ``.h5``) model file; one-line ``UserError`` if it fails."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise UserError(f"{path}: not a saved Keras model; expected a .keras file")
    import keras

    import kerascnn.layers  # noqa: F401  (registers the zoo's custom layers)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for broken files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot load the model ({reason[:200]})") from None
