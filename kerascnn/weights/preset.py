"""Presets: one folder layout to share a model through a hub or by hand.

``config.json`` (the Keras model config, ``keras.saving.serialize_keras_object``),
``model.weights.h5``, ``metadata.json`` (versions, parameters, date, source, the weights'
sha256, classes, preprocessing, input size, split, training settings, held-out accuracy) and
``README.md`` (the model card, :mod:`kerascnn.weights.model_card`). keras-hub's presets hold
the same three files; docs/hub.md says what differs and why.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from kerascnn import atomic
from kerascnn.errors import UserError
from kerascnn.weights.model_card import render_card

__all__ = [
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "PRESET_FILES",
    "WEIGHTS_FILE",
    "check_metadata",
    "is_preset",
    "load_preset",
    "read_preset_metadata",
    "sha256_file",
    "write_preset",
]

CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE = (
    "config.json", "model.weights.h5", "metadata.json", "README.md",
)  # fmt: skip
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE)
FORMAT = "kerascnn-preset"
FORMAT_VERSION = 1  # raised when a reader of version 1 could no longer load a preset
_REQUIRED = ("format_version", "kerascnn_version", "architecture", "weights_sha256", "classes")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_preset(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a preset (its ``metadata.json`` and ``config.json``)."""
    folder = Path(folder)
    return (folder / METADATA_FILE).is_file() and (folder / CONFIG_FILE).is_file()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def check_metadata(meta: Any, where: str) -> dict[str, Any]:
    """``meta`` (a parsed ``metadata.json``) checked: a one-line ``UserError`` when it is not a
    kerascnn preset or comes from a newer kerascnn than this one reads."""
    from kerascnn._version import __version__

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(
            f"{where}: metadata.json is not a kerascnn preset's; "
            "give a preset written by `kerascnn zoo push`"
        )
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise UserError(f"{where}: metadata.json lacks {', '.join(missing)}; push the model again")
    version = meta["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(
            f"{where}: a preset of kerascnn {meta['kerascnn_version']} (preset format "
            f"{version}), newer than this kerascnn {__version__} reads (format {FORMAT_VERSION}); "
            "upgrade kerascnn (pip install -U kerascnn)"
        )
    return meta


def read_preset_metadata(folder: str | os.PathLike[str], where: str | None = None) -> dict:
    """The checked ``metadata.json`` of a preset folder."""
    folder = Path(folder)
    where = where or str(folder)
    if not is_preset(folder):
        raise UserError(
            f"{where}: no kerascnn preset here (no {METADATA_FILE} and {CONFIG_FILE}); "
            "give a folder written by `kerascnn zoo push`"
        )
    try:
        meta = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"{where}: metadata.json is not JSON ({exc}); push it again") from None
    return check_metadata(meta, where)


def load_preset(folder: str | os.PathLike[str], where: str | None = None) -> tuple[Any, dict]:
    """``(keras model, metadata)`` of a preset folder; the weights' sha256 is checked first."""
    import keras

    import kerascnn.layers  # noqa: F401  (registers the zoo's custom layers)

    folder = Path(folder)
    where = where or str(folder)
    meta = read_preset_metadata(folder, where)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise UserError(f"{where}: no {WEIGHTS_FILE} in the preset; push the model again")
    found = sha256_file(weights)
    if found != meta["weights_sha256"]:
        raise UserError(
            f"{where}: {WEIGHTS_FILE} has sha256 {found[:16]}..., not the "
            f"{meta['weights_sha256'][:16]}... of its metadata.json; the file is damaged or "
            "was replaced, push the model again"
        )
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    try:
        model = keras.saving.deserialize_keras_object(config)
        model.load_weights(weights)
    except Exception as exc:  # Keras raises many types for configs it cannot rebuild
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else repr(exc)
        raise UserError(
            f"{where}: cannot rebuild the model from config.json ({reason}); "
            f"install the kerascnn and Keras versions it names ({meta.get('keras_version')})"
        ) from None
    return model, meta


def _split_facts(split: dict[str, Any] | None) -> dict[str, Any] | None:
    """The recorded split without its file lists: settings, counts and a sha256 per list."""
    if not split:
        return None
    keep = ("method", "seed", "validation_split", "test_split", "counts", "class_names")
    facts = {k: split[k] for k in keep if k in split}
    files = split.get("files") or {}
    if files:
        facts["files_sha256"] = {
            s: hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()
            for s, names in files.items()
        }
    return facts


def _training(loaded: Any) -> dict[str, Any] | None:
    """The run's ``args.json``, or the weight card's training line, or the preset's."""
    if getattr(loaded, "preset", None):
        return loaded.preset.get("training")
    if loaded.path is not None and (loaded.path.parent / "args.json").is_file():
        args = json.loads((loaded.path.parent / "args.json").read_text(encoding="utf-8"))
        return {k: v for k, v in args.items() if k != "data"}  # a local path: not published
    if loaded.weights_card is not None and loaded.weights_card.training:
        return {"description": loaded.weights_card.training}
    return None


def _dataset(loaded: Any, accuracy: dict[str, Any] | None) -> str | None:
    """The data set's name: the card's (before its first comma), else the data folder's."""
    if getattr(loaded, "preset", None):
        return loaded.preset.get("dataset")
    if accuracy and accuracy.get("dataset"):
        return str(accuracy["dataset"]).split(",", 1)[0]
    root = Path(str((loaded.split or {}).get("root", "")))
    if root.name in ("images", "train", "data") and root.parent.name:
        root = root.parent
    return root.name or None


def describe(loaded: Any, accuracy: dict[str, Any] | None) -> dict[str, Any]:
    """The metadata of ``loaded`` (a :class:`kerascnn.LoadedModel`), less the weights' hash."""
    import keras

    from kerascnn._version import __version__

    model, card = loaded.model, loaded.weights_card
    architecture = loaded.architecture_card.name if loaded.architecture_card else model.name
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kerascnn_version": __version__,
        "keras_version": keras.__version__,
        "architecture": architecture,
        "parameter_count": int(model.count_params()),
        "date_saved": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": str(loaded.source),
        "weights_file": WEIGHTS_FILE,
        "classes": list(loaded.classes or []),
        "preprocessing": loaded.preprocessing,
        "crop": loaded.crop,
        "input_size": [d for d in model.input_shape[1:]],
        "split": _split_facts(loaded.split),
        "training": _training(loaded),
        "accuracy": accuracy,
        "license": card.license if card else None,
        "dataset": _dataset(loaded, accuracy),
        "description": loaded.architecture_card.description if loaded.architecture_card else None,
        "random_weights": not loaded.pretrained,
    }


def _check_folder(folder: Path, force: bool) -> None:
    if folder.is_file():
        raise UserError(f"{folder} is a file; give a folder for the preset")
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    others = [n for n in others if n not in PRESET_FILES]
    if others and not force:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise UserError(
            f"{folder} holds other files ({shown}); give an empty or new folder, "
            "or pass --force to write the preset beside them"
        )


def write_preset(
    loaded: Any,
    folder: str | os.PathLike[str],
    *,
    uri: str | None = None,
    accuracy: dict[str, Any] | None = None,
    allow_random: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Write ``loaded`` as a preset into ``folder``; return its metadata.

    Args:
        loaded: a :class:`kerascnn.LoadedModel` (from a zoo spec, run folder or .keras file).
        folder: the preset folder (created; an existing one may only hold preset files).
        uri: where it will be published (``hf://owner/repo``), for the model card's examples.
        accuracy: the held-out accuracy to record (``top1``, ``split``, ``images``, ...).
        allow_random: write a model whose weights were never trained.
        force: write into a folder that holds other files.
    """
    if not loaded.pretrained and not allow_random:
        raise UserError(
            f"{loaded.source}: the model has random weights (never trained); give NAME:VARIANT, "
            "a run folder or a .keras file, or pass allow_random=True to share it anyway",
            arguments={"allow_random=True": "allow_random"},
        )
    folder = Path(folder).expanduser()
    _check_folder(folder, force)
    meta = describe(loaded, accuracy)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(folder / WEIGHTS_FILE) as tmp:  # its name ends in .weights.h5
        loaded.model.save_weights(tmp)
    meta["weights_sha256"] = sha256_file(folder / WEIGHTS_FILE)
    meta["weights_size"] = (folder / WEIGHTS_FILE).stat().st_size
    import keras

    config = keras.saving.serialize_keras_object(loaded.model)
    atomic.write_text(folder / CONFIG_FILE, json.dumps(config, indent=1))
    atomic.write_text(folder / METADATA_FILE, json.dumps(meta, indent=1) + "\n")
    atomic.write_text(folder / CARD_FILE, render_card(meta, uri))
    return meta
