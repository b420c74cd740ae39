"""``kerascnn.predict``: class names and probabilities for image files.

Any model :func:`kerascnn.load` accepts, or an exported ``.onnx``/``.tflite`` file (run
without TensorFlow or Keras). Cheap to import: NumPy and Keras load on first call.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from kerascnn.errors import UserError

__all__ = ["Prediction", "is_distribution", "predict", "prepare_images"]


@dataclass
class Prediction:
    """One class of one image: its name, index in the model's output, and probability."""

    label: str
    index: int
    probability: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _center_crop(pixels: Any, size: tuple[int, int], crop: float) -> Any:
    """The central region that torchvision's resize(side / crop) + center-crop(size) sees."""
    h, w = pixels.shape[:2]
    scale = (min(size) / crop) / min(h, w)
    ch, cw = min(h, round(size[0] / scale)), min(w, round(size[1] / scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def prepare_images(images: Any, size: tuple[int, int], crop: float | None = None) -> tuple:
    """Read image files (or take HxWx3 arrays) as ``(names, batch of RGB pixels at size)``."""
    import numpy as np

    from kerascnn.images import load_image, resize

    if isinstance(images, str | os.PathLike | np.ndarray):
        images = [images]
    names, batch = [], []
    for i, item in enumerate(images):
        if isinstance(item, np.ndarray):
            pixels, name = np.asarray(item, np.float32), f"array {i}"
            if pixels.ndim != 3 or pixels.shape[-1] != 3:
                raise UserError(
                    f"image {i}: expected an HxWx3 array, got shape {pixels.shape}; give RGB pixels"
                )
        else:
            pixels, name = load_image(item).pixels, str(item)
        if crop:
            pixels = _center_crop(pixels, size, crop)
        batch.append(resize(pixels, size) if pixels.shape[:2] != size else pixels)
        names.append(name)
    if not batch:
        raise UserError("no images given; pass one or more image files")
    return names, np.stack(batch)


def is_distribution(outputs: Any) -> bool:
    """Whether a batch of outputs are probabilities already (non-negative rows summing to 1)."""
    import numpy as np

    outputs = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    return bool(outputs.min() >= 0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))


def _probabilities(outputs: Any) -> Any:
    """Outputs that are not already a distribution (logits) go through a softmax."""
    import numpy as np

    outputs = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    if is_distribution(outputs):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _keras_probabilities(model: Any, images: Any, preprocessing: Any, batch_size: int) -> tuple:
    from kerascnn.resolve import load

    loaded = load(model, default_weights=True, preprocessing=preprocessing)
    if not loaded.pretrained:
        raise UserError(
            f"{loaded.source} has no published weights; predict with NAME:VARIANT, "
            "a .keras file or a run folder"
        )
    _, batch = prepare_images(images, loaded.input_size, loaded.crop)
    outputs = loaded.model.predict(loaded.preprocess(batch), batch_size=batch_size, verbose=0)
    return loaded.classes, _probabilities(outputs)


def _artifact_probabilities(model: Any, images: Any, preprocessing: Any, batch_size: int) -> tuple:
    import numpy as np

    from kerascnn.deploy.runtime import load_artifact

    if preprocessing is not None:
        raise UserError(
            f"{model}: an exported model has its preprocessing baked in; drop preprocessing="
        )
    artifact = load_artifact(model)
    _, batch = prepare_images(images, artifact.input_size, artifact.crop)
    # probabilities by construction: no softmax over int8 ones that sum to 0.99
    return artifact.classes, np.asarray(artifact.run(batch, batch_size), np.float64)


def predict(
    model: Any,
    images: Any,
    top: int = 5,
    *,
    classes: list[str] | None = None,
    preprocessing: str | None = None,
    batch_size: int = 16,
) -> list[list[Prediction]]:
    """The ``top`` classes of each image, most probable first.

    Args:
        model: anything :func:`kerascnn.load` takes (``"vgg16:imagenet"``, ``"alexnet"``
            for its default weights, a ``.keras`` file, a run folder, a Keras model), or
            an exported ``.onnx`` or ``.tflite`` file.
        images: file paths (JPEG, PNG, BMP, WebP, ...) or HxWx3 RGB arrays in [0, 255].
        top: how many classes per image.
        classes: class names overriding what the weights or sidecar say.
        preprocessing: a mode of ``kerascnn.preprocessing`` overriding the model's.
        batch_size: images per forward pass.
    """
    import numpy as np

    from kerascnn.deploy.runtime import is_artifact

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise UserError(f"top must be a positive integer, got {top!r}; e.g. top=5")
    if is_artifact(model):  # .onnx, .tflite: their own runtime, neither TensorFlow nor Keras
        names, probs = _artifact_probabilities(model, images, preprocessing, batch_size)
    else:
        names, probs = _keras_probabilities(model, images, preprocessing, batch_size)
    names = classes if classes is not None else names
    if names is not None and len(names) != probs.shape[1]:
        raise UserError(
            f"{len(names)} class names for a model with {probs.shape[1]} outputs; "
            "fix the class names"
        )
    results = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:top]
        results.append(
            [Prediction(names[i] if names else str(i), int(i), float(row[i])) for i in order]
        )
    return results
