"""Training throughput: ``kerascnn.fit`` vs a hand-written ``model.fit`` on ``tf.data``,
and the input pipeline alone vs the training step alone, in one run.

Same model (``gesture_cnn``, 64x64), data, batch and optimizer for both; epochs
after the first (tracing, cache filling) are timed; the two are alternated and
the fastest epoch of each kept (robust to other load on a shared machine).
``kerascnn.fit`` runs with an output folder too (backups, best model,
CSV, plot, TensorBoard), reported on its own line. The ratio must be >= 0.95;
the pipeline must outrun the step.

    python benchmarks/train_throughput.py [DATA_DIR]  # default: the sign-language digits

Then the same on JAX, in a subprocess: ``kerascnn.fit`` (its TensorFlow-free
``PyDataset`` pipeline) against a plain ``model.fit`` on numpy arrays decoded once;
the ratio must be >= 0.95 there too. On a GPU:
``KERAS_BACKEND=jax python benchmarks/train_throughput.py --vgg16`` (VGG16 224x224,
batch 128, bfloat16: the engine and plain ``model.fit``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "--backend" in sys.argv:  # the other backends' half, run as a subprocess by main()
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerascnn  # noqa: E402
from kerascnn.training import engine as train  # noqa: E402
from kerascnn.training.data import image_folder  # noqa: E402

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    from kerascnn.training.data import batch_images

DATA = Path(__file__).resolve().parents[2] / "shared/data/sign-language-digits/images"
SIZE, BATCH, EPOCHS = (64, 64), 32, 4
ROUNDS = int(os.environ.get("ROUNDS", "3"))  # alternations; the best of each is kept


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
    args = dict(CARD.get("model_args", {}))  # the engine's model: the card's arguments
    model = kerascnn.create_model("gesture_cnn", classes=len(classes), **args)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    timer = EpochTimer()
    model.fit(ds, epochs=EPOCHS, callbacks=[timer], verbose=0)
    return int(0.8 * len(paths)) / min(timer.times[1:])


# the plain baseline's optimizer and loss, no augmentation (given dicts are merged into the
# card's, so each of its augmentations is turned off): the same work per step
CARD = kerascnn.get_model_card("gesture_cnn").training
SAME_WORK = {"optimizer": "adam", "schedule": "constant", "warmup_epochs": 0,
             "weight_decay": 0.0, "label_smoothing": 0.0,
             "augmentation": {k: 0 for k in CARD.get("augmentation", {})}}  # fmt: skip


def ours(root: Path, with_output: bool = False, **settings) -> float:
    folder = image_folder(root, SIZE, validation_split=0.0)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as out:
        train.fit("gesture_cnn", folder, epochs=EPOCHS, batch_size=BATCH, learning_rate=1e-3,
                  output_dir=out if with_output else None, callbacks=[timer],
                  verbose=0, **settings)  # fmt: skip
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


def plain_numpy(root: Path) -> float:
    """JAX/torch: the textbook way without tf.data: decode once, ``model.fit`` on arrays."""
    from kerascnn.training.pydata import decode_images

    folder = image_folder(root, SIZE, validation_split=0.0)
    paths = [str(root / p) for p, _ in folder.files["train"]]
    x = decode_images(paths, SIZE).astype("float32")
    y = keras.ops.convert_to_numpy([label for _, label in folder.files["train"]])
    keras.utils.set_random_seed(0)
    args = dict(CARD.get("model_args", {}))  # the engine's model: the card's arguments
    model = kerascnn.create_model("gesture_cnn", classes=len(folder.class_names), **args)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    timer = EpochTimer()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, callbacks=[timer], verbose=0)
    return len(x) // BATCH * BATCH / min(timer.times[1:])


def other_backend(root: Path) -> None:
    """The engine against plain ``model.fit`` on arrays, on this process's backend."""
    backend = keras.backend.backend()
    print(f"{backend}: Keras {keras.__version__}, {os.cpu_count()} CPUs; {root}")
    base = mine = card = 0.0
    for _ in range(ROUNDS):
        base = max(base, plain_numpy(root))
        mine = max(mine, ours(root, **SAME_WORK))
        card = max(card, ours(root))
    print(f"{backend}: plain model.fit on numpy arrays:           {base:.0f} images/s")
    print(f"{backend}: kerascnn.fit, the same model and step: {mine:.0f} images/s")
    print(f"{backend}: ratio kerascnn/plain: {mine / base:.3f} (must be >= 0.95)")
    print(
        f"{backend}: kerascnn.fit with the card's defaults:  {card:.0f} images/s "
        "(batch norm, AdamW, label smoothing, augmentation on the CPU in eager mode)"
    )


def vgg16_gpu(images: int = 2560, batch: int = 128) -> None:
    """VGG16 at 224x224, batch 128, bfloat16: the engine's images/s against plain
    ``model.fit`` on the same arrays (``--vgg16``; meant for a GPU, on JAX)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(images):
            folder = Path(tmp) / f"c{i % 10}"
            folder.mkdir(exist_ok=True)
            pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
        timer = EpochTimer()
        options = {"mixed_precision": "bfloat16", "augmentation": {}, "validation_split": 0.0}
        train.fit("vgg16", tmp, epochs=4, batch_size=batch, callbacks=[timer], verbose=0,
                  **options)  # fmt: skip
        mine = images // batch * batch / min(timer.times[1:])
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = kerascnn.create_model("vgg16", classes=10)
    keras.config.set_dtype_policy("float32")
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    x = rng.uniform(0, 255, (images, 224, 224, 3)).astype("float32")
    y = rng.integers(0, 10, images)
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=4, callbacks=[timer], verbose=0)
    base = images // batch * batch / min(timer.times[1:])
    device = keras.distribution.list_devices()[0]
    print(f"{keras.backend.backend()} on {device}: VGG16 224x224, batch {batch}, bfloat16")
    print(f"  plain model.fit: {base:.0f} images/s; kerascnn.fit: {mine:.0f} images/s "
          f"(ratio {mine / base:.3f}; goal >= 3,200 images/s on an H100-class GPU)")  # fmt: skip


def main() -> None:
    args = sys.argv[1:]
    if "--vgg16" in args:
        return vgg16_gpu()
    if "--backend" in args:
        del args[args.index("--backend") : args.index("--backend") + 2]
    root = Path(args[0]) if args else DATA
    if keras.backend.backend() != "tensorflow":
        return other_backend(root)
    classes = image_folder(root, SIZE, check=False).class_names
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; {root}")
    base = mine = full = 0.0
    for _ in range(ROUNDS):
        base = max(base, hand_written(root, classes))
        mine = max(mine, ours(root, **SAME_WORK))
        full = max(full, ours(root, with_output=True, **SAME_WORK))
    print(f"hand-written model.fit on tf.data:      {base:.0f} images/s")
    print(f"kerascnn.fit:                     {mine:.0f} images/s")
    print(f"kerascnn.fit with an output dir:  {full:.0f} images/s")
    print(f"ratio kerascnn/hand-written: {mine / base:.3f} (must be >= 0.95)")
    print(f"ratio with output dir/hand-written: {full / base:.3f}")
    feed, step = pipeline_alone(root), step_alone()
    print(f"input pipeline alone: {feed:.0f} images/s; training step alone: {step:.0f} images/s")
    print(f"pipeline/step: {feed / step:.1f}x (> 1: the pipeline is not the bottleneck)")
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, str(root), "--backend", "jax"], check=True)


if __name__ == "__main__":
    main()
