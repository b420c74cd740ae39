"""Export for deployment: a zoo model as SavedModel, ONNX, LiteRT or OpenVINO, checked.

``kerascnn.export(model, "onnx")`` wraps the model so that it takes RGB pixels in
[0, 255] at its input size, applies its preprocessing itself and outputs probabilities,
exports that with Keras' ``model.export``, loads the artifact back in its own runtime,
compares it with the Keras model on real photos, and only then moves it into place, with
``labels.txt`` and a JSON file beside it. :mod:`kerascnn.deploy.runtime` runs artifacts
without TensorFlow or Keras (``kerascnn predict model.onnx photo.jpg``).

Modules: ``formats`` (the formats, the checks before any work, output paths; cheap),
``build`` (the deployable Keras model), ``convert`` (``model.export`` and quantization),
``calibration`` (representative images), ``runtime`` (loading artifacts), ``exporter``
(:func:`export`). Importing this package is cheap: it imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FORMATS", "QUANTIZE", "ExportResult", "export", "load_artifact"]

_LAZY = {
    "FORMATS": "kerascnn.deploy.formats",
    "QUANTIZE": "kerascnn.deploy.formats",
    "ExportResult": "kerascnn.deploy.exporter",
    "export": "kerascnn.deploy.exporter",
    "load_artifact": "kerascnn.deploy.runtime",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kerascnn.deploy' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
