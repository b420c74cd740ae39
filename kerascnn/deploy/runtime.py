"""Run an exported artifact in its own runtime: onnxruntime, LiteRT, TensorFlow or OpenVINO.
``.onnx`` and ``.tflite`` files run without TensorFlow or Keras (``kerascnn predict model.onnx``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

from kerascnn.deploy.formats import EXTRA, FORMATS, sidecars
from kerascnn.errors import UserError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ARTIFACT_SUFFIXES",
    "Artifact",
    "detect_format",
    "is_artifact",
    "load_artifact",
    "runner",
    "to_input",
]

ARTIFACT_SUFFIXES = (".onnx", ".tflite")  # what `kerascnn predict` runs without TensorFlow
# OpenVINO's CPU plugin computes in bfloat16 on CPUs with AMX unless told otherwise
OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}

#: An artifact's runtime: its input batch -> its output batch (probabilities, as NumPy).
Run: TypeAlias = "Callable[[np.ndarray], np.ndarray]"


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Keep the converters' logs (Python's and native ones on descriptor 2) off the terminal."""
    captured = io.StringIO()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
                yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@dataclass
class Artifact:
    """A loaded artifact: ``run(pixels) -> probabilities`` and what it needs to be fed."""

    path: Path
    format: str
    input_size: tuple[int, int]
    classes: list[str] | None = None
    crop: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    runner: Run | None = None

    def run(self, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """RGB pixels in [0, 255], ``N x H x W x 3`` -> ``N x classes`` probabilities (fed
        as the artifact's input takes them: ``uint8`` or float32, NHWC or NCHW)."""
        import numpy as np

        assert self.runner is not None  # load_artifact gives every artifact its runner
        facts = self.metadata.get("input") or {}
        x = to_input(pixels, facts.get("dtype", "float32"), facts.get("layout", "nhwc"))
        parts = [self.runner(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate([np.asarray(p, np.float32) for p in parts])


def to_input(pixels: np.ndarray, dtype: str = "float32", layout: str = "nhwc") -> np.ndarray:
    """RGB pixels in [0, 255], ``N x H x W x 3``, as an artifact's input takes them: rounded
    to ``uint8`` or float32, ``nhwc`` or ``nchw``."""
    import numpy as np

    x = np.asarray(pixels, np.float32)
    if dtype == "uint8":
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "nchw" else x


def is_artifact(source: object) -> TypeGuard[str | os.PathLike[str]]:
    """Whether ``source`` names an exported model: an ``.onnx`` or ``.tflite`` file (run
    without TensorFlow), a SavedModel or an OpenVINO folder."""
    if not isinstance(source, str | os.PathLike):
        return False
    path = Path(source).expanduser()
    if path.suffix.lower() in ARTIFACT_SUFFIXES:
        return True
    return path.is_dir() and any((path / f).is_file() for f in ("saved_model.pb", "model.xml"))


def detect_format(path: Path) -> str:
    """The format of the artifact at ``path``, from its suffix or its folder's content."""
    suffixes = {f.suffix: name for name, f in FORMATS.items() if f.suffix}
    if path.suffix.lower() in suffixes:
        return suffixes[path.suffix.lower()]
    if (path / "saved_model.pb").is_file():
        return "savedmodel"
    if (path / "model.xml").is_file():
        return "openvino"
    raise UserError(
        f"{path}: not an exported model; give a .onnx or .tflite file, "
        "a SavedModel folder or an OpenVINO folder written by `kerascnn export`"
    )


def _require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        name = {"ai_edge_litert.interpreter": "ai-edge-litert"}.get(module, module)
        raise UserError(f"running {what} needs {name}, not installed; {EXTRA}") from None


def _onnx(path: Path, threads: int | None) -> tuple[Run, list]:
    ort = _require("onnxruntime", "an ONNX model")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0], list(session.get_inputs()[0].shape)


def _litert(path: Path, threads: int | None) -> tuple[Run, list]:
    import numpy as np

    module = _require("ai_edge_litert.interpreter", "a LiteRT model")
    with quiet():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter = module.Interpreter(model_path=str(path), num_threads=threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape: list[tuple] = [()]

    def run(x: np.ndarray) -> np.ndarray:
        if shape[0] != x.shape:
            interpreter.resize_tensor_input(inp["index"], x.shape)
            with quiet():
                interpreter.allocate_tensors()
            shape[0] = x.shape
        scale, zero = inp["quantization"]
        if scale:  # an integer input: quantize the pixels as the converter says
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        scale, zero = out["quantization"]
        return (y.astype(np.float32) - zero) * scale if scale else y.copy()

    return run, list(inp["shape_signature"])


def _savedmodel(path: Path, threads: int | None) -> tuple[Run, list]:
    tf = _require("tensorflow", "a SavedModel")
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    name, spec = next(iter(serve.structured_input_signature[1].items()))

    def run(x: np.ndarray, loaded: object = loaded) -> np.ndarray:  # keeps loaded's variables
        return next(iter(serve(**{name: tf.constant(x)}).values())).numpy()

    return run, spec.shape.as_list()


def _openvino(path: Path, threads: int | None) -> tuple[Run, list]:
    ov = _require("openvino", "an OpenVINO model")
    core = ov.Core()
    model = core.read_model(str(path / "model.xml"))
    facts = model.get_rt_info(["kerascnn"]).astype(str) if model.has_rt_info(["kerascnn"]) else ""
    config = json.loads(facts or "{}").get("runtime_config") or OPENVINO_CONFIG  # not rt_info
    threading = {"INFERENCE_NUM_THREADS": threads} if threads else {}
    compiled = core.compile_model(model, "CPU", {**config, **threading})
    shape = [d.get_length() if d.is_static else None for d in compiled.inputs[0].partial_shape]
    return lambda x: compiled(x)[0], shape


_RUNNERS = {"onnx": _onnx, "litert": _litert, "savedmodel": _savedmodel, "openvino": _openvino}


def runner(path: str | os.PathLike[str], fmt: str, threads: int | None = None) -> tuple[Run, list]:
    """``(run, input shape)`` of the artifact at ``path`` in ``fmt``'s runtime; a damaged
    or foreign file is a one-line ``UserError``."""
    path = Path(path)
    try:
        with quiet():
            return _RUNNERS[fmt](path, threads)
    except UserError:
        raise
    except Exception as exc:  # truncated, bit-flipped, empty, text...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(
            f"{path}: not a readable {fmt} model ({first}); export it again "
            "(`kerascnn export ... --force`) or copy it whole"
        ) from None


def _sidecars(path: Path, fmt: str, embedded: dict[str, Any] | None) -> dict[str, Any]:
    """The facts of the artifact: its own, checked against the sidecars beside it; the
    sidecars' alone for an artifact exported before the facts went inside."""
    labels_file, json_file = sidecars(path, FORMATS[fmt])
    facts: dict[str, Any] = {}
    if json_file.is_file():
        try:
            facts = json.loads(json_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(
                f"{json_file}: not valid JSON ({exc}); export the model again"
            ) from None
    named = labels_file.read_text(encoding="utf-8").splitlines() if labels_file.is_file() else None
    if embedded is None:
        facts = facts if named is None else {**facts, "classes": named}
        return facts if isinstance(facts.get("classes"), list) else {**facts, "classes": None}
    keys = ("classes", "input", "preprocessing", "source", "weights", "quantize", "tta")
    checks = [(json_file, key, facts[key]) for key in keys if key in facts]
    if named is not None:  # besides the JSON file's classes, not instead of them
        checks.insert(0, (labels_file, "classes", named))
    for where, key, value in checks:
        if value != embedded.get(key):
            raise UserError(
                f"{where} disagrees with the metadata inside {path.name} ({key}: "
                f"{_short(value)} vs {_short(embedded.get(key))}); delete the stale "
                "sidecar or export again"
            )
    return embedded


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_artifact(path: str | os.PathLike[str], threads: int | None = None) -> Artifact:
    """Load an exported model with its class names and metadata: those inside the artifact,
    which the sidecars (``NAME.labels.txt``, ``NAME.json``) must agree with."""
    from kerascnn.deploy.embed import read_embedded

    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"{path}: no such file; give a model exported by `kerascnn export`")
    fmt = detect_format(path)
    run, shape = runner(path, fmt, threads)
    try:
        embedded = read_embedded(path, fmt)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{path}: its kerascnn metadata cannot be read ({type(exc).__name__}); export it again"
        ) from None
    facts = _sidecars(path, fmt, embedded)
    size = facts.get("input_size") or shape[1:3]
    if len(size) != 2 or None in size:
        raise UserError(
            f"{path}: the model takes any input size; export it again with a static one"
        )
    names = facts.get("classes")
    return Artifact(path, fmt, (int(size[0]), int(size[1])), names, facts.get("crop"), facts, run)
