"""``kerascnn.predict``: class names and probabilities for image files.

The model is a zoo spec (``"vgg16:imagenet"``, ``"alexnet"`` = its default variant),
a saved ``.keras`` file (class names and preprocessing from its sidecar
``NAME.classes.json``, see ``kerascnn.cards.write_model_metadata``) or a Keras model
(a zoo model loaded with a published variant knows its classes).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascnn.errors import UserError

__all__ = ["Prediction", "load_predictor", "predict", "prepare_images", "preprocess"]


@dataclass
class Prediction:
    """One class of one image: its name, index in the model's output, and probability."""

    label: str
    index: int
    probability: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class _Predictor:
    model: Any
    classes: list[str] | None
    preprocessing: str
    crop: float | None
    input_size: tuple[int, int]


def preprocess(pixels: np.ndarray, mode: str) -> np.ndarray:
    """RGB pixels in [0, 255] -> model input: ``"caffe"``, ``"torch"`` or ``"none"``.

    ``caffe`` and ``torch`` are ``keras.applications.imagenet_utils.preprocess_input``'s
    modes (BGR minus the ImageNet mean; /255 then ImageNet mean/std).
    """
    if mode == "none":
        return np.asarray(pixels, np.float32)
    if mode not in ("caffe", "torch"):
        raise UserError(f"unknown preprocessing {mode!r}; use caffe, torch or none")
    from keras.applications import imagenet_utils

    x = np.array(pixels, dtype=np.float32)
    return np.asarray(imagenet_utils.preprocess_input(x, data_format="channels_last", mode=mode))


def _center_crop(pixels: np.ndarray, size: tuple[int, int], crop: float) -> np.ndarray:
    """The central region that torchvision's resize(side / crop) + center-crop(size) sees."""
    h, w = pixels.shape[:2]
    scale = (min(size) / crop) / min(h, w)
    ch, cw = min(h, round(size[0] / scale)), min(w, round(size[1] / scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def prepare_images(
    images: Any, size: tuple[int, int], crop: float | None = None
) -> tuple[list[str], np.ndarray]:
    """Read image files (or take HxWx3 arrays) as a batch of RGB pixels at ``size``."""
    from kerascnn.images import load_image, resize

    if isinstance(images, str | os.PathLike | np.ndarray):
        images = [images]
    names, batch = [], []
    for i, item in enumerate(images):
        if isinstance(item, np.ndarray):
            pixels, name = np.asarray(item, np.float32), f"array {i}"
            if pixels.ndim != 3 or pixels.shape[-1] != 3:
                raise UserError(f"image {i}: expected an HxWx3 array, got shape {pixels.shape}")
        else:
            pixels, name = load_image(item).pixels, str(item)
        if crop:
            pixels = _center_crop(pixels, size, crop)
        batch.append(resize(pixels, size) if pixels.shape[:2] != size else pixels)
        names.append(name)
    if not batch:
        raise UserError("no images given")
    return names, np.stack(batch)


def load_predictor(model_or_spec: Any) -> _Predictor:
    """Resolve a spec, a ``.keras`` file or a model into the model and its metadata."""
    from kerascnn import cards
    from kerascnn.saved import is_model_file, load_saved_model
    from kerascnn.weights import loaded_variant

    meta: dict[str, Any] = {}
    if isinstance(model_or_spec, str | os.PathLike) and is_model_file(model_or_spec):
        model = load_saved_model(model_or_spec)
        meta = cards.read_model_metadata(Path(model_or_spec))
    elif isinstance(model_or_spec, str):
        from kerascnn.registry import create_model

        name, variant = cards.parse_spec(model_or_spec)
        variant = variant or cards.default_variant(name)
        cards.weight_card(name, variant)  # a clear error for unknown variants
        model = create_model(name, weights=variant)
    else:
        model = model_or_spec
    loaded = loaded_variant(model)
    if loaded:
        card = loaded[2]
        meta = {"classes": cards.class_names(card), **meta}
        meta.setdefault("preprocessing", card["preprocessing"])
        meta.setdefault("crop", card.get("crop"))
        meta.setdefault("input_shape", card["input_shape"])
    shape = tuple(model.input_shape[1:3])
    if None in shape:
        shape = tuple((meta.get("input_shape") or [224, 224])[:2])
    return _Predictor(
        model,
        meta.get("classes"),
        meta.get("preprocessing", "none"),
        meta.get("crop"),
        (int(shape[0]), int(shape[1])),
    )


def _probabilities(outputs: np.ndarray) -> np.ndarray:
    """Outputs that are not already a distribution (logits) go through a softmax."""
    outputs = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    if outputs.min() >= 0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predict(
    model_or_spec: Any,
    images: Any,
    top: int = 5,
    *,
    classes: list[str] | None = None,
    preprocessing: str | None = None,
    batch_size: int = 16,
) -> list[list[Prediction]]:
    """The ``top`` classes of each image, most probable first.

    ``model_or_spec``: ``"vgg16:imagenet"``, ``"alexnet"`` (default variant), a ``.keras``
    file or a Keras model. ``images``: file paths (JPEG, PNG, BMP, WebP, ...) or HxWx3
    RGB arrays in [0, 255]. ``classes``/``preprocessing`` override what the weights say.
    """
    if not isinstance(top, int) or top < 1:
        raise UserError(f"top must be a positive integer, got {top!r}")
    predictor = load_predictor(model_or_spec)
    names = classes if classes is not None else predictor.classes
    mode = preprocessing or predictor.preprocessing
    _, batch = prepare_images(images, predictor.input_size, predictor.crop)
    outputs = predictor.model.predict(preprocess(batch, mode), batch_size=batch_size, verbose=0)
    probs = _probabilities(outputs)
    if names is not None and len(names) != probs.shape[1]:
        raise UserError(f"{len(names)} class names for a model with {probs.shape[1]} outputs")
    results = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:top]
        results.append(
            [Prediction(names[i] if names else str(i), int(i), float(row[i])) for i in order]
        )
    return results
