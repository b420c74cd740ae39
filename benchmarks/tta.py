"""Test-time augmentation: accuracy and cost of ``--tta none``, ``flip`` and ``flip+shift``.

For ``alexnet_cifar:cifar10`` on the 10,000 CIFAR-10 test JPEGs and ``gesture_cnn:sign-digits``
on its 427 held-out test photos: :func:`kerascnn.evaluate` (the library behind ``kerascnn
evaluate``) once per setting, the model loaded once. Prints top-1, errors, the change against
no TTA, and the wall time per image (JPEG decoding and the forward passes: ``flip`` runs the
model twice per image, ``flip+shift`` six times).

    python benchmarks/tta.py [--data ../shared/data] [--only SPEC] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from _data import cifar_test_folder  # noqa: E402  (benchmarks/_data.py)

import kerascnn  # noqa: E402
from kerascnn.tta import MODES, describe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def measure(spec: str, folder: Path, split: str) -> list[dict]:
    """One row per TTA mode: accuracy, errors, images, seconds per image."""
    loaded = kerascnn.load(spec)
    rows = []
    for mode in MODES:
        start = time.perf_counter()
        result = kerascnn.evaluate(loaded, folder, split=split, tta=mode)
        seconds = time.perf_counter() - start
        per_image = 1000 * seconds / result.count
        rows.append({"tta": mode, "accuracy": result.accuracy, "errors": result.errors,
                     "images": result.count, "ms_per_image": per_image})  # fmt: skip
        print(f"  {mode}: {result.accuracy:.2%} ({seconds:.0f} s)", flush=True)
    return rows


def print_table(spec: str, split: str, rows: list[dict]) -> None:
    """The rows as a Markdown table, against ``none``."""
    base = rows[0]
    print(f"\n{spec}, {split} ({base['images']:,} images), Keras {keras.__version__} "
          f"({keras.backend.backend()}), {os.cpu_count()} CPUs")  # fmt: skip
    print("| --tta | top-1 | errors | vs none | ms/image | vs none |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['tta']} | {r['accuracy']:.2%} | {r['errors']:,} | "
              f"{(r['accuracy'] - base['accuracy']) * 100:+.2f} | {r['ms_per_image']:.2f} | "
              f"{r['ms_per_image'] / base['ms_per_image']:.1f}x |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get("KERASCNN_DATA", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--only", help="One of the two specs (default: both).")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    for mode in MODES[1:]:
        print(f"{mode}: {describe(mode)}")
    results: dict = {"keras": keras.__version__, "backend": keras.backend.backend(),
                     "cpus": os.cpu_count(), "models": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("alexnet_cifar:cifar10", lambda: cifar_test_folder(args.data, Path(tmp)), "all"),
            ("gesture_cnn:sign-digits",
             lambda: args.data / "sign-language-digits" / "images", "test"),
        ]  # fmt: skip
        for spec, folder, split in cases:
            if args.only and spec != args.only:
                continue
            print(f"{spec}:", flush=True)
            rows = measure(spec, folder(), split)
            results["models"][spec] = rows
            print_table(spec, split, rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
