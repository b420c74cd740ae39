"""``kerascnn benchmark``: a model exported to every format and precision, each artifact run in
its own runtime on the same labelled images, side by side with Keras: size, top-1, agreement
with Keras (share of equal top-1, max |Δp|), latency of one image and throughput of a batch.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError, deprecated

__all__ = ["ROWS", "BenchRow", "BenchmarkResult", "benchmark", "check_rows", "labelled_pixels"]

# row name -> (format, quantization); "keras" is the model itself on the current backend
ROWS: dict[str, tuple[str, str]] = {
    "keras": ("keras", "none"),
    "savedmodel": ("savedmodel", "none"),
    "onnx": ("onnx", "none"),
    "onnx-int8": ("onnx", "int8"),
    "litert": ("litert", "none"),
    "litert-int8": ("litert", "int8"),
    "openvino": ("openvino", "none"),
    "openvino-int8": ("openvino", "int8"),
}
BATCH = 64  # the larger batch of the throughput column


@dataclass
class BenchRow:
    """One format and precision: ``status`` is ``ok``, or why there are no (or only some)
    figures; figures are ``None`` where not measured."""

    format: str
    status: str
    size_mb: float | None = None
    top1: float | None = None
    agreement: float | None = None
    max_abs_diff: float | None = None
    ms_per_image: float | None = None
    images_per_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as the JSON and CSV keys."""
        return asdict(self)


@dataclass
class BenchmarkResult:
    """What :func:`benchmark` measured: one :class:`BenchRow` per format, in table order.

    Attributes:
        model: the model as loaded (its spec, file or name).
        data, split: the images' folder, and the part of it measured on (``all``: all of it).
        backend: the Keras backend the Keras row ran on.
        rows: the figures of each format and precision.
    """

    model: str
    data: Path
    split: str
    backend: str
    rows: list[BenchRow]

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as the JSON and CSV records of ``kerascnn benchmark``."""
        return [row.as_dict() for row in self.rows]

    def __iter__(self) -> Any:  # the list benchmark returned before 0.2
        deprecated("iterating over benchmark(...)", "its .rows")
        return iter(self.rows)

    def __len__(self) -> int:
        deprecated("len(benchmark(...))", "len(result.rows)")
        return len(self.rows)

    def __getitem__(self, index: int) -> BenchRow:
        deprecated("benchmark(...)[i]", "result.rows[i]")
        return self.rows[index]


def check_rows(names: Sequence[str] | None) -> list[str]:
    """The rows to measure (default: all), in table order; unknown names are a ``UserError``."""
    import difflib

    if not names:
        return list(ROWS)
    for name in names:
        if name not in ROWS:
            close = difflib.get_close_matches(name, list(ROWS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"unknown --format {name!r}{hint}; use some of: {', '.join(ROWS)}")
    return [name for name in ROWS if name in names]


def labelled_pixels(loaded: Any, data: Any, split: str, limit: int | None) -> tuple[Any, Any]:
    """``(pixels, output index of each image)`` of one split of a class-folder tree.

    Args:
        loaded: the :class:`~kerascnn.resolve.Loaded` model; its classes pair the folders.
        data: the class-folder tree.
        split: ``"train"``, ``"validation"``, ``"test"`` (the weights' own split) or ``"all"``.
        limit: at most this many images (``None``: all).
    """
    import numpy as np

    from kerascnn.training.data import image_folder
    from kerascnn.training.evaluate import model_classes, pair_classes
    from kerascnn.training.feeds import split_batches

    info = dict(loaded.split or {})
    if split != "all" and not info:
        raise UserError(
            f"{loaded.source} records no train/validation/test split; use --split all "
            "on a folder of held-out images"
        )
    folder = image_folder(data, loaded.input_size, info.get("validation_split", 0.0),
                          info.get("seed", 0), test_split=info.get("test_split", 0.0))  # fmt: skip
    outputs = loaded.model.output_shape[-1]
    names = model_classes(loaded, info, outputs)
    to_output = np.asarray(pair_classes(data, folder.class_names, names, outputs, False)[0])
    xs, ys, count = [], [], 0
    for x, y in split_batches(folder, split, BATCH):
        xs.append(np.asarray(x, np.float32))
        ys.append(to_output[np.asarray(y)])
        count += len(x)
        if limit and count >= limit:
            break
    if not xs:
        raise UserError(f"{data}: no images in the {split} split; give a folder of class folders")
    x, y = np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]
    return np.clip(np.round(x), 0, 255), y  # whole pixel values: what a uint8 input takes


def _timed(fn: Callable[[Any], Any], x: Any, seconds: float) -> float:
    """Median seconds of ``fn(x)`` after two warm-up calls, over about ``seconds``."""
    fn(x)
    fn(x)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _measure(row: BenchRow, run: Callable, x: Any, y: Any, reference: Any, seconds: float) -> None:
    import numpy as np

    probs = np.concatenate([np.asarray(run(x[i : i + BATCH])) for i in range(0, len(x), BATCH)])
    row.top1 = float((probs.argmax(1) == y).mean())
    if reference is not None:
        row.agreement = float((probs.argmax(1) == reference.argmax(1)).mean())
        row.max_abs_diff = float(np.abs(probs - reference).max())
    row.ms_per_image = _timed(run, x[:1], seconds) * 1000
    batch = x[:BATCH] if len(x) >= BATCH else np.resize(x, (BATCH, *x.shape[1:]))
    row.images_per_s = BATCH / _timed(run, batch, seconds)


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files if not p.name.endswith((".json", ".txt"))) / 1e6


def _keras_row(loaded: Any, x: Any, y: Any, folder: Path, seconds: float) -> tuple[BenchRow, Any]:
    import numpy as np

    from kerascnn.probabilities import probabilities

    model = loaded.model
    model.save(folder / "model.keras")
    row = BenchRow("keras", "ok", _size_mb(folder / "model.keras"))

    def run(batch: Any) -> Any:
        return probabilities(np.asarray(model.predict_on_batch(loaded.preprocess(batch))))

    _measure(row, run, x, y, None, seconds)
    reference = np.concatenate([run(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    row.agreement, row.max_abs_diff = 1.0, 0.0
    return row, reference


def _artifact_row(
    name: str, loaded: Any, x: Any, y: Any, reference: Any, options: dict
) -> BenchRow:
    from kerascnn.deploy.exporter import export
    from kerascnn.deploy.formats import FORMATS
    from kerascnn.deploy.runtime import load_artifact

    fmt, quantize = ROWS[name]
    if quantize not in FORMATS[fmt].quantize:
        offered = " or ".join(FORMATS[fmt].quantize)
        return BenchRow(name, f"not offered: {fmt} export takes --quantize {offered}")
    target = options["folder"] / f"model.{name}{FORMATS[fmt].suffix or ''}"
    try:
        result = export(loaded, fmt, target, quantize=quantize, calibration=options["calibration"],
                        accept_loss=True, verify=False)  # fmt: skip
        artifact = load_artifact(result.path)
    except UserError as exc:
        return BenchRow(name, f"failed: {exc}")
    except Exception as exc:  # a converter's or runtime's own failure: a status, not a crash
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return BenchRow(name, f"failed: {type(exc).__name__}: {first}")
    row = BenchRow(name, "ok", _size_mb(result.path))
    gate = (result.metadata.get("calibration") or {}).get("gate")
    if gate and gate["accepted_loss"]:
        agree, limit = f"{gate['top1_agreement']:.1%}", f"{gate['threshold']:.0%}"
        row.status = f"below the int8 gate: {agree} agreement on {gate['images']} held-out "
        row.status += f"calibration images (< {limit})"
    _measure(row, lambda batch: artifact.run(batch, BATCH), x, y, reference, options["seconds"])
    return row


def benchmark(
    model: Any,
    data: str | os.PathLike[str],
    *,
    formats: Sequence[str] | None = None,
    split: str = "all",
    calibration: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    seconds: float = 2.0,
    progress: Callable[[BenchRow], None] | None = None,
) -> BenchmarkResult:
    """Export ``model`` to each of ``formats`` (default: every row of :data:`ROWS`) and
    measure each artifact in its own runtime on the labelled images of ``data``.

    Args:
        model: anything :func:`kerascnn.load` takes, with trained weights.
        data: a folder of class folders named as the model's classes (all or some).
        formats: row names: ``keras``, ``savedmodel``, ``onnx``, ``onnx-int8``, ...
        split: ``all``, or ``train``/``validation``/``test`` of the weights' recorded split.
        calibration: a folder of photos for the int8 rows (default: the weight card's set).
        limit: at most this many images.
        seconds: how long each latency and throughput figure is timed.
        progress: called with each row as it is finished.

    Returns:
        A :class:`BenchmarkResult`; a format that fails, or that the backend cannot export,
        is a row with that status.
    """
    import keras

    from kerascnn.resolve import load

    names = check_rows(formats)
    if not Path(data).expanduser().is_dir():
        raise UserError(f"{data}: no such folder; --data takes a folder of class folders")
    loaded = load(model)
    if not loaded.pretrained:
        raise UserError(
            f"{loaded.source} has random weights; benchmark NAME:VARIANT, a .keras file or a run"
        )
    x, y = labelled_pixels(loaded, Path(data).expanduser(), split, limit)
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="kerascnn-benchmark-") as tmp:
        keras_row, reference = _keras_row(loaded, x, y, Path(tmp), seconds)
        options = {"folder": Path(tmp), "calibration": calibration, "seconds": seconds}
        for name in names:
            if name == "keras":
                row = keras_row
            else:
                row = _artifact_row(name, loaded, x, y, reference, options)
            rows.append(row)
            if progress is not None:
                progress(row)
    backend = keras.backend.backend()
    return BenchmarkResult(loaded.source, Path(data).expanduser(), split, backend, rows)
