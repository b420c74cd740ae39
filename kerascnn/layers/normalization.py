"""Local response normalisation (Krizhevsky et al., 2012, section 3.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
from keras import ops

if TYPE_CHECKING:
    from kerascnn._typing import Shape, Tensor

__all__ = ["LocalResponseNormalization"]


@keras.saving.register_keras_serializable(package="kerascnn")
class LocalResponseNormalization(keras.layers.Layer):
    """``b[c] = a[c] / (k + alpha * sum(a[c']**2 for c' within depth_radius of c)) ** beta``.

    The AlexNet paper's defaults (``n = 5`` channels: ``depth_radius=2``; ``k=2``,
    ``alpha=1e-4``, ``beta=0.75``). ``alpha`` multiplies the plain sum, as in the paper and
    ``tf.nn.local_response_normalization`` (Caffe and PyTorch divide it by ``n``).
    """

    def __init__(
        self,
        depth_radius: int = 2,
        bias: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if int(depth_radius) != depth_radius or depth_radius < 0:
            raise ValueError(f"depth_radius must be a non-negative integer, got {depth_radius!r}")
        self.depth_radius = int(depth_radius)
        self.bias, self.alpha, self.beta = float(bias), float(alpha), float(beta)

    def call(self, inputs: Tensor) -> Tensor:
        r, channels = self.depth_radius, inputs.shape[-1]
        padded = ops.pad(ops.square(inputs), [[0, 0]] * (len(inputs.shape) - 1) + [[r, r]])
        total = padded[..., 0:channels]
        for offset in range(1, 2 * r + 1):
            total = total + padded[..., offset : offset + channels]
        return inputs / ops.power(self.bias + self.alpha * total, self.beta)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
