"""What the engine feeds ``model.fit``: ``tf.data`` on TensorFlow, ``FolderBatches`` elsewhere."""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = ["bn_batches", "datasets", "split_batches"]


def _tf_datasets(plan: Any, onehot: int | None) -> tuple[Any, Any]:
    import tensorflow as tf

    from kerascnn.training.data import batch_images

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    augment = plan.augment

    def prepare(ds: Any, train: bool) -> Any:
        if augment is not None and train:
            ds = ds.map(lambda x, y: (augment(x, training=True), y), tf.data.AUTOTUNE)
        if onehot:
            ds = ds.map(lambda x, y: (x, tf.one_hot(y, onehot)), tf.data.AUTOTUNE)
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def train_from(step: int) -> tuple[Any, int]:
        # a new dataset each time: its shuffle order depends on the seed only, as in a new process
        stream = plan.folder.elements("train", repeat=True)
        ds = prepare(batch_images(stream, plan.global_batch, drop_remainder=True), True)
        return ds.skip(step), plan.steps - step % plan.steps

    validation = None
    if plan.folder.files["validation"]:
        stream = plan.folder.elements("validation")
        validation = prepare(batch_images(stream, plan.global_batch), False)
    return train_from, validation


def _py_datasets(plan: Any, onehot: int | None) -> tuple[Any, Any]:
    from kerascnn.training.pydata import FolderBatches

    devices = plan.strategy
    shard = (devices.process, devices.processes)

    def train_from(step: int) -> tuple[Any, None]:
        epoch, offset = divmod(step, plan.steps)
        batches = FolderBatches(
            plan.folder, "train", plan.global_batch, augment=plan.augment, classes=onehot,
            epoch=epoch, offset=offset, shard=shard,
        )  # fmt: skip
        return batches, None  # its length is the epoch

    validation = None
    if plan.folder.files["validation"]:
        validation = FolderBatches(plan.folder, "validation", plan.global_batch, classes=onehot,
                                   shard=shard, multiple=devices.count)  # fmt: skip
    return train_from, validation


def datasets(plan: Any, settings: dict[str, Any]) -> tuple[Any, Any]:
    """``(train_from, validation)``: ``train_from(step)`` gives the shuffled, augmented training
    batches from a global step on, and their ``steps_per_epoch``; labels one-hot when smoothed."""
    onehot = len(plan.folder.class_names) if settings["label_smoothing"] else None
    if keras.backend.backend() == "tensorflow":
        return _tf_datasets(plan, onehot)
    return _py_datasets(plan, onehot)


def bn_batches(plan: Any, batch_size: int) -> Any:
    """One pass over the training images, shuffled, in whole batches, not augmented."""
    if keras.backend.backend() == "tensorflow":
        from kerascnn.training.data import batch_images

        stream = plan.folder.elements("train", repeat=True)  # seeded: every worker agrees
        batches = batch_images(stream, batch_size, drop_remainder=True)
        return batches.take(math.ceil(plan.folder.count("train") / batch_size))
    from kerascnn.training.pydata import FolderBatches

    return FolderBatches(plan.folder, "train", batch_size).once()


def split_batches(folder: Any, split: str, batch_size: int) -> Any:
    """``split`` in file order as NumPy ``(pixels, labels)`` batches: ``tf.data`` on TensorFlow,
    else ``FolderBatches`` decoding one batch at a time (memory stays one batch)."""
    if keras.backend.backend() == "tensorflow":
        return folder.dataset(split, batch_size=batch_size, shuffle=False).as_numpy_iterator()
    from kerascnn.training.pydata import FolderBatches

    return FolderBatches(folder, split, batch_size, shuffle=False, max_memory=0).once()
