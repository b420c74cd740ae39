"""Does XLA (``jit_compile=True``) speed up training on this CPU? Picks ``jit_compile="auto"``.

Times ``model.fit`` on one in-memory batch repeated (no input pipeline), with
and without XLA, for zoo models, alternating the two to share any noise.

    python benchmarks/jit_compile_cpu.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerascnn  # noqa: E402

CASES = [
    ("gesture_cnn", (64, 64, 3), 32, {}),
    ("gesture_cnn", (64, 64, 3), 32, {"batch_norm": True}),
    ("alexnet_cifar", (32, 32, 3), 64, {}),
]
STEPS = 20


def images_per_second(name, shape, batch, args, jit):
    keras.utils.set_random_seed(0)
    model = kerascnn.create_model(name, input_shape=shape, classes=10, **args)
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=jit)
    x = np.random.default_rng(0).uniform(0, 255, (batch, *shape)).astype("float32")
    y = np.arange(batch) % 10
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace / compile
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=STEPS, epochs=1, verbose=0)
    return STEPS * batch / (time.perf_counter() - start)


def main() -> None:
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs")
    for name, shape, batch, args in CASES:
        best = {False: 0.0, True: 0.0}
        for _ in range(2):
            for jit in (False, True):
                best[jit] = max(best[jit], images_per_second(name, shape, batch, args, jit))
        print(
            f"{name} {args or ''} batch {batch}: no XLA {best[False]:.0f} img/s, "
            f"XLA {best[True]:.0f} img/s, XLA/no-XLA = {best[True] / best[False]:.2f}"
        )


if __name__ == "__main__":
    main()
