"""The TensorFlow-free input pipeline: ``FolderBatches`` (``keras.utils.PyDataset``) vs grain.

Both read the same training split of an image folder, shuffle it with a seed, and give
batches of float32 pixels with the engine's flip augmentation, for ``EPOCHS`` epochs;
images/s of the epochs after the first (``FolderBatches`` decodes once into memory on
its first pass; grain decodes every epoch in ``--threads`` threads, as its ``ReadOptions``
prescribe, and also as a second variant over the same decoded array in memory).

    pip install grain  # not a kerascnn dependency: only this comparison needs it
    KERAS_BACKEND=jax python benchmarks/input_pipeline.py [DATA_DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import grain  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerascnn.layers import classic_augmentation  # noqa: E402
from kerascnn.training.data import image_folder  # noqa: E402
from kerascnn.training.pydata import FolderBatches, _decode, decode_images  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/sign-language-digits/images"
SIZE, BATCH, EPOCHS = (64, 64), 32, 3


def timed(epochs) -> float:
    """Images/s over every epoch but the first; ``epochs`` yields each epoch's batches."""
    rates = []
    for batches in epochs:
        start, n = time.perf_counter(), 0
        for x, _ in batches:
            n += len(x)
        rates.append(n / (time.perf_counter() - start))
    return max(rates[1:])


def ours(folder, augment) -> float:
    data = FolderBatches(folder, "train", BATCH, augment=augment)

    def epochs():
        for _ in range(EPOCHS):
            yield (data[i] for i in range(len(data)))
            data.on_epoch_end()

    return timed(epochs())


def grain_pipeline(folder, augment, threads: int, in_memory: bool) -> float:
    entries = folder.files["train"]
    labels = np.array([label for _, label in entries], np.int32)
    if in_memory:
        source = decode_images([str(folder.root / p) for p, _ in entries], SIZE)

        def read(i):
            return source[i], labels[i]
    else:
        paths = [str(folder.root / p) for p, _ in entries]

        def read(i):
            return _decode(paths[i], SIZE), labels[i]

    def augmented(batch):
        x, y = batch
        return keras.ops.convert_to_numpy(augment(x.astype(np.float32), training=True)), y

    def epochs():
        for epoch in range(EPOCHS):
            ds = grain.MapDataset.range(len(labels)).shuffle(seed=epoch).map(read)
            ds = ds.batch(BATCH, drop_remainder=True).map(augmented)
            yield ds.to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=8))

    return timed(epochs())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?", type=Path, default=DATA)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    folder = image_folder(args.data, SIZE, validation_split=0.0)
    augment = classic_augmentation(flip=True, seed=0)
    print(f"{keras.backend.backend()}, {os.cpu_count()} CPUs, {folder.count('train')} images "
          f"of {args.data}, batch {BATCH}, {args.threads} grain threads")  # fmt: skip
    mine = ours(folder, augment)
    decoding = grain_pipeline(folder, augment, args.threads, in_memory=False)
    memory = grain_pipeline(folder, augment, args.threads, in_memory=True)
    print(f"FolderBatches (PyDataset, decoded once):   {mine:.0f} images/s")
    print(f"grain, decoding every epoch:               {decoding:.0f} images/s")
    print(f"grain, over the same decoded array:        {memory:.0f} images/s")
    print(f"ratio FolderBatches / best grain: {mine / max(decoding, memory):.2f}")


if __name__ == "__main__":
    main()
