"""Saved models: loading a ``.keras`` file, and the class-names sidecar written beside it.

``net.keras`` -> ``net.classes.json``: ``{"classes": [...], "preprocessing": "none", ...}``,
written by the run folder (``kerascnn.training.run``) and read by ``kerascnn.load``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascnn import atomic
from kerascnn.errors import UserError
from kerascnn.preprocessing import get_preprocessing

if TYPE_CHECKING:
    import keras

__all__ = ["MODEL_SUFFIXES", "load_saved_model", "metadata_path", "read_metadata", "write_metadata"]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def metadata_path(model_file: str | Path) -> Path:
    """The sidecar of a saved model: ``net.keras`` -> ``net.classes.json``."""
    path = Path(model_file)
    return path.with_name(path.name.removesuffix(path.suffix) + ".classes.json")


def write_metadata(
    model_file: str | Path, classes: list[str], preprocessing: str = "none", **extra: Any
) -> Path:
    """Write the class names and preprocessing (and ``extra`` fields) next to a saved model."""
    get_preprocessing(preprocessing)
    data = {"classes": [str(c) for c in classes], "preprocessing": preprocessing, **extra}
    return atomic.write_json(metadata_path(model_file), data)


def read_metadata(model_file: str | Path) -> dict[str, Any]:
    """The sidecar's content, else the run folder's ``model.classes.json``, else ``{}``."""
    path = metadata_path(model_file)
    if not path.is_file():
        path = Path(model_file).with_name("model.classes.json")
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot read the model's metadata ({exc}); delete it") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object with 'classes'; delete or fix it")
    return data


def _check_archive(path: Path) -> None:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise UserError(f"{path}: {what}; give a .keras file, a run folder or a zoo model name")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise UserError(f"{path}: not a saved Keras model; give a .keras file")
    with open(path, "rb") as f:
        head = f.read(8)
    is_keras = suffix == ".keras" and zipfile.is_zipfile(path)
    if not (is_keras or (suffix != ".keras" and head == _HDF5_SIGNATURE)):
        kind = "Keras archive (a zip)" if suffix == ".keras" else "HDF5 model file"
        raise UserError(f"{path}: not a {kind}; save the model with model.save('{path.name}')")


def load_saved_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` (or legacy ``.h5``) model file; one-line ``UserError`` if it fails."""
    path = Path(path).expanduser()
    _check_archive(path)
    import keras

    import kerascnn.layers  # noqa: F401  (registers the zoo's custom layers)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for broken files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{path}: cannot load the model ({reason[:200]}); is it a complete .keras file?"
        ) from None
