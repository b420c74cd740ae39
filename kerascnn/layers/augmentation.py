"""Augmentations of the classic papers that ``keras.layers`` lacks (training only; identity at
inference), and :func:`classic_augmentation`, which chains them with Keras' own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import ops

from kerascnn.layers.preprocessing import iterate_batches

if TYPE_CHECKING:
    from kerascnn._typing import Shape, Tensor
    from kerascnn.layers.preprocessing import AdaptData

__all__ = ["PCAColorJitter", "PaddedRandomCrop", "classic_augmentation"]


@keras.saving.register_keras_serializable(package="kerascnn")
class PaddedRandomCrop(keras.layers.Layer):
    """Pad by ``padding`` pixels on each side (``mode``: ``"constant"`` zeros or ``"reflect"``),
    then crop a random window of the input's size, one per image: the CIFAR-10 augmentation
    (4 pixels around 32x32 images, Krizhevsky 2009; He et al. 2016)."""

    def __init__(self, padding: int = 4, mode: str = "constant", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if int(padding) != padding or padding < 0:
            raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
        if mode not in ("constant", "reflect"):
            raise ValueError(f"mode must be 'constant' or 'reflect', got {mode!r}")
        self.padding, self.mode, self.seed = int(padding), mode, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.padding == 0:
            return inputs
        p = self.padding
        padded = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode=self.mode)
        batch = ops.shape(inputs)[0]
        offsets = keras.random.randint((batch, 2), 0, 2 * p + 1, seed=self.seed_generator)
        # gather rows then columns with per-image offsets (no per-image Python loop)
        rows = offsets[:, 0:1] + ops.arange(inputs.shape[1])[None, :]  # (batch, height)
        cols = offsets[:, 1:2] + ops.arange(inputs.shape[2])[None, :]  # (batch, width)
        out = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(out, cols[:, None, :, None], axis=2)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "padding": self.padding,
            "mode": self.mode,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerascnn")
class PCAColorJitter(keras.layers.Layer):
    """AlexNet's colour augmentation (Krizhevsky et al. 2012, section 4.1): adds ``[p1, p2, p3]
    @ [a1 * l1, a2 * l2, a3 * l3]`` to every pixel of an image, ``p_i, l_i`` the eigenvectors and
    eigenvalues of the training pixels' RGB covariance (``adapt()``), ``a_i ~ N(0, std)`` drawn
    once per image (``std=0.1`` in the paper)."""

    def __init__(self, std: float = 0.1, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std!r}")
        self.std, self.seed = float(std), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: Shape) -> None:
        if input_shape[-1] != 3:
            raise ValueError(f"PCAColorJitter needs RGB inputs, got {input_shape[-1]} channels")
        # columns: eigenvectors scaled by their eigenvalues
        self.components = self.add_weight(
            name="components", shape=(3, 3), initializer="zeros", trainable=False
        )

    def adapt(self, data: AdaptData) -> None:
        """Eigen-decompose the RGB covariance of all pixels of ``data`` (array or batches)."""
        total, outer, count = np.zeros(3), np.zeros((3, 3)), 0
        for batch in iterate_batches(data):
            pixels = batch.reshape(-1, 3)
            total += pixels.sum(0)
            outer += pixels.T @ pixels
            count += len(pixels)
        if not count:
            raise ValueError("adapt() got no data")
        mean = total / count
        values, vectors = np.linalg.eigh(outer / count - np.outer(mean, mean))
        if not self.built:
            self.build((None, None, None, 3))
        self.components.assign((vectors * np.clip(values, 0, None)).astype("float32"))

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.std == 0:
            return inputs
        batch = ops.shape(inputs)[0]
        alpha = keras.random.normal((batch, 3), stddev=self.std, seed=self.seed_generator)
        shift = ops.matmul(alpha, ops.transpose(ops.cast(self.components, alpha.dtype)))
        return inputs + ops.cast(shift, inputs.dtype)[:, None, None, :]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "std": self.std, "seed": self.seed}


def classic_augmentation(
    *,
    crop: tuple[int, int] | None = None,
    pad: int = 0,
    pad_mode: str = "constant",
    flip: bool = True,
    translation: float = 0.0,
    zoom: float = 0.0,
    rotation: float = 0.0,
    brightness: float = 0.0,
    contrast: float = 0.0,
    noise: float = 0.0,
    value_range: tuple[float, float] = (0, 255),
    seed: int | None = None,
) -> keras.Sequential:
    """A ``keras.Sequential`` of the usual augmentations, in the usual order.

    Args:
        crop, pad: random crop, e.g. ``(224, 224)`` (center crop at inference); padded
            random crop, e.g. ``4``.
        pad_mode: ``"constant"`` (zeros) or ``"reflect"`` padding of the padded crop.
        flip: horizontal mirror.
        translation, zoom, rotation: factors of Keras' random layers (edges: nearest pixel).
        brightness, contrast: factors of ``RandomBrightness`` and ``RandomContrast``.
        noise: standard deviation of Gaussian noise in pixel units (``8`` = 8 of 255 levels).
        value_range, seed: the pixels' range; the random seed.
    """
    steps: list[keras.layers.Layer] = []
    if crop:
        steps.append(keras.layers.RandomCrop(*crop, seed=seed))
    if pad:
        steps.append(PaddedRandomCrop(pad, pad_mode, seed=seed))
    if flip:
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if translation:
        steps.append(keras.layers.RandomTranslation(translation, translation, "nearest", seed=seed))
    if zoom:
        steps.append(keras.layers.RandomZoom(zoom, fill_mode="nearest", seed=seed))
    if rotation:
        steps.append(keras.layers.RandomRotation(rotation, fill_mode="nearest", seed=seed))
    if brightness:
        steps.append(keras.layers.RandomBrightness(brightness, value_range=value_range, seed=seed))
    if contrast:
        steps.append(keras.layers.RandomContrast(contrast, value_range=value_range, seed=seed))
    if noise:  # Keras' GaussianNoise takes stddev <= 1: add it on pixels scaled to [0, 1]
        scale = float(value_range[1] - value_range[0])
        if not 0 < noise <= scale:
            raise ValueError(f"noise must be in (0, {scale:g}] (pixel units), got {noise!r}")
        steps += [
            keras.layers.Rescaling(1 / scale),
            keras.layers.GaussianNoise(noise / scale, seed=seed),
            keras.layers.Rescaling(scale),
        ]
    return keras.Sequential(steps, name="augmentation")
