"""Weight cards: the plain-data description of each published or bundled weight variant.

A model's card (``zoo/*.json``) has a ``"weights"`` dict, variant name -> weight card.
Every weight card has:

``source``        who published the file, in words (a URL where possible)
``license``       the licence of the weights
``format``        ``"keras-h5"`` (legacy Keras ``.h5``: ``layer_names`` + ``weight_names``),
                  ``"keras-weights"`` (Keras 3 ``.weights.h5``) or ``"torch-pth"``
                  (a torchvision state dict, converted on loading)
``hash``          ``"md5:<32 hex>"`` or ``"sha256:<hex>"``; a sha256 *prefix* of 8 or more hex
                  digits is accepted where that is all the publisher gives (torchvision)
``size``          file size in bytes
``include_top``   whether the file holds the classifier head (``false`` for ``-notop``)
``classes``       the class names: a list, or the name of a class index shipped in
                  ``kerascnn/resources`` (``"imagenet"`` -> ``imagenet_class_index.json``)
``input_shape``   ``[height, width, channels]`` the weights were trained at
``preprocessing`` ``"caffe"`` (RGB->BGR, ImageNet mean subtracted), ``"torch"`` (/255, then
                  ImageNet mean/std) or ``"none"`` (raw pixels in [0, 255]: the model
                  rescales them itself)
``accuracy``      published figures: ``{"dataset": ..., "top1": 71.3, "top5": 90.1, ...}``

and exactly one of

``url``           downloadable weights (``https``); cached under ``kerascnn.cache.cache_root()``
``file``          weights bundled in the package, a path relative to ``kerascnn.zoo``
                  (e.g. ``"weights/gesture_cnn_sign_digits.weights.h5"``); the hash must then
                  be a full sha256

Optional: ``filename`` (the cache file name, default the URL's last part), ``crop``
(the central fraction kept before resizing, e.g. 0.875 = resize 256, crop 224),
``model_args`` (builder keyword arguments the weights need, e.g. ``{"batch_norm": true}``),
``training`` (free text: recipe, time, hardware), ``split`` (how a bundled weight's data was
split: ``{"seed", "validation_split", "test_split"}``, see ``kerascnn.data``), ``notes``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = [
    "FORMATS",
    "PREPROCESSING",
    "card_problems",
    "class_names",
    "default_variant",
    "metadata_path",
    "parse_spec",
    "read_model_metadata",
    "weight_card",
    "write_model_metadata",
]

FORMATS = ("keras-h5", "keras-weights", "torch-pth")
PREPROCESSING = ("caffe", "torch", "none")
_REQUIRED = {
    "source": str,
    "license": str,
    "format": str,
    "hash": str,
    "size": int,
    "include_top": bool,
    "input_shape": list,
    "preprocessing": str,
    "accuracy": dict,
}
_OPTIONAL = {
    "url": str,
    "file": str,
    "filename": str,
    "crop": float,
    "model_args": dict,
    "training": str,
    "notes": str,
    "split": dict,
}
_HASH = re.compile(r"^(md5:[0-9a-f]{32}|sha256:[0-9a-f]{8,64})$")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"vgg16:imagenet"`` -> ``("vgg16", "imagenet")``; ``"vgg16"`` -> ``("vgg16", None)``."""
    name, sep, variant = spec.partition(":")
    if not name or (sep and not variant):
        raise UserError(f"bad model spec {spec!r}; use NAME or NAME:VARIANT, e.g. vgg16:imagenet")
    return name, variant or None


def weight_card(name: str, variant: str) -> dict[str, Any]:
    """The weight card of ``name:variant``; a one-line ``UserError`` naming the known ones."""
    from kerascnn.registry import get_model_card

    variants = get_model_card(name).get("weights", {})
    if variant not in variants:
        known = ", ".join(sorted(variants)) or "none"
        raise UserError(f"{name}: no weights {variant!r}; known variants: {known}")
    return variants[variant]


def default_variant(name: str) -> str:
    """The variant used when only a model name is given: the first with a classifier head."""
    from kerascnn.registry import get_model_card

    variants = get_model_card(name).get("weights", {})
    for variant, card in variants.items():
        if card.get("include_top", True):
            return variant
    raise UserError(f"{name}: no published weights with a classifier; see `kerascnn zoo list`")


@cache
def _class_index(resource: str) -> tuple[str, ...]:
    path = resources.files("kerascnn") / "resources" / f"{resource}_class_index.json"
    if not path.is_file():
        raise UserError(f"unknown class index {resource!r} (no kerascnn/resources/{path.name})")
    index = json.loads(path.read_text(encoding="utf-8"))
    return tuple(index[str(i)][1] for i in range(len(index)))


def class_names(card: dict[str, Any]) -> list[str]:
    """The class names of a weight card (a list, or a shipped index such as ``"imagenet"``)."""
    classes = card.get("classes")
    if isinstance(classes, str):
        return list(_class_index(classes))
    return [str(c) for c in classes or []]


def card_problems(model: str, variant: str, card: dict[str, Any]) -> list[str]:
    """Everything wrong with one weight card (an empty list when it follows the schema)."""
    where = f"{model}:{variant}"
    problems = [f"{where}: missing {k!r}" for k in _REQUIRED if k not in card]
    for key, value in card.items():
        kind = _REQUIRED.get(key) or _OPTIONAL.get(key)
        if key == "classes":
            if not (isinstance(value, str) or (isinstance(value, list) and value)):
                problems.append(f"{where}: classes must be a list of names or an index name")
        elif kind is None:
            problems.append(f"{where}: unknown field {key!r}")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    if "classes" not in card:
        problems.append(f"{where}: missing 'classes'")
    else:
        try:
            class_names(card)
        except UserError as exc:
            problems.append(f"{where}: {exc}")
    if ("url" in card) == ("file" in card):
        problems.append(f"{where}: exactly one of 'url' (download) or 'file' (bundled)")
    if "url" in card and not str(card["url"]).startswith("https://"):
        problems.append(f"{where}: url must be https")
    hash_ = str(card.get("hash", ""))
    if not _HASH.match(hash_):
        problems.append(f"{where}: hash must be md5:<32 hex> or sha256:<8..64 hex>, got {hash_!r}")
    if "file" in card:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", hash_):
            problems.append(f"{where}: bundled weights need the full sha256")
        if Path(card["file"]).is_absolute() or ".." in Path(card["file"]).parts:
            problems.append(f"{where}: file must be relative to the kerascnn.zoo package")
    if card.get("format") not in FORMATS:
        problems.append(f"{where}: format must be one of {FORMATS}")
    if card.get("preprocessing") not in PREPROCESSING:
        problems.append(f"{where}: preprocessing must be one of {PREPROCESSING}")
    shape = card.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) for d in shape)):
        problems.append(f"{where}: input_shape must be [height, width, channels]")
    accuracy = card.get("accuracy", {})
    if not isinstance(accuracy.get("dataset"), str):
        problems.append(f"{where}: accuracy needs a 'dataset'")
    if not any(isinstance(v, int | float) for v in accuracy.values()):
        problems.append(f"{where}: accuracy needs at least one figure")
    if not 0 < card.get("crop", 1.0) <= 1:
        problems.append(f"{where}: crop must be in (0, 1]")
    return problems


def metadata_path(model_file: str | Path) -> Path:
    """The sidecar of a saved model: ``net.keras`` -> ``net.classes.json``."""
    path = Path(model_file)
    return path.with_name(path.name.removesuffix(path.suffix) + ".classes.json")


def write_model_metadata(
    model_file: str | Path, classes: list[str], preprocessing: str = "none"
) -> Path:
    """Write the class names and preprocessing next to a saved model (read by ``predict``)."""
    if preprocessing not in PREPROCESSING:
        raise UserError(f"preprocessing must be one of {', '.join(PREPROCESSING)}")
    path = metadata_path(model_file)
    tmp = path.with_name(path.name + ".part")
    data = {"classes": [str(c) for c in classes], "preprocessing": preprocessing}
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def read_model_metadata(model_file: str | Path) -> dict[str, Any]:
    """The sidecar's content, or ``{}`` when there is none."""
    path = metadata_path(model_file)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot read the model's metadata ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object with 'classes' and 'preprocessing'")
    return data
