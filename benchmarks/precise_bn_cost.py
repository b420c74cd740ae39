"""The cost of precise BN (batch-norm statistics re-estimated before each validation) on the
zoo's recipes, in one run: each recipe's model, batch, image size and augmentation through
``kerascnn.training.fit``, with precise BN and without (the baseline), on the recipe's data.

Printed per recipe: the seconds of an epoch's training steps (validation excluded), the seconds
precise BN spent per epoch, their ratio (must stay under 5%), and the whole-epoch times of the
two runs (their ratio is noisier on a shared machine). Epochs after the first are timed.

    python benchmarks/precise_bn_cost.py [--cifar-images N]  # CIFAR-10 subset, default 12,800

The ratio of precise BN to an epoch does not depend on the epoch's length: it runs on a tenth
of the epoch's batches (``kerascnn.training.batchnorm.precise_bn_batches``), so a subset of
CIFAR-10 gives the full set's ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from kerascnn.training import engine  # noqa: E402
from kerascnn.training.batchnorm import PreciseBN  # noqa: E402
from kerascnn.training.data import image_folder  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data"
EPOCHS = 3


class StepTimer(keras.callbacks.Callback):
    """Seconds of each epoch's training steps, and of each whole epoch."""

    def on_train_begin(self, logs=None):
        self.steps, self.epochs = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.last = None

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.steps.append(self.last - self.start)
        self.epochs.append(time.perf_counter() - self.start)


def _run(name: str, folder, precise: bool) -> StepTimer:
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        engine.fit(name, folder, epochs=EPOCHS, precise_bn="auto" if precise else False,
                   output_dir=out, callbacks=[timer], verbose=0)  # fmt: skip
    return timer


def recipe(name: str, folder) -> None:
    made: list[PreciseBN] = []
    original = PreciseBN.__init__

    def keep(self, *args, **kwargs):  # the engine's PreciseBN of this run, for its .seconds
        original(self, *args, **kwargs)
        made.append(self)

    PreciseBN.__init__ = keep
    try:
        ours = _run(name, folder, True)
    finally:
        PreciseBN.__init__ = original
    base = _run(name, folder, False)
    seconds = made[-1].seconds
    step = min(ours.steps[1:])
    bn = min(seconds[1:])
    print(f"{name}: {folder.count('train')} training images, an epoch's steps {step:.1f} s, "
          f"precise BN {bn:.2f} s an epoch: {bn / step:.1%} of an epoch")  # fmt: skip
    whole, plain = min(ours.epochs[1:]), min(base.epochs[1:])
    print(f"  whole epoch with precise BN {whole:.1f} s, without {plain:.1f} s: "
          f"ratio {whole / plain:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar-images", type=int, default=12_800)
    args = parser.parse_args()
    sign = DATA / "sign-language-digits/images"
    recipe("gesture_cnn", image_folder(sign, (64, 64), 0.2, 0))
    from kerascnn.zoo.recipes.cifar_data import extract_archive

    root, _ = extract_archive(DATA / "cifar10-jpeg/cifar10-jpeg.zip")
    folder = image_folder(root / "train", (32, 32), 0.2, 0)
    for split, keep in (("train", args.cifar_images), ("validation", 2_000)):
        folder.files[split] = folder.files[split][:: max(1, len(folder.files[split]) // keep)]
    recipe("alexnet_cifar", folder)


if __name__ == "__main__":
    main()
