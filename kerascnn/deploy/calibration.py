"""Representative images for int8 calibration: a folder of photos, or the set a weight card
names (``"calibration"``: training images only), found under ``$KERASCNN_DATA`` or
``../shared/data``; a third of them is held out to check the quantized artifact.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = ["COUNT", "calibration_images", "check_calibration", "holdout", "zip_images"]

COUNT = 300  # images per calibration set: two thirds calibrate, one third checks (the gate)
MIN_COUNT = 30  # the fewest photos --calibration takes: 10 held out for the gate
_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def _data_roots() -> list[Path]:
    """Where a card's ``calibration.data`` (a path relative to a data root) is looked for:
    ``$KERASCNN_DATA``, then ``../shared/data`` from the working folder (never the source
    checkout: the card says what to read, the user where the data sets are)."""
    roots = [Path(os.environ["KERASCNN_DATA"])] if os.environ.get("KERASCNN_DATA") else []
    return [*roots, Path.cwd().parent / "shared" / "data"]


def _card(source: Any) -> Any:
    """The weight card of a zoo spec or of a loaded model's weights, else ``None``."""
    card = getattr(source, "weights_card", None)
    if card is not None or not isinstance(source, str) or ":" not in source:
        return card
    from kerascnn.registry import get_model_card
    from kerascnn.weights.cards import parse_spec

    name, variant = parse_spec(source)
    try:
        return get_model_card(name).weights.get(variant)
    except UserError:
        return None


def _folder_files(folder: Path) -> list[Path]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in _SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise UserError(f"{folder}: no images in this folder; give a folder of JPEG or PNG photos")
    if len(files) < MIN_COUNT:  # a third is held out for the gate: fewer tell nothing
        raise UserError(
            f"{folder}: {len(files)} photos, too few to calibrate int8 and check it on a held-out "
            f"third; give a folder of at least {MIN_COUNT} (a few hundred is best)"
        )
    step = max(1, len(files) // COUNT)  # spread over the folder (and its class folders)
    return files[::step][:COUNT]


def check_calibration(source: Any, calibration: Any) -> tuple[Any, str]:
    """Before any work: ``(what to read, a description)``; a one-line error if none is found.

    ``source``: what the user named (a spec, a path) or a loaded model.
    """
    if calibration is not None:
        folder = Path(calibration).expanduser()
        if not folder.is_dir():
            raise UserError(f"{folder}: no such folder; --calibration takes a folder of photos")
        files = _folder_files(folder)
        return files, f"{len(files)} images from {folder}"
    card = _card(source)
    if card is None or not card.calibration:
        name = getattr(source, "source", None) or getattr(source, "name", None) or source
        raise UserError(
            f"int8 needs a calibration set for {name} (its weight card names none); pass "
            "--calibration DIR, a folder of a few hundred representative photos"
        )
    relative, what = card.calibration["data"], card.calibration["description"]
    for root in _data_roots():
        if (root / relative).exists():
            return (card, root / relative), f"{card.spec}'s card: {COUNT} images, {what}"
    raise UserError(
        f"int8 for {card.spec} calibrates on its card's data ({relative}), not found under "
        "$KERASCNN_DATA or ../shared/data; set KERASCNN_DATA or pass --calibration DIR"
    )


def zip_images(path: str | os.PathLike[str], split: str, per_class: int) -> list[Any]:
    """The first ``per_class`` JPEGs of each class of ``split`` in a CIFAR-style zip
    (``split/<class>/NNNN.jpg``), in class then file-name order, as float32 RGB pixels."""
    import numpy as np
    from PIL import Image

    with zipfile.ZipFile(path) as archive:
        by_class: dict[str, list[str]] = {}
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == split and name.endswith(".jpg"):
                by_class.setdefault(parts[1], []).append(name)
        chosen = [n for c in sorted(by_class) for n in by_class[c][:per_class]]
        out = []
        for name in chosen:
            with Image.open(io.BytesIO(archive.read(name))) as image:
                out.append(np.asarray(image.convert("RGB"), np.float32))
    return out


def _card_pixels(card: Any, path: Path) -> list[Any]:
    per_class = COUNT // len(card.classes)
    if path.suffix == ".zip":
        return zip_images(path, "train", per_class)
    from kerascnn.images import load_image
    from kerascnn.training.data import split_of

    split = dict(card.split or {})
    files = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        images = [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in _SUFFIXES]
        train = [
            p for p in images if split_of(p.relative_to(folder).as_posix(), **split) == "train"
        ]
        files += train[:per_class]
    return [load_image(f).pixels for f in files]


def calibration_images(found: Any, size: tuple[int, int], crop: float | None) -> Any:
    """The calibration set that :func:`check_calibration` found, as pixels at ``size``."""
    import numpy as np

    from kerascnn.images import prepare_images

    if isinstance(found, tuple):
        pixels = _card_pixels(*found)
        return prepare_images([np.asarray(p, np.float32) for p in pixels], size, crop)[1]
    return prepare_images([str(f) for f in found], size, crop)[1]


def holdout(images: Any) -> tuple[Any, Any]:
    """``(calibrate, check)``: every third image is held out to check the int8 artifact."""
    import numpy as np

    index = np.arange(len(images))
    return images[index % 3 != 2], images[index % 3 == 2]
