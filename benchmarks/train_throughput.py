"""Training throughput: ``kerascnn.train.fit`` vs a hand-written ``model.fit`` on ``tf.data``,
and the input pipeline alone vs the training step alone, in one run.

Same model (``gesture_cnn``, 64x64), data, batch and optimizer for both; epochs
after the first (tracing, cache filling) are timed; the two are alternated and
the fastest epoch of each kept (robust to other load on a shared machine).
``kerascnn.train.fit`` runs with an output folder too (backups, best model,
CSV, plot, TensorBoard), reported on its own line. The ratio must be >= 0.95;
the pipeline must outrun the step.

    python benchmarks/train_throughput.py [DATA_DIR]  # default: the sign-language digits
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerascnn  # noqa: E402
from kerascnn.training import engine as train
from kerascnn.training.data import batch_images, image_folder  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/sign-language-digits/images"
SIZE, BATCH, EPOCHS, ROUNDS = (64, 64), 32, 4, 3


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def hand_written(root: Path, classes: list[str]) -> float:
    """The textbook pipeline and a plain model.fit; images/s of the timed epochs."""
    paths = sorted(str(p) for c in classes for p in (root / c).iterdir())
    labels = [classes.index(Path(p).parent.name) for p in paths]

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.image.resize(image, SIZE, antialias=True), label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels)).shuffle(len(paths), seed=0)
    ds = ds.take(int(0.8 * len(paths)))  # a comparable training set size
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
    ds = ds.shuffle(2048).batch(BATCH).prefetch(tf.data.AUTOTUNE)
    keras.utils.set_random_seed(0)
    model = kerascnn.create_model("gesture_cnn", classes=len(classes))
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    timer = EpochTimer()
    model.fit(ds, epochs=EPOCHS, callbacks=[timer], verbose=0)
    return int(0.8 * len(paths)) / min(timer.times[1:])


def ours(root: Path, with_output: bool = False) -> float:
    folder = image_folder(root, SIZE, validation_split=0.0)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as out:
        train.fit("gesture_cnn", folder, epochs=EPOCHS, batch_size=BATCH, learning_rate=1e-3,
                  output_dir=out if with_output else None, callbacks=[timer],
                  verbose=0)  # fmt: skip
    # same images per epoch as the hand-written run's 80%, measured per image
    steps = -(-folder.count("train") // BATCH)
    return steps * BATCH / min(timer.times[1:])


def pipeline_alone(root: Path) -> float:
    folder = image_folder(root, SIZE, validation_split=0.0)
    ds = batch_images(folder.elements("train", repeat=True), BATCH)
    steps = 4 * (-(-folder.count("train") // BATCH))
    it = iter(ds)
    for _ in range(steps // 4 + 1):  # first pass fills the cache
        next(it)
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * BATCH / (time.perf_counter() - start)


def step_alone() -> float:
    keras.utils.set_random_seed(0)
    model = kerascnn.create_model("gesture_cnn", classes=10)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    x = tf.random.uniform((BATCH, *SIZE, 3), 0, 255)
    ds = tf.data.Dataset.from_tensors((x, tf.range(BATCH) % 10)).repeat()
    model.fit(ds, steps_per_epoch=3, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=40, verbose=0)
    return 40 * BATCH / (time.perf_counter() - start)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    classes = image_folder(root, SIZE, check=False).class_names
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; {root}")
    base = mine = full = 0.0
    for _ in range(ROUNDS):
        base = max(base, hand_written(root, classes))
        mine = max(mine, ours(root))
        full = max(full, ours(root, with_output=True))
    print(f"hand-written model.fit on tf.data:      {base:.0f} images/s")
    print(f"kerascnn.train.fit:                     {mine:.0f} images/s")
    print(f"kerascnn.train.fit with an output dir:  {full:.0f} images/s")
    print(f"ratio kerascnn/hand-written: {mine / base:.3f} (must be >= 0.95)")
    print(f"ratio with output dir/hand-written: {full / base:.3f}")
    feed, step = pipeline_alone(root), step_alone()
    print(f"input pipeline alone: {feed:.0f} images/s; training step alone: {step:.0f} images/s")
    print(f"pipeline/step: {feed / step:.1f}x (> 1: the pipeline is not the bottleneck)")


if __name__ == "__main__":
    main()
