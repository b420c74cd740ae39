"""Training memory: ``kerascnn.analysis.memory.memory_estimate`` against the measured peak on CPU.

Each case runs in a fresh process with TensorFlow's BFC allocator on the CPU
(``TF_CPU_ALLOCATOR_USE_BFC=true``), so ``tf.config.experimental.get_memory_info("CPU:0")``
reports the peak bytes held by tensors (weights, optimizer slots, gradients, activations,
scratch space) during a training step: code, caches and the Python heap are not in it.
The step is the second ``train_on_batch`` (the first one traces the graph); Adam optimizer.

    python benchmarks/memory_estimate.py                       # the default cases, both modes
    python benchmarks/memory_estimate.py --case gesture_cnn:64:64 --jit 0 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = ("gesture_cnn:64:64", "alexnet_cifar:32:128", "vgg16:224:8")


def measure(name: str, size: int, batch: int, jit: bool) -> dict:
    """One training step of zoo model ``name`` (this process): measured peak and estimate."""
    import numpy as np
    import tensorflow as tf

    from kerascnn import create_model
    from kerascnn.analysis.memory import memory_estimate

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    model = create_model(name, input_shape=(size, size, 3), classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
    model.train_on_batch(x, y)
    tf.config.experimental.reset_memory_stats("CPU:0")
    model.train_on_batch(x, y)
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    if not peak:
        raise SystemExit("TensorFlow reported no CPU memory: set TF_CPU_ALLOCATOR_USE_BFC=true")
    estimate = memory_estimate(model, batch, "adam")
    case = {"model": name, "size": size, "batch": batch, "jit_compile": jit}
    return {**case, "measured": peak, "estimate": estimate.as_dict()}


def run_case(case: str, jit: bool) -> dict:
    """``measure`` in a fresh Python process (clean allocator statistics)."""
    env = {
        **os.environ,
        "TF_CPU_ALLOCATOR_USE_BFC": "true",
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    args = [sys.executable, __file__, "--case", case, "--jit", str(int(jit)), "--json", "--here"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"{case}: measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="MODEL:SIZE:BATCH (repeatable)")
    parser.add_argument("--jit", choices=("0", "1"), action="append", help="XLA off/on")
    parser.add_argument("--json", action="store_true", help="one JSON line per case")
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    for case in opts.case or CASES:
        for jit in opts.jit or ("0", "1"):
            if opts.here:
                name, size, batch = case.split(":")
                result = measure(name, int(size), int(batch), jit == "1")
            else:
                result = run_case(case, jit == "1")
            if opts.json:
                print(json.dumps(result))
                continue
            est, got = result["estimate"]["total"], result["measured"]
            print(
                f"{case:22} jit_compile={jit}  estimate {est / 2**20:8.1f} MiB  "
                f"measured {got / 2**20:8.1f} MiB  estimate/measured {est / got:.2f}"
            )


if __name__ == "__main__":
    main()
