"""The models ``kerascnn serve`` serves: an exported artifact in its own runtime (ONNX and
LiteRT without TensorFlow or Keras), or anything :func:`kerascnn.load` takes, through Keras.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascnn.deploy.protocols import Signature
from kerascnn.errors import UserError

__all__ = ["ServedModel", "open_model", "served_name", "top_records"]

_PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "litert": "tflite",
    "savedmodel": "tensorflow_savedmodel",
    "openvino": "openvino",
}


@dataclass
class ServedModel:
    """A loaded model and what the protocols need to know of it."""

    name: str
    source: str
    platform: str
    signature: Signature
    classes: list[str]
    crop: float | None
    run: Callable[[Any], Any]  # N x H x W x 3 float32 pixels in [0, 255] -> N x C float32

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the pixels the model takes."""
        return self.signature.height, self.signature.width


def served_name(source: str, facts: dict[str, Any] | None = None) -> str:
    """A URL-safe default name: the export's recorded source spec
    (``gesture_cnn:sign-digits`` -> ``gesture_cnn_sign-digits``), else the file's stem."""
    path = Path(source)
    spec = (facts or {}).get("source")
    if isinstance(spec, str) and spec and os.sep not in spec and not spec.endswith(".keras"):
        stem = spec
    elif path.is_dir() or path.name in ("model.keras", "best.keras"):  # a run folder
        stem = (path if path.is_dir() else path.parent).resolve().name
    elif path.suffix:
        stem = path.stem
    else:
        stem = source
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.") or "model"


def _from_artifact(source: str, threads: int | None) -> ServedModel:
    from kerascnn.deploy.runtime import load_artifact

    artifact = load_artifact(source, threads)
    facts = artifact.metadata
    inp, out = facts.get("input") or {}, facts.get("output") or {}
    probe = artifact.run(_zeros(artifact.input_size))  # the class count, and a first run
    classes = artifact.classes or [str(i) for i in range(probe.shape[1])]
    if len(classes) != probe.shape[1]:
        raise UserError(
            f"{source}: {len(classes)} class names for {probe.shape[1]} outputs; export it again"
        )
    datatype = "UINT8" if inp.get("dtype", "float32") == "uint8" else "FP32"
    # the input is "pixels" everywhere; an ONNX model's output keeps its graph name, which
    # a Triton repository of it has to use too (kerascnn export --format triton-repo)
    output = out.get("name") if artifact.format == "onnx" else None
    sig = Signature(
        "pixels", datatype, *artifact.input_size, str(output or "probabilities"), len(classes)
    )
    return ServedModel(
        served_name(source, facts),
        source,
        _PLATFORMS[artifact.format],
        sig,
        classes,
        artifact.crop,
        artifact.run,
    )


def _from_keras(source: Any) -> ServedModel:
    import keras
    import numpy as np

    from kerascnn.probabilities import probabilities
    from kerascnn.resolve import load

    loaded = load(source)
    if not loaded.pretrained:
        raise UserError(
            f"{loaded.source} has no published weights; serve NAME:VARIANT, "
            "a .keras file, a run folder or an exported model"
        )
    model = loaded.model

    def run(pixels: Any) -> Any:  # compiled once per batch size, then shape-generic
        out = keras.ops.convert_to_numpy(model.predict_on_batch(loaded.preprocess(pixels)))
        return np.asarray(probabilities(out), np.float32)

    probe = run(_zeros(loaded.input_size))
    classes = [str(c) for c in (loaded.classes or range(probe.shape[1]))]
    sig = Signature("pixels", "FP32", *loaded.input_size, "probabilities", len(classes))
    shown = str(source) if isinstance(source, str | os.PathLike) else loaded.source
    return ServedModel(served_name(loaded.source), shown, "keras", sig, classes, loaded.crop, run)


def _zeros(size: tuple[int, int]) -> Any:
    import numpy as np

    return np.zeros((1, *size, 3), np.float32)


def open_model(source: Any, name: str | None = None, threads: int | None = None) -> ServedModel:
    """Load ``source`` to serve it: an ``.onnx``/``.tflite`` file (no TensorFlow, no Keras), a
    SavedModel or OpenVINO folder, or anything :func:`kerascnn.load` takes (Keras)."""
    from kerascnn.deploy.runtime import is_artifact

    served = _from_artifact(source, threads) if is_artifact(source) else _from_keras(source)
    if name is not None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UserError(
                f"model name {name!r} does not fit in a URL; use letters, digits, '_', '.', '-'"
            )
        served.name = name
    return served


def top_records(model: ServedModel, probs: Any, names: list[str], top: int) -> list[dict]:
    """``kerascnn predict --json`` records: per image, its ``top`` classes, most probable first.

    Args:
        model: the model that computed ``probs`` (its class names).
        probs: ``N x classes`` probabilities.
        names: the ``N`` images' names.
        top: classes per image.
    """
    from kerascnn.probabilities import top_predictions

    return [
        {"image": image, "predictions": [p.as_dict() for p in preds]}
        for image, preds in zip(names, top_predictions(probs, model.classes, top), strict=True)
    ]
