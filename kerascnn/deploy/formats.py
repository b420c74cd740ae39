"""The export formats and every check made before any work: format, quantization, backend,
optional packages, output paths. Cheap to import (no Keras, no runtimes).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from kerascnn import atomic
from kerascnn.errors import UserError

__all__ = [
    "FORMATS",
    "QUANTIZE",
    "Format",
    "LAYOUTS",
    "INPUT_DTYPES",
    "check_backend",
    "check_input",
    "check_output",
    "check_packages",
    "check_quantize",
    "default_output",
    "get_format",
    "sidecars",
]

QUANTIZE = ("none", "float16", "int8")
INPUT_DTYPES = ("uint8", "float32")  # what the artifact's input takes: raw pixels by default
LAYOUTS = ("nhwc", "nchw")
EXTRA = 'pip install "kerascnn[export]"'
# import name -> distribution name, for the error that names what to install
_DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert"}
_EXTRAS = {"jax2onnx": "jax"}  # ONNX from JAX: with the jax extra; everything else: export


@dataclass(frozen=True)
class Format:
    """One deployment format: how Keras names it, what it writes, what it needs."""

    name: str
    keras_format: str  # model.export(format=...)
    suffix: str  # of the artifact file; "" for a folder
    quantize: tuple[str, ...]
    packages: dict[str, tuple[str, ...]]  # backend -> modules needed (converter, runtime)
    runtime: str

    @property
    def folder(self) -> bool:
        """Whether the artifact is a folder (SavedModel, OpenVINO IR)."""
        return not self.suffix


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "savedmodel",
            "tf_saved_model",
            "",
            ("none",),
            {"tensorflow": ("tensorflow",), "jax": ("tensorflow",)},
            "TensorFlow (tf.saved_model.load)",
        ),
        Format(
            "onnx",
            "onnx",
            ".onnx",
            ("none", "int8"),
            {"tensorflow": ("tf2onnx", "onnxruntime"), "jax": ("jax2onnx", "onnxruntime")},
            "onnxruntime",
        ),
        Format(
            "litert",
            "litert",
            ".tflite",
            QUANTIZE,
            {"tensorflow": ("ai_edge_litert",)},
            "LiteRT (ai-edge-litert's interpreter)",
        ),
        Format(
            "openvino", "openvino", "", ("none", "int8"), {"tensorflow": ("openvino",)}, "OpenVINO"
        ),
    )
}

# (format, backend) -> why Keras cannot export it from there
_UNSUPPORTED = {
    ("litert", "jax"): "Keras exports LiteRT from the TensorFlow and PyTorch backends only",
    ("openvino", "jax"): "Keras exports OpenVINO from JAX through jax2tf, whose XlaCallModule "
    "ops OpenVINO cannot convert",
}


def get_format(name: str) -> Format:
    """The format called ``name``; a one-line ``UserError`` naming the known ones."""
    if name not in FORMATS:
        close = difflib.get_close_matches(str(name), [*FORMATS, "tflite"], n=1)
        hint = {"tflite": "litert"}.get(close[0], close[0]) if close else None
        raise UserError(
            f"unknown format {name!r}; use one of: {', '.join(FORMATS)}"
            + (f" (did you mean {hint!r}?)" if hint else "")
        )
    return FORMATS[name]


def check_quantize(fmt: Format, quantize: str, calibration: str | os.PathLike[str] | None) -> None:
    """``quantize`` is known and offered by ``fmt``; ``calibration`` only goes with int8."""
    if quantize not in QUANTIZE:
        raise UserError(f"unknown quantization {quantize!r}; use one of: {', '.join(QUANTIZE)}")
    if quantize not in fmt.quantize:
        offered = [f.name for f in FORMATS.values() if quantize in f.quantize]
        raise UserError(
            f"{fmt.name} export takes --quantize {' or '.join(fmt.quantize)}, not {quantize}; "
            f"export to {' or '.join(offered)} for {quantize}"
        )
    if calibration is not None and quantize != "int8":
        raise UserError(
            f"--calibration calibrates int8 quantization, not {quantize}; "
            "add --quantize int8 or drop --calibration"
        )


def check_backend(fmt: Format, backend: str) -> None:
    """The Keras backend can export ``fmt``; else the reason and the backend that can."""
    if (fmt.name, backend) in _UNSUPPORTED:
        why = _UNSUPPORTED[fmt.name, backend]
        raise UserError(
            f"cannot export {fmt.name} from the {backend} backend ({why}); "
            "run with KERAS_BACKEND=tensorflow"
        )
    if backend not in fmt.packages:
        raise UserError(
            f"kerascnn exports from the TensorFlow and JAX backends, not {backend}; "
            "run with KERAS_BACKEND=tensorflow"
        )


def check_packages(fmt: Format, backend: str, quantize: str = "none") -> None:
    """The converter and runtime that ``fmt`` needs are installed (not imported here)."""
    needed = list(fmt.packages[backend])
    if fmt.name == "onnx" and quantize == "int8":
        needed.append("onnx")
    if fmt.name == "openvino" and quantize == "int8":
        needed.append("nncf")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        names = " and ".join(_DISTRIBUTIONS.get(m, m) for m in missing)
        extras = ",".join(sorted({_EXTRAS.get(m, "export") for m in missing}))
        raise UserError(
            f"{fmt.name} export needs {names}, which {'is' if len(missing) == 1 else 'are'} "
            f'not installed; pip install "kerascnn[{extras}]" (the {extras} extra)'
        )


def _stem(source: object) -> str:
    """A file-name stem: ``gesture_cnn:sign-digits`` -> ``gesture_cnn_sign-digits``."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir() or path.name in ("model.keras", "best.keras"):  # a run folder
            return (path if path.is_dir() else path.parent).resolve().name or "model"
        if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
            return path.stem
        return str(source).replace(":", "_").replace(os.sep, "_")
    inner = getattr(source, "source", None)
    if isinstance(inner, str):  # a LoadedModel
        return _stem(inner)
    return str(getattr(source, "name", None) or "model")


def default_output(source: object, fmt: Format, quantize: str) -> Path:
    """``gesture_cnn_sign-digits.onnx``, ``..._savedmodel/``, ``....int8.tflite`` in the cwd."""
    stem = _stem(source) + ("" if quantize == "none" else f".{quantize}")
    return Path(stem + fmt.suffix) if fmt.suffix else Path(f"{stem}_{fmt.name}")


def sidecars(artifact: Path, fmt: Format) -> tuple[Path, Path]:
    """``(class names, the JSON file)``: ``NAME.labels.txt`` and ``NAME.json`` beside a file
    artifact ``NAME`` (two exports in one folder never share one), inside a folder one."""
    if fmt.folder:
        return artifact / "labels.txt", artifact / "export.json"
    return (
        artifact.with_name(artifact.name + ".labels.txt"),
        artifact.with_name(artifact.name + ".json"),
    )


def check_output(path: str | os.PathLike[str], fmt: Format, force: bool) -> Path:
    """Before any work: ``path`` suits ``fmt`` and can be written (``--force`` to replace)."""
    path = Path(path).expanduser()
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; create it or write elsewhere")
    atomic.check_folder(folder, "write elsewhere")
    if fmt.folder:
        if path.is_file():
            raise UserError(
                f"{path} is a file; {fmt.name} writes a folder, give a folder name "
                f"such as {path.with_suffix('')}_{fmt.name}"
            )
    elif path.suffix.lower() != fmt.suffix:
        raise UserError(
            f"{path}: {fmt.name} files end in {fmt.suffix}; "
            f"give e.g. {path.with_suffix(fmt.suffix).name}"
        )
    elif path.is_dir():
        raise UserError(
            f"{path} is a directory; give a file name, e.g. {path / ('model' + fmt.suffix)}"
        )
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it")
    if path.is_dir() and any(path.iterdir()) and not (path / "export.json").is_file():
        raise UserError(
            f"{path} is a folder that holds no kerascnn export, and --force would replace it; "
            "give a new folder name"
        )
    return path


def check_input(fmt: Format, input_dtype: str, layout: str, opset: int | None) -> None:
    """``input_dtype``, ``layout`` and ``opset`` are known, and ``opset`` goes with ONNX.

    Args:
        fmt: the export format.
        input_dtype: ``"uint8"`` or ``"float32"``.
        layout: ``"nhwc"`` or ``"nchw"``.
        opset: an ONNX opset from 13 to 21, or ``None``.
    """
    for value, known, flag in (
        (input_dtype, INPUT_DTYPES, "--input-dtype"),
        (layout, LAYOUTS, "--layout"),
    ):
        if value not in known:
            raise UserError(f"unknown {flag} {value!r}; use one of: {', '.join(known)}")
    if opset is None:
        return
    if fmt.name != "onnx":
        raise UserError(f"--opset sets the ONNX opset, not {fmt.name}'s; drop --opset")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= 21:
        raise UserError(
            f"--opset {opset!r} is not an ONNX opset this exporter writes; use 13 to 21"
        )
