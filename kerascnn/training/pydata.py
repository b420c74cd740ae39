"""An image folder's split as a ``keras.utils.PyDataset``, the JAX and PyTorch engines' input:
decoded once into memory with Pillow (or batch by batch when the split would not fit), shuffled
each epoch by seed and epoch (the same order in every process and rerun), augmented in batch
order (the random draws repeat with the seed)."""

from __future__ import annotations

import copy as _copy
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import keras
import numpy as np
from PIL import Image

from kerascnn.training.flips import mirror_in_turn

if TYPE_CHECKING:
    from collections.abc import Callable

    from kerascnn.training.data import ImageFolder

__all__ = ["IN_MEMORY_BYTES", "FolderBatches", "decode_images"]

IN_MEMORY_BYTES = 4 * 2**30  # a split decodes once into memory up to this size, else per batch


def _decode(path: str, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 ``(height, width, 3)``, resized with Pillow's antialiasing filter."""
    image: Image.Image
    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def decode_images(paths: list[str], size: tuple[int, int], workers: int = 8) -> np.ndarray:
    """All ``paths`` decoded in parallel into one uint8 array ``(n, height, width, 3)``."""
    out = np.empty((len(paths), *size, 3), np.uint8)

    def one(i: int) -> None:
        out[i] = _decode(paths[i], size)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(paths))))
    return out


class FolderBatches(keras.utils.PyDataset):
    """Batches ``(float32 pixels, int32 labels)`` of one split of an ``ImageFolder``.

    Args:
        folder, split: a ``kerascnn.training.data.ImageFolder`` and one of its splits.
        batch_size: images per batch, the global batch when data parallel.
        shuffle: reshuffle every epoch (default: training data only); then every batch is
            whole, the last completed from the epoch's start, as the engine's ``tf.data`` does.
        augment: a Keras model applied to each training batch, or None.
        transform: a function of the pixels applied after ``augment`` (preprocessing), or None.
        classes: one-hot labels of this many classes (label smoothing), or None.
        epoch, offset: where a resumed run continues: its epoch and that epoch's first batch.
        shard: ``(process, processes)``: this process's equal part of every batch.
        multiple: the last, partial batch is cut to a multiple of this (the device count).
        max_memory: bytes of decoded pixels kept in memory; a larger split is decoded per batch.
        flips: alternating flips: which images are mirrored in even epochs
            (:func:`kerascnn.training.flips.first_flips`), or None.
    """

    def __init__(
        self, folder: ImageFolder, split: str, batch_size: int, *, shuffle: bool | None = None,
        augment: keras.Model | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        classes: int | None = None, epoch: int = 0,
        offset: int = 0, shard: tuple[int, int] = (0, 1), multiple: int = 1,
        max_memory: int = IN_MEMORY_BYTES, flips: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        super().__init__(workers=1, use_multiprocessing=False, max_queue_size=8)
        entries = folder.nonempty(split)
        self.shuffle = split == "train" if shuffle is None else shuffle
        self.batch_size, self.augment, self.classes = int(batch_size), augment, classes
        self.transform, self.flips = transform, flips
        self.seed, self.epoch, self.offset = folder.seed, epoch, offset
        self.shard, self.multiple = shard, multiple
        self.labels = np.array([label for _, label in entries], np.int32)
        self.paths, self.size = [str(folder.root / p) for p, _ in entries], folder.image_size
        in_memory = len(entries) * self.size[0] * self.size[1] * 3 <= max_memory
        self.pixels = decode_images(self.paths, self.size) if in_memory else None
        self._lock = threading.Lock()
        self._set_order()

    def _set_order(self) -> None:
        n = len(self.labels)
        rng = np.random.default_rng([self.seed, self.epoch])
        self.order = rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        n, size = len(self.labels), self.batch_size
        if self.shuffle:
            return math.ceil(n / size) - self.offset
        last = n % size // self.multiple * self.multiple
        return n // size + bool(last)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        index += self.offset
        span = range(index * self.batch_size, (index + 1) * self.batch_size)
        if self.shuffle:  # whole batches; the last wraps around to the epoch's first images
            pick = np.take(self.order, span, mode="wrap")
        else:
            pick = self.order[span.start : span.stop]
        pick = pick[: len(pick) // self.multiple * self.multiple]
        part = len(pick) // self.shard[1]
        pick = pick[self.shard[0] * part : (self.shard[0] + 1) * part]
        if self.pixels is None:  # a split too large to hold: decode this batch now
            x = decode_images([self.paths[i] for i in pick], self.size).astype(np.float32)
        else:
            x = self.pixels[pick].astype(np.float32)
        y: np.ndarray = self.labels[pick]
        if self.flips is not None:
            x = mirror_in_turn(x, self.flips, pick, self.epoch)
        if self.augment is not None:
            with self._lock:  # one at a time, in order: the random draws follow the seed
                x = keras.ops.convert_to_numpy(self.augment(x, training=True)).astype(np.float32)
        if self.transform is not None:
            x = self.transform(x)
        if self.classes:
            y = np.eye(self.classes, dtype=np.float32)[y]
        return x, y

    def starting_at(self, epoch: int, offset: int = 0) -> FolderBatches:
        """This split's batches from batch ``offset`` of ``epoch`` on (the same decoded images)."""
        copy = self._copy()
        copy.epoch, copy.offset = epoch, offset
        copy._set_order()
        return copy

    def plain(self, batch_size: int) -> FolderBatches:
        """The same images, shuffled in whole batches of ``batch_size``, not augmented, integer
        labels, whole batches in every process (precise BN's batches)."""
        copy = self._copy()
        copy.batch_size, copy.augment, copy.classes, copy.shard = (
            int(batch_size),
            None,
            None,
            (0, 1),
        )
        copy.flips = None
        copy.shuffle, copy.epoch, copy.offset = True, 0, 0
        copy._set_order()
        return copy

    def forever(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every batch of every epoch, reshuffled each epoch, without end."""
        while True:
            yield from self.once()
            self.on_epoch_end()

    def _copy(self) -> FolderBatches:
        copy = _copy.copy(self)
        copy._lock = threading.Lock()
        return copy

    def once(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass over the batches, as a generator (iterating the dataset itself never ends)."""
        return (self[i] for i in range(len(self)))

    def on_epoch_end(self) -> None:
        self.epoch, self.offset = self.epoch + 1, 0
        self._set_order()
