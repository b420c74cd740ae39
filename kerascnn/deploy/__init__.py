"""Export for deployment: a zoo model as SavedModel, ONNX, LiteRT or OpenVINO, checked
against Keras (:func:`export`), and artifacts run without Keras (:func:`load_artifact`).
Importing this package is cheap: it imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names below are (type checkers only)
    from kerascnn.deploy.exporter import ExportResult as ExportResult
    from kerascnn.deploy.exporter import export as export
    from kerascnn.deploy.formats import FORMATS as FORMATS
    from kerascnn.deploy.formats import QUANTIZE as QUANTIZE
    from kerascnn.deploy.runtime import load_artifact as load_artifact

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
