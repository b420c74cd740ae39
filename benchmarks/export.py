"""What export and int8 cost: accuracy, file size and latency per runtime, against Keras.

For ``gesture_cnn:sign-digits`` on its 427 held-out test photos and ``alexnet_cifar:cifar10``
on the 10,000 CIFAR-10 test JPEGs, in one run: the Keras model, then each artifact of
``kerascnn.export`` loaded in its own runtime (SavedModel in TensorFlow, ONNX in
onnxruntime, LiteRT in ai-edge-litert, OpenVINO), float32 and quantized (int8 calibrated
on the recipe's own training images, never on test ones). Per row: top-1 accuracy on the
same pixels (resized by kerascnn's reader), file size, and the median latency of one
image on the CPU (``model(x)`` and ``predict_on_batch`` for Keras). Then a cold
``kerascnn predict`` of one photo, a new process each time, on the ``.onnx`` file against
the Keras path. Goals (the export issue): int8 loses <= 0.5 accuracy points, its file is
>= 3.5x smaller, int8 LiteRT is faster than Keras; cold ONNX predict <= 0.5 s and <= 0.3x
the Keras path.

    python benchmarks/export.py [--data ../shared/data] [--limit N] [--json results.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerascnn  # noqa: E402
from kerascnn.deploy.exporter import example_photos, export  # noqa: E402
from kerascnn.deploy.runtime import load_artifact  # noqa: E402
from kerascnn.predict import prepare_images  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXPORTS = [  # (format, quantize)
    ("savedmodel", "none"),
    ("onnx", "none"),
    ("onnx", "int8"),
    ("litert", "none"),
    ("litert", "float16"),
    ("litert", "int8"),
    ("openvino", "none"),
]


def sign_digits_test(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 427 held-out photos of the recipe's split, at 64x64, and their labels."""
    from kerascnn.training.data import split_of
    from kerascnn.zoo.recipes import get_recipe

    split = get_recipe("gesture_cnn:sign-digits")["split"]
    root = data / "sign-language-digits" / "images"
    files, labels = [], []
    for label, folder in enumerate(sorted(p for p in root.iterdir() if p.is_dir())):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if (
                split_of(rel, split["seed"], split["validation_split"], split["test_split"])
                == "test"
            ):
                files.append(str(path))
                labels.append(label)
    return prepare_images(files, (64, 64))[1], np.array(labels)


def cifar10_test(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 CIFAR-10 test JPEGs (classes in sorted order) and their labels."""
    from PIL import Image

    archive = zipfile.ZipFile(data / "cifar10-jpeg" / "cifar10-jpeg.zip")
    names = sorted(n for n in archive.namelist() if n.startswith("test/") and n.endswith(".jpg"))
    classes = sorted({n.split("/")[1] for n in names})
    pixels = [
        np.asarray(Image.open(io.BytesIO(archive.read(n))).convert("RGB"), np.float32)
        for n in names
    ]
    return np.stack(pixels), np.array([classes.index(n.split("/")[1]) for n in names])


def median_ms(fn, x: np.ndarray, seconds: float = 3.0) -> float:
    """Median wall time of ``fn(x)`` in ms, after a warm-up, over about ``seconds``."""
    for _ in range(5):
        fn(x)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 20:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix != ".json"
               and p.name != "labels.txt")  # fmt: skip


def keras_rows(spec: str, x: np.ndarray, y: np.ndarray, out: Path) -> list[dict]:
    loaded = kerascnn.load(spec)
    model = loaded.model
    probs = model.predict(loaded.preprocess(x), batch_size=64, verbose=0)
    accuracy = float((probs.argmax(axis=1) == y).mean() * 100)
    model.save(out / "model.keras")
    one = loaded.preprocess(x[:1])
    rows = []
    for how, fn in (("model(x)", lambda v: model(v, training=False)),
                    ("predict_on_batch", model.predict_on_batch)):  # fmt: skip
        rows.append({"runtime": f"Keras {how}", "format": "keras", "quantize": "none",
                     "accuracy": accuracy, "size": size_of(out / "model.keras"),
                     "latency_ms": median_ms(fn, one)})  # fmt: skip
    return rows


def artifact_row(spec: str, fmt: str, quantize: str, x, y, out: Path) -> dict:
    suffix = {"onnx": ".onnx", "litert": ".tflite"}.get(fmt, f"_{fmt}")
    tag = "" if quantize == "none" else f".{quantize}"
    folder = out / f"{fmt}{tag}"
    folder.mkdir()
    start = time.perf_counter()
    result = export(spec, fmt, folder / f"model{tag}{suffix}", quantize=quantize)
    seconds = time.perf_counter() - start
    artifact = load_artifact(result.path)
    probs = artifact.run(x, batch_size=100)
    return {
        "runtime": result.metadata["verification"]["runtime"],
        "format": fmt,
        "quantize": quantize,
        "accuracy": float((probs.argmax(axis=1) == y).mean() * 100),
        "size": size_of(result.path),
        "latency_ms": median_ms(artifact.runner, x[:1]),
        "export_s": seconds,
        "check_max_abs_diff": result.verification["max_abs_diff"],
    }


def cold_predict(args: list[str], runs: int) -> float:
    """Median wall time of ``kerascnn predict ...`` in a new process (one warm-up run)."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kerascnn.cli", "predict", *args],
                              capture_output=True, text=True, cwd=REPO)  # fmt: skip
        if done.returncode:
            raise SystemExit(done.stderr)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(spec: str, rows: list[dict], count: int) -> None:
    base = rows[0]
    print(f"\n{spec}: {count} test images, Keras {keras.__version__} "
          f"({keras.backend.backend()}), {os.cpu_count()} CPUs")  # fmt: skip
    print("| runtime | weights | top-1 accuracy | vs Keras | file | vs float32 | latency "
          "(1 image) | vs Keras |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    keras_ms = min(r["latency_ms"] for r in rows if r["format"] == "keras")
    for row in rows:
        same = [r for r in rows if r["format"] == row["format"] and r["quantize"] == "none"]
        ratio = same[0]["size"] / row["size"]
        print(
            f"| {row['runtime']} | {'float32' if row['quantize'] == 'none' else row['quantize']} "
            f"| {row['accuracy']:.2f}% | {row['accuracy'] - base['accuracy']:+.2f} "
            f"| {row['size'] / 1e6:.2f} MB | {ratio:.2f}x | {row['latency_ms']:.2f} ms "
            f"| {row['latency_ms'] / keras_ms:.2f}x |"
        )
    for row in (r for r in rows if r["quantize"] == "int8"):
        (full,) = [r for r in rows if r["format"] == row["format"] and r["quantize"] == "none"]
        drop, smaller = full["accuracy"] - row["accuracy"], full["size"] / row["size"]
        faster = row["latency_ms"] < keras_ms
        print(
            f"goal, {row['format']} int8: loses {drop:.2f} points (<= 0.5: {drop <= 0.5}), "
            f"{smaller:.2f}x smaller (>= 3.5: {smaller >= 3.5})"
            + (f", faster than Keras: {faster}" if row["format"] == "litert" else "")
        )


def run_model(spec: str, x: np.ndarray, y: np.ndarray, out: Path) -> list[dict]:
    rows = keras_rows(spec, x, y, out)
    for fmt, quantize in EXPORTS:
        rows.append(artifact_row(spec, fmt, quantize, x, y, out))
        print(f"  {spec} {fmt} {quantize}: {rows[-1]['accuracy']:.2f}% "
              f"({rows[-1]['export_s']:.0f} s to export)", flush=True)  # fmt: skip
    print_table(spec, rows, len(y))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get("KERASCNN_DATA", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--limit", type=int, help="At most N test images per model (quick runs).")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument("--runs", type=int, default=5, help="Cold predict runs per path.")
    args = parser.parse_args()
    results: dict = {"keras": keras.__version__, "cpus": os.cpu_count(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for spec, load in (("gesture_cnn:sign-digits", sign_digits_test),
                           ("alexnet_cifar:cifar10", cifar10_test)):  # fmt: skip
            x, y = load(args.data)
            x, y = x[: args.limit], y[: args.limit]
            out = Path(tmp) / spec.replace(":", "_")
            out.mkdir()
            results["models"][spec] = run_model(spec, x, y, out)
        onnx = Path(tmp) / "gesture_cnn_sign-digits" / "onnx" / "model.onnx"
        photo = example_photos()[1]
        cold_onnx = cold_predict([str(onnx), photo], args.runs)
        cold_keras = cold_predict(["gesture_cnn:sign-digits", photo], max(2, args.runs // 2))
    results["cold_predict_s"] = {"onnx": cold_onnx, "keras": cold_keras}
    print(f"\ncold `kerascnn predict` of one photo (new process, median of {args.runs}): "
          f".onnx {cold_onnx:.2f} s, Keras path {cold_keras:.2f} s, "
          f"ratio {cold_onnx / cold_keras:.2f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
