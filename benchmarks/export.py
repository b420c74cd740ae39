"""What export and int8 cost against Keras, in one run: `kerascnn benchmark`'s rows plus ratios.

For ``gesture_cnn:sign-digits`` on its held-out test split and ``alexnet_cifar:cifar10`` on
the 10,000 CIFAR-10 test JPEGs: :func:`kerascnn.deploy.bench.benchmark` (the library
behind ``kerascnn benchmark``) exports every format and precision, runs each artifact in
its own runtime, and this script prints each row against the Keras row (top-1 difference,
size and latency ratios) and the export issue's goals: int8 loses <= 0.5 points, its file
is >= 3.5x smaller than float32. Then a cold ``kerascnn predict`` of one photo (a new
process each time) on the ``.onnx`` file against the Keras path: goal <= 0.3x.

    python benchmarks/export.py [--data ../shared/data] [--limit N] [--json results.json]
"""

from __future__ import annotations

import argparse
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

from kerascnn.deploy.bench import benchmark  # noqa: E402
from kerascnn.deploy.exporter import example_photos, export  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def cifar_test_folder(data: Path, into: Path) -> Path:
    """The CIFAR-10 test JPEGs, extracted from the shared zip into ``into/test``."""
    with zipfile.ZipFile(data / "cifar10-jpeg" / "cifar10-jpeg.zip") as archive:
        archive.extractall(into, [n for n in archive.namelist() if n.startswith("test/")])
    return into / "test"


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


def print_table(spec: str, rows: list[dict]) -> None:
    """The rows against the Keras row, then the int8 goals."""
    base = next(r for r in rows if r["format"] == "keras")
    print(f"\n{spec}, Keras {keras.__version__} ({keras.backend.backend()}), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print("| row | status | top-1 | vs Keras | agreement | max abs diff | file | ms/image "
          "| vs Keras | images/s |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if r["top1"] is None:
            print(f"| {r['format']} | {r['status']} |" + " |" * 8)
            continue
        print(
            f"| {r['format']} | {r['status']} | {r['top1']:.2%} | "
            f"{(r['top1'] - base['top1']) * 100:+.2f} | {r['agreement']:.2%} | "
            f"{r['max_abs_diff']:.1e} | {r['size_mb']:.2f} MB | {r['ms_per_image']:.2f} | "
            f"{r['ms_per_image'] / base['ms_per_image']:.2f}x | {r['images_per_s']:,.0f} |"
        )
    for r in rows:
        full = next((f for f in rows if f["format"] == r["format"].removesuffix("-int8")), None)
        if r["format"].endswith("-int8") and r["top1"] is not None and full and full["top1"]:
            drop, smaller = (full["top1"] - r["top1"]) * 100, full["size_mb"] / r["size_mb"]
            print(f"goal, {r['format']}: loses {drop:.2f} points (<= 0.5: {drop <= 0.5}), "
                  f"{smaller:.2f}x smaller (>= 3.5: {smaller >= 3.5})")  # fmt: skip


def _progress(row) -> None:
    print(f"  {row.format}: {row.status}", flush=True)


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
        cases = [
            ("gesture_cnn:sign-digits", args.data / "sign-language-digits" / "images", "test"),
            ("alexnet_cifar:cifar10", cifar_test_folder(args.data, Path(tmp)), "all"),
        ]
        for spec, folder, split in cases:
            result = benchmark(spec, folder, split=split, limit=args.limit, progress=_progress)
            results["models"][spec] = result.as_dicts()
            print_table(spec, results["models"][spec])
        onnx = Path(tmp) / "gesture.onnx"
        export("gesture_cnn:sign-digits", "onnx", onnx)
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
