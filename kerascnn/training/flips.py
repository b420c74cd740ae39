"""Alternating flips (airbench, Jordan 2024): each training image is mirrored in every other
epoch, starting from a random half of them, instead of by a fresh coin every epoch, so no
image is seen the same way twice in a row.

``augmentation={"flip": "alternate"}`` turns them on; both feeds (``tf.data`` and
``FolderBatches``) mirror image ``i`` of the split's entries in epoch ``e`` when
``first_flips(n, seed)[i] != (e % 2 == 1)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["ALTERNATE", "first_flips", "mirror_in_turn", "tf_mirror_in_turn"]

ALTERNATE = "alternate"  # the augmentation's flip value that asks for them


def first_flips(count: int, seed: int) -> np.ndarray:
    """Which of ``count`` images are mirrored in epoch 0, 2, 4...: a random half, by ``seed``."""
    return np.random.default_rng([seed, 0xF11B]).permutation(count) < count // 2


def mirror_in_turn(x: np.ndarray, first: np.ndarray, index: np.ndarray, epoch: int) -> np.ndarray:
    """The NHWC batch ``x`` of images ``index`` in ``epoch``, those whose turn it is mirrored.

    Args:
        x: the batch, channels last (a mirrored copy is returned).
        first: :func:`first_flips` of the whole split.
        index, epoch: each image's position in the split; the epoch, from 0.
    """
    turn = first[index] != bool(epoch % 2)
    x = np.array(x, copy=True)
    x[turn] = x[turn, :, ::-1]
    return x


def tf_mirror_in_turn(ds: tf.data.Dataset, first: np.ndarray) -> tf.data.Dataset:
    """A repeated stream of ``(image, label, index)``, each epoch ``len(first)`` elements,
    as ``(image, label)`` with the images whose turn it is mirrored."""
    import tensorflow as tf

    table, count = tf.constant(first), tf.constant(len(first), tf.int64)

    def turn(position: tf.Tensor, element: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, tf.Tensor]:
        image, label, index = element
        odd = tf.equal(tf.math.floormod(position // count, 2), 1)
        mirror = tf.not_equal(tf.gather(table, index), odd)
        return tf.cond(mirror, lambda: tf.reverse(image, [1]), lambda: image), label

    return ds.enumerate().map(turn, num_parallel_calls=tf.data.AUTOTUNE)
