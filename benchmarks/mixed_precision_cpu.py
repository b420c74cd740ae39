"""Is bfloat16 faster than float32 for training on this CPU? Checks ``mixed_precision="auto"``.

Times training steps of the ``alexnet_cifar:cifar10`` recipe's model at the recipe's batch
(512 images of 32x32) in float32 and in mixed bfloat16, the two alternated, on one in-memory
batch repeated (no input pipeline), and prints the ratio, the CPU's bfloat16 flags and what
``"auto"`` picks here. CPUs without AMX emulate bfloat16 arithmetic.

    python benchmarks/mixed_precision_cpu.py [--steps 3] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerascnn  # noqa: E402
from kerascnn._devices import cpu_flags, resolve_mixed_precision  # noqa: E402
from kerascnn.zoo.recipes.alexnet_cifar_cifar10 import RECIPE  # noqa: E402
from kerascnn.zoo.recipes.cifar_init import builder_args  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16")


def seconds_per_step(policy: str, steps: int) -> float:
    """Mean seconds of one training step after a warm-up step (tracing, first allocations)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = kerascnn.create_model("alexnet_cifar", classes=10, **builder_args(RECIPE))
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
        batch = RECIPE["batch_size"]
        x = np.random.default_rng(0).uniform(0, 255, (batch, 32, 32, 3)).astype("float32")
        y = np.arange(batch) % 10
        model.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        return (time.perf_counter() - start) / steps
    finally:
        keras.config.set_dtype_policy(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per policy and round.")
    parser.add_argument("--rounds", type=int, default=1, help="Alternations of the two policies.")
    args = parser.parse_args()
    flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith(("avx512f", "amx")))
    print(f"Keras {keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; bfloat16 flags: "
          f"{', '.join(flags) or 'none'}")  # fmt: skip
    best = dict.fromkeys(POLICIES, float("inf"))
    for _ in range(args.rounds):
        for policy in POLICIES:
            best[policy] = min(best[policy], seconds_per_step(policy, args.steps))
    steps = -(-50_000 // RECIPE["batch_size"]) * RECIPE["epochs"]
    for policy in POLICIES:
        hours = best[policy] * steps / 3600
        print(f"{policy}: {best[policy]:.2f} s a step of {RECIPE['batch_size']} images "
              f"({hours:.1f} h for the recipe's {steps} steps)")  # fmt: skip
    ratio = best["mixed_bfloat16"] / best["float32"]
    print(f"bfloat16 / float32 time = {ratio:.2f}; mixed_precision='auto' picks "
          f"{resolve_mixed_precision('auto') or 'float32'} here")  # fmt: skip


if __name__ == "__main__":
    main()
