"""``kerascnn.predict``: class names and probabilities for image files.

Any model :func:`kerascnn.load` accepts, or an exported ``.onnx``/``.tflite`` file (run
without TensorFlow or Keras). Cheap to import: NumPy and Keras load on first call.
"""

from __future__ import annotations

from typing import Any

from kerascnn.errors import UserError, deprecated
from kerascnn.probabilities import Prediction

__all__ = ["Prediction", "predict"]

# names that lived here before 0.2 -> their module now
_MOVED = {
    "prepare_images": "kerascnn.images",
    "is_distribution": "kerascnn.probabilities",
    "_probabilities": "kerascnn.probabilities",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'kerascnn.predict' has no attribute {name!r}")
    import importlib

    new = name.lstrip("_")
    deprecated(f"kerascnn.predict.{name}", f"{_MOVED[name]}.{new}")
    return getattr(importlib.import_module(_MOVED[name]), new)


def _keras_probabilities(model: Any, images: Any, preprocessing: Any, batch_size: int) -> tuple:
    from kerascnn.images import prepare_images
    from kerascnn.probabilities import probabilities
    from kerascnn.resolve import load

    loaded = load(model, preprocessing=preprocessing)
    if not loaded.pretrained:
        raise UserError(
            f"{loaded.source} has no published weights; predict with NAME:VARIANT, "
            "a .keras file or a run folder"
        )
    _, batch = prepare_images(images, loaded.input_size, loaded.crop)
    outputs = loaded.model.predict(loaded.preprocess(batch), batch_size=batch_size, verbose=0)
    return loaded.classes, probabilities(outputs)


def _artifact_probabilities(model: Any, images: Any, preprocessing: Any, batch_size: int) -> tuple:
    import numpy as np

    from kerascnn.deploy.runtime import load_artifact
    from kerascnn.images import prepare_images

    if preprocessing is not None:
        raise UserError(
            f"{model}: an exported model has its preprocessing baked in; drop preprocessing=",
            arguments={"preprocessing=": "preprocessing"},
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

    Returns:
        One list of :class:`Prediction` per image.
    """
    from kerascnn.deploy.runtime import is_artifact
    from kerascnn.probabilities import top_predictions

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
    return top_predictions(probs, names, top)
