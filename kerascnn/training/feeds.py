"""What the engine feeds ``model.fit``: ``tf.data`` on TensorFlow, ``FolderBatches`` elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

import keras

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

    from kerascnn.preprocessing import Preprocessing
    from kerascnn.training.data import ImageFolder
    from kerascnn.training.plan import Plan
    from kerascnn.training.pydata import FolderBatches

__all__ = ["bn_batches", "datasets", "split_batches"]

#: Batches ``model.fit`` takes: a ``tf.data.Dataset`` on TensorFlow, else ``FolderBatches``.
Batches: TypeAlias = "tf.data.Dataset | FolderBatches"
#: ``(train_from, validation)``: ``train_from(step)`` -> the training batches from a global step
#: on and their ``steps_per_epoch`` (None: the batches' length); the validation batches or None.
Feeds: TypeAlias = "tuple[Callable[[int], tuple[Batches, int | None]], Batches | None]"


def _tf_transform(
    pre: Preprocessing,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """A ``Preprocessing`` as a ``tf.data`` map of ``(pixels, label)``."""
    import tensorflow as tf

    def fn(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.reverse(x, axis=[-1]) if pre.bgr else x
        return x * tf.constant(pre.scale) + tf.constant(pre.offset), y

    return fn


def _tf_datasets(plan: Plan, onehot: int | None) -> Feeds:
    import tensorflow as tf

    from kerascnn.training.data import batch_images

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    augment = plan.augment

    def prepare(ds: tf.data.Dataset, train: bool) -> tf.data.Dataset:
        if augment is not None and train:
            ds = ds.map(lambda x, y: (augment(x, training=True), y), tf.data.AUTOTUNE)
        if plan.transform is not None:
            ds = ds.map(_tf_transform(plan.transform), tf.data.AUTOTUNE)
        if onehot:
            ds = ds.map(lambda x, y: (x, tf.one_hot(y, onehot)), tf.data.AUTOTUNE)
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def train_from(step: int) -> tuple[Batches, int | None]:
        # a new dataset each time: its shuffle order depends on the seed only, as in a new process
        if plan.flips is None:
            stream = plan.folder.elements("train", repeat=True)
        else:
            from kerascnn.training.flips import tf_mirror_in_turn

            indexed = plan.folder.elements("train", repeat=True, indexed=True)
            stream = tf_mirror_in_turn(indexed, plan.flips)
        ds = prepare(batch_images(stream, plan.global_batch, drop_remainder=True), True)
        return ds.skip(step), plan.steps - step % plan.steps

    validation = None
    if plan.folder.files["validation"]:
        stream = plan.folder.elements("validation")
        validation = prepare(batch_images(stream, plan.global_batch), False)
    return train_from, validation


def _py_datasets(plan: Plan, onehot: int | None) -> Feeds:
    from kerascnn.training.pydata import FolderBatches

    devices = plan.strategy
    shard = (devices.process, devices.processes)
    base = FolderBatches(plan.folder, "train", plan.global_batch, augment=plan.augment,
                         transform=plan.transform, classes=onehot, shard=shard,
                         flips=plan.flips)  # fmt: skip

    def train_from(step: int) -> tuple[Batches, int | None]:
        return base.starting_at(*divmod(step, plan.steps)), None  # its length is the epoch

    validation = None
    if plan.folder.files["validation"]:
        validation = FolderBatches(plan.folder, "validation", plan.global_batch, classes=onehot,
                                   transform=plan.transform, shard=shard,
                                   multiple=devices.count)  # fmt: skip
    plan.py_train = base  # bn_batches reuses its decoded images
    return train_from, validation


def datasets(plan: Plan, settings: dict[str, Any]) -> Feeds:
    """``(train_from, validation)``: ``train_from(step)`` gives the shuffled, augmented training
    batches from a global step on, and their ``steps_per_epoch``; labels one-hot when smoothed;
    every split preprocessed by ``plan.transform``."""
    onehot = len(plan.folder.class_names) if settings["label_smoothing"] else None
    if keras.backend.backend() == "tensorflow":
        return _tf_datasets(plan, onehot)
    return _py_datasets(plan, onehot)


def bn_batches(plan: Plan, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless shuffled training batches, whole, not augmented, preprocessed: precise BN's."""
    if keras.backend.backend() == "tensorflow":
        from kerascnn.training.data import batch_images

        stream = plan.folder.elements("train", repeat=True)  # seeded: every worker agrees
        batches = batch_images(stream, batch_size, drop_remainder=True)
        if plan.transform is not None:
            batches = batches.map(_tf_transform(plan.transform))
        return iter(batches)
    from kerascnn.training.pydata import FolderBatches

    base = getattr(plan, "py_train", None)
    if base is None:
        base = FolderBatches(plan.folder, "train", batch_size, transform=plan.transform)
    return base.plain(batch_size).forever()


def split_batches(
    folder: ImageFolder, split: str, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``split`` in file order as NumPy ``(pixels, labels)`` batches: ``tf.data`` on TensorFlow,
    else ``FolderBatches`` decoding one batch at a time (memory stays one batch)."""
    if keras.backend.backend() == "tensorflow":
        return folder.dataset(split, batch_size=batch_size, shuffle=False).as_numpy_iterator()
    from kerascnn.training.pydata import FolderBatches

    return FolderBatches(folder, split, batch_size, shuffle=False, max_memory=0).once()
