"""The classic input normalisations as Keras layers, fitted to training data with ``adapt()``:
mean colour/image subtraction and PCA/ZCA whitening. Their statistics are saved as weights."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import keras
import numpy as np
from keras import ops

if TYPE_CHECKING:
    from kerascnn._typing import Shape, Tensor

#: What ``adapt()`` takes: an array or tensor, or an iterable of batches (``(x, y)`` pairs: x).
AdaptData: TypeAlias = "Tensor | Iterable[Tensor | tuple[Tensor, ...] | list[Tensor]]"

__all__ = ["MeanSubtraction", "PixelAffine", "Whitening", "iterate_batches"]


def iterate_batches(data: AdaptData) -> Iterator[np.ndarray]:
    """Batches of inputs as float64 NumPy arrays, from an array, a tensor or an iterable
    of batches (a ``tf.data.Dataset``; ``(x, y)`` pairs use ``x``)."""
    if hasattr(data, "shape") and not isinstance(data, (list, tuple)):
        data = [data]
    elif not isinstance(data, Iterable):
        raise TypeError(f"adapt() needs an array or an iterable of batches, got {type(data)!r}")
    for batch in data:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        yield np.asarray(keras.ops.convert_to_numpy(batch), np.float64)


class _Adaptable(keras.layers.Layer):
    """A layer whose statistics come from ``adapt(data)``; before that it refuses to run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def _state(self, name: str, shape: Shape) -> keras.Variable:
        return self.add_weight(name=name, shape=shape, initializer="zeros", trainable=False)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape


@keras.saving.register_keras_serializable(package="kerascnn")
class MeanSubtraction(_Adaptable):
    """``x - mean``: the training data's mean colour (``mode="channel"``, VGG) or mean image
    (``mode="pixel"``, one value per pixel and channel, AlexNet); ``adapt(data)`` first."""

    def __init__(self, mode: str = "channel", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("channel", "pixel"):
            raise ValueError(f"mode must be 'channel' or 'pixel', got {mode!r}")
        self.mode = mode

    def build(self, input_shape: Shape) -> None:
        shape = (input_shape[-1],) if self.mode == "channel" else tuple(input_shape[1:])
        if any(d is None for d in shape):
            raise ValueError(f"MeanSubtraction(mode={self.mode!r}) needs a fixed input shape")
        self.mean = self._state("mean", shape)

    def adapt(self, data: AdaptData) -> None:
        """Compute the mean from ``data``: an array or an iterable of batches."""
        total, count = 0.0, 0
        for batch in iterate_batches(data):
            axes = tuple(range(batch.ndim - 1)) if self.mode == "channel" else 0
            total = total + batch.sum(axis=axes)
            count += batch[..., 0].size if self.mode == "channel" else len(batch)
            if not self.built:
                self.build((None, *batch.shape[1:]))
        if count == 0:
            raise ValueError("adapt() got no data")
        self.mean.assign(np.asarray(total / count).astype(self.mean.dtype))

    def call(self, inputs: Tensor) -> Tensor:
        return inputs - ops.cast(self.mean, inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="kerascnn")
class Whitening(_Adaptable):
    """PCA or ZCA whitening of each sample's flattened values (``D = H*W*C`` features):
    ``X -= mean; U, S, V = svd(X.T X / N); X_white = X U / sqrt(S + epsilon)``; ``"zca"`` rotates
    back (``X_white U.T``, the input shape), ``"pca"`` keeps ``components`` (default ``D``)
    features, largest variance first. The covariance is ``D x D``: for small inputs only."""

    def __init__(
        self, method: str = "zca", epsilon: float = 1e-5, components: int | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if method not in ("pca", "zca"):
            raise ValueError(f"method must be 'pca' or 'zca', got {method!r}")
        if components is not None and method != "pca":
            raise ValueError("components applies to method='pca' only")
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        self.method, self.epsilon, self.components = method, float(epsilon), components

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape[1:])
        if any(d is None for d in shape):
            raise ValueError("Whitening needs a fixed input shape")
        self._features = int(np.prod(cast("tuple[int, ...]", shape)))
        k = self.components or self._features
        if not 1 <= k <= self._features:
            raise ValueError(f"components must be in [1, {self._features}], got {k}")
        self.mean = self._state("mean", (self._features,))
        self.projection = self._state("projection", (self._features, k))

    def adapt(self, data: AdaptData) -> None:
        """Compute mean and covariance of ``data`` (array or batches), then the projection."""
        sum_x, sum_xx, count = 0.0, 0.0, 0
        for batch in iterate_batches(data):
            if not self.built:
                self.build((None, *batch.shape[1:]))
            x = batch.reshape(len(batch), -1)
            sum_x, sum_xx = sum_x + x.sum(0), sum_xx + x.T @ x
            count += len(x)
        if count == 0:
            raise ValueError("adapt() got no data")
        mean = np.asarray(sum_x / count)
        cov = sum_xx / count - np.outer(mean, mean)  # = (X - mean).T (X - mean) / N
        u, s, _ = np.linalg.svd(cov)
        scaled = u / np.sqrt(s + self.epsilon)  # X U / sqrt(S + eps)
        if self.method == "zca":
            projection = scaled @ u.T
        else:
            projection = scaled[:, : self.components or self._features]
        self.mean.assign(mean.astype(np.float32))
        self.projection.assign(projection.astype(np.float32))

    def call(self, inputs: Tensor) -> Tensor:
        x = ops.reshape(inputs, (-1, self._features))
        x = ops.matmul(x - ops.cast(self.mean, x.dtype), ops.cast(self.projection, x.dtype))
        return ops.reshape(x, ops.shape(inputs)) if self.method == "zca" else x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.method == "zca":
            return input_shape
        dims = cast("tuple[int, ...]", input_shape[1:])
        return (input_shape[0], self.components or int(np.prod(dims)))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "method": self.method,
            "epsilon": self.epsilon,
            "components": self.components,
        }


@keras.saving.register_keras_serializable(package="kerascnn")
class PixelAffine(keras.layers.Layer):
    """``x[..., ::-1 if bgr] * scale + offset`` per channel: a preprocessing mode as a layer
    (``kerascnn.preprocessing.PREPROCESSING[name].layer()``)."""

    def __init__(
        self,
        bgr: bool = False,
        scale: Sequence[float] = (1.0, 1.0, 1.0),
        offset: Sequence[float] = (0.0, 0.0, 0.0),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bgr = bool(bgr)
        self.scale = tuple(float(s) for s in scale)
        self.offset = tuple(float(o) for o in offset)

    def call(self, inputs: Tensor) -> Tensor:
        x = ops.cast(inputs, self.compute_dtype)
        if self.bgr:  # a gather, not a reversal: exported as ONNX Gather, which OpenCV runs
            x = ops.take(x, list(range(len(self.scale) - 1, -1, -1)), axis=-1)
        scale, offset = (ops.convert_to_tensor(v, x.dtype) for v in (self.scale, self.offset))
        return x * scale + offset

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "bgr": self.bgr, "scale": self.scale, "offset": self.offset}
