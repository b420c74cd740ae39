"""Adaptive average pooling with PyTorch's bins, for inputs smaller than the output too."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import ops

if TYPE_CHECKING:
    from kerascnn._typing import Shape, Tensor

__all__ = ["AdaptiveAveragePooling"]


def _bins(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) averaging matrix: bin i covers [floor(i*n/m), ceil((i+1)*n/m))."""
    matrix = np.zeros((size_out, size_in), dtype="float32")
    for i in range(size_out):
        start = (i * size_in) // size_out
        end = math.ceil((i + 1) * size_in / size_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="kerascnn")
class AdaptiveAveragePooling(keras.layers.Layer):
    """Average-pool a channels-last feature map to ``output_size`` (height, width).

    The bins of ``torch.nn.AdaptiveAvgPool2d`` (torchvision weights behave the same at any
    input size); unlike Keras' own, it takes maps smaller than the output (values repeat).
    """

    def __init__(self, output_size: int | tuple[int, int] = 6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(int(s) for s in output_size)

    def call(self, inputs: Tensor) -> Tensor:
        h, w = inputs.shape[1], inputs.shape[2]
        if h is None or w is None:
            raise ValueError("AdaptiveAveragePooling needs a static input height and width")
        rows = ops.convert_to_tensor(_bins(h, self.output_size[0]), dtype=inputs.dtype)
        cols = ops.convert_to_tensor(_bins(w, self.output_size[1]), dtype=inputs.dtype)
        return ops.einsum("ih,bhwc,jw->bijc", rows, inputs, cols)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self.output_size, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_size": list(self.output_size)}
