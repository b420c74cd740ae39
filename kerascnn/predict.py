"""``kerascnn.predict``: class names and probabilities for image files.

Any model :func:`kerascnn.load` accepts, or an exported ``.onnx``/``.tflite`` file (run
without TensorFlow or Keras). Cheap to import: NumPy and Keras load on first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerascnn.errors import UserError, deprecated
from kerascnn.probabilities import Prediction

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    import numpy as np

    from kerascnn.images import ImageInput
    from kerascnn.resolve import ModelSource

    Images = ImageInput | Sequence[ImageInput]
    Probabilities = tuple[list[str] | None, np.ndarray, str]  # names, N x classes, TTA

__all__ = ["Prediction", "classify", "predict"]

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


def _keras_probabilities(model: ModelSource, images: Images, preprocessing: str | None,
                         batch_size: int,
                         tta: str | None) -> Probabilities:  # fmt: skip
    from kerascnn import tta as test_time
    from kerascnn.images import prepare_images
    from kerascnn.probabilities import probabilities
    from kerascnn.resolve import load

    loaded = load(model, preprocessing=preprocessing)
    if not loaded.pretrained:
        raise UserError(
            f"{loaded.source} has no published weights; predict with NAME:VARIANT, "
            "a .keras file or a run folder"
        )
    tta = test_time.resolve(tta, loaded.weights_card.tta if loaded.weights_card else None)
    _, batch = prepare_images(images, loaded.input_size, loaded.crop)

    def run(x: Any) -> Any:
        return probabilities(loaded.model.predict(x, batch_size=batch_size, verbose=0))

    return loaded.classes, test_time.average(run, loaded.preprocess(batch), tta), tta


def _artifact_probabilities(
    model: str | os.PathLike[str],
    images: Images,
    preprocessing: str | None,
    batch_size: int,
    tta: str | None,
) -> Probabilities:
    """An artifact's probabilities; one exported with ``tta`` computes its views itself (its
    facts' ``tta``), else ``tta`` runs it on the views of the images."""
    import numpy as np

    from kerascnn import tta as test_time
    from kerascnn.deploy.runtime import load_artifact
    from kerascnn.images import prepare_images

    if preprocessing is not None:
        raise UserError(
            f"{model}: an exported model has its preprocessing baked in; drop preprocessing=",
            arguments={"preprocessing=": "preprocessing"},
        )
    artifact = load_artifact(model)
    baked = test_time.check_mode(artifact.metadata.get("tta") or "none")
    if baked == "none":
        views = used = test_time.resolve(tta, None)  # runs the artifact on each view
    elif tta in (None, baked):
        views, used = "none", baked  # its graph averages over the views
    else:
        raise UserError(
            f"{model} computes {baked} test-time augmentation itself (exported with "
            f"tta='{baked}'); drop tta='{tta}', or export the model again without TTA",
            arguments={f"tta='{baked}'": "tta", f"tta='{tta}'": "tta"},
        )
    _, batch = prepare_images(images, artifact.input_size, artifact.crop)

    def run(x: Any) -> Any:  # probabilities by construction: no softmax over int8 ones
        return np.asarray(artifact.run(x, batch_size), np.float64)

    return artifact.classes, test_time.average(run, batch, views), used


def predict(
    model: ModelSource,
    images: Images,
    top: int = 5,
    *,
    classes: list[str] | None = None,
    preprocessing: str | None = None,
    batch_size: int = 16,
    tta: str | None = None,
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
        tta: test-time augmentation (``kerascnn.tta``): ``"none"``, ``"flip"`` (the mean of
            the probabilities of each image and its mirror) or ``"flip+shift"``; ``None``:
            the weights' card's default, or what an artifact was exported with.

    Returns:
        One list of :class:`Prediction` per image.
    """
    return classify(model, images, top, classes=classes, preprocessing=preprocessing,
                    batch_size=batch_size, tta=tta)[0]  # fmt: skip


def classify(
    model: ModelSource,
    images: Images,
    top: int = 5,
    *,
    classes: list[str] | None = None,
    preprocessing: str | None = None,
    batch_size: int = 16,
    tta: str | None = None,
) -> tuple[list[list[Prediction]], str]:
    """:func:`predict`'s result and the test-time augmentation it used (``tta=None``: the
    weights' card's default, or the one an exported artifact computes itself).

    Args:
        model, images, top, classes, preprocessing, batch_size, tta: as :func:`predict`.
    """
    from kerascnn.deploy.runtime import is_artifact
    from kerascnn.probabilities import top_predictions
    from kerascnn.tta import resolve

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise UserError(f"top must be a positive integer, got {top!r}; e.g. top=5")
    resolve(tta, None)  # a bad value fails before the model loads
    if is_artifact(model):  # .onnx, .tflite: their own runtime, neither TensorFlow nor Keras
        names, probs, used = _artifact_probabilities(model, images, preprocessing, batch_size, tta)
    else:
        names, probs, used = _keras_probabilities(model, images, preprocessing, batch_size, tta)
    names = classes if classes is not None else names
    if names is not None and len(names) != probs.shape[1]:
        raise UserError(
            f"{len(names)} class names for a model with {probs.shape[1]} outputs; "
            "fix the class names"
        )
    return top_predictions(probs, names, top), used
