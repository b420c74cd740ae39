"""Gradient ascent on input images, shared by DeepDream and filter maximisation.

Only :func:`gradient_fn` is backend-specific; tiles, jitter and steps are NumPy on [0, 255] pixels.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import keras
import numpy as np

from kerascnn.errors import UserError
from kerascnn.preprocessing import get_preprocessing

if TYPE_CHECKING:
    import jax
    import tensorflow as tf

    from kerascnn._typing import Tensor

__all__ = [
    "ascend",
    "compute_precision",
    "feature_extractor",
    "gradient_fn",
    "min_input_side",
    "preprocess",
    "tile_slices",
    "tiled_gradient",
]

#: ``fn(x, *extra) -> (loss, dloss/dx)``: a batch of pixels and the objective's extra arrays.
GradientFn = Callable[..., tuple[float, np.ndarray]]
#: ``objective(features, *extra) -> loss``: the extractor's outputs (float32) and the extras.
Objective = Callable[..., "Tensor"]


def feature_extractor(model: keras.Model, layers: Sequence[str]) -> keras.Model:
    """A model returning the outputs of ``layers`` (a list), callable at any spatial size."""
    names = [layer.name for layer in model.layers]
    unknown = [n for n in layers if n not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"its layers: {', '.join(names)}"
        raise UserError(f"{model.name} has no layer {unknown[0]!r}; {hint}")
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in layers])
    extractor.input_spec = None  # convolutions take any height and width
    return extractor


def compute_precision(precision: str = "auto") -> str:
    """``"float32"`` or ``"bfloat16"``; ``"auto"``: bfloat16 on TensorFlow, AMX CPUs, no GPU."""
    if precision in ("float32", "bfloat16"):
        return precision
    if precision != "auto":
        raise UserError(f"unknown precision {precision!r}; use 'auto', 'float32' or 'bfloat16'")
    if keras.backend.backend() != "tensorflow":
        return "float32"
    from kerascnn._devices import accelerator, amx_cpu

    return "bfloat16" if amx_cpu() and not accelerator() else "float32"


def _in_bfloat16(extractor: keras.Model) -> keras.Model:
    """A copy of ``extractor`` computing in bfloat16 (weights kept in float32), sharing nothing."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = {**layer.get_config(), "dtype": "mixed_bfloat16"}
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(extractor, clone_function=clone)
    except (TypeError, ValueError, NotImplementedError):
        return extractor  # layers that cannot be rebuilt from their config: stay in float32
    copy.set_weights(extractor.get_weights())
    copy.input_spec = None
    return copy


def min_input_side(extractor: keras.Model) -> int:
    """The smallest height/width the extractor's downsampling layers leave non-empty."""
    return math.prod(
        int(max(getattr(layer, "strides", None) or (1,))) for layer in extractor.layers
    )


def preprocess(name: str, pixels: Tensor) -> Tensor:
    """Map RGB pixels in [0, 255] to a model's input with ``keras.ops`` (differentiable)."""
    mode = get_preprocessing(name)
    if name == "none":
        return pixels
    x = keras.ops.flip(pixels, axis=-1) if mode.bgr else pixels
    return x * keras.ops.convert_to_tensor(mode.scale) + keras.ops.convert_to_tensor(mode.offset)


def gradient_fn(
    extractor: keras.Model,
    objective: Objective,
    preprocessing: str = "none",
    precision: str = "auto",
) -> GradientFn:
    """``fn(x, *extra) -> (loss, dloss/dx)`` for ``objective(features, *extra)``, as NumPy.

    Args:
        extractor, objective: the features model; the loss of its outputs (as float32).
        preprocessing: maps ``x``, a batch of RGB pixels in [0, 255], to the model's input.
        precision: see :func:`compute_precision`. Compiled once per input shape.
    """
    get_preprocessing(preprocessing)
    if compute_precision(precision) == "bfloat16":
        extractor = _in_bfloat16(extractor)

    def loss(outputs: Tensor | Sequence[Tensor], *extra: Tensor) -> Tensor:
        features = [keras.ops.cast(o, "float32") for o in keras.tree.flatten(outputs)]
        return objective(features, *extra)

    def forward(x: Tensor, *extra: Tensor) -> Tensor:
        return loss(extractor([preprocess(preprocessing, x)], training=False), *extra)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(autograph=False)
        def step(x: tf.Tensor, *extra: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                loss = forward(x, *extra)
            return loss, tape.gradient(loss, x)

        # one trace per input shape, without retracing noise
        compiled: dict[tuple[object, ...], Callable[..., tuple[tf.Tensor, tf.Tensor]]] = {}

        def run(x: np.ndarray, *extra: Tensor) -> tuple[float, np.ndarray]:
            extra = tuple(tf.convert_to_tensor(e) for e in extra)
            key = (x.shape, *(tuple(e.shape) for e in extra))
            if key not in compiled:
                specs = [tf.TensorSpec(t.shape, t.dtype) for t in extra]
                compiled[key] = step.get_concrete_function(tf.TensorSpec(x.shape), *specs)
            loss, grad = compiled[key](tf.constant(x, tf.float32), *extra)
            return float(loss), grad.numpy()

    elif backend == "jax":
        import jax

        def stateless(
            x: jax.Array,
            trainable: list[jax.Array],
            non_trainable: list[jax.Array],
            *extra: jax.Array,
        ) -> Tensor:
            pixels = preprocess(preprocessing, x)
            return loss(extractor.stateless_call(trainable, non_trainable, [pixels])[0], *extra)

        step = jax.jit(jax.value_and_grad(stateless))
        trainable = [v.value for v in extractor.trainable_variables]
        non_trainable = [v.value for v in extractor.non_trainable_variables]

        def run(x: np.ndarray, *extra: Tensor) -> tuple[float, np.ndarray]:
            loss, grad = step(x, trainable, non_trainable, *extra)
            return float(loss), np.array(grad)  # writable

    elif backend == "torch":
        import torch

        def run(x: np.ndarray, *extra: Tensor) -> tuple[float, np.ndarray]:
            xt = keras.ops.convert_to_tensor(x).requires_grad_(True)
            loss = cast("torch.Tensor", forward(xt, *extra))  # the torch backend's tensor
            (grad,) = torch.autograd.grad(loss, xt)
            return float(loss.detach()), grad.detach().cpu().numpy()

    else:
        raise UserError(
            f"gradient ascent does not support the {backend!r} Keras backend; "
            "set KERAS_BACKEND to tensorflow, jax or torch"
        )
    return run


def tile_slices(size: int, tile: int, align: int = 1, minimum: int = 1) -> list[slice]:
    """Cut ``range(size)`` into near-equal tiles: at most two tile lengths, no slivers.

    Args:
        size, tile: the length to cut; the tile length to aim at (at most about).
        align, minimum: tiles start at multiples of ``align``; a shorter last tile is merged.
    """
    count = max(1, -(-size // max(tile, 1)))
    length = max(-(-size // count), minimum)
    length = -(-length // align) * align
    starts = list(range(0, size, length))
    if len(starts) > 1 and size - starts[-1] < max(align, minimum):
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], size], strict=True)]


def tiled_gradient(
    fn: GradientFn,
    image: np.ndarray,
    tile_size: int | None,
    *extra: Tensor,
    align: int = 1,
    minimum: int = 1,
    shift: tuple[int, ...] = (0, 0),
) -> tuple[float, np.ndarray]:
    """Loss and gradient of a batch ``image`` (N, H, W, C), one tile at a time.

    Tile losses are weighted by their share of the image: their sum is the untiled loss.

    Args:
        fn, extra: a :func:`gradient_fn` and its extra arguments.
        image, tile_size: the batch; the tile side (``None``: in one piece).
        align, minimum: as for :func:`tile_slices`.
        shift: ``(dy, dx)``: the gradient of the image rolled that far (``np.roll``), unrolled.
    """
    height, width = image.shape[1:3]
    dy, dx = shift
    if not tile_size and not (dy or dx):
        return fn(image, *extra)
    total, grad = 0.0, np.empty_like(image)
    for ys in tile_slices(height, tile_size or height, align, minimum):
        rows = (np.arange(ys.start, ys.stop) - dy) % height
        for xs in tile_slices(width, tile_size or width, align, minimum):
            cols = (np.arange(xs.start, xs.stop) - dx) % width
            share = (ys.stop - ys.start) * (xs.stop - xs.start) / (height * width)
            loss, g = fn(image[:, rows[:, None], cols], *extra)
            total += share * loss
            grad[:, rows[:, None], cols] = share * g
    return total, grad


def _mean_abs(grad: np.ndarray, rows: int = 256) -> np.ndarray:
    """Mean absolute value per image, (N, 1, 1, 1), summed in bands to avoid a full copy."""
    total = sum(
        np.abs(grad[:, r : r + rows]).sum(axis=(1, 2, 3), dtype=np.float64)
        for r in range(0, grad.shape[1], rows)
    )
    return (total / grad[0].size).reshape(-1, 1, 1, 1).astype(np.float32)


def ascend(
    fn: GradientFn,
    image: np.ndarray,
    *extra: Tensor,
    steps: int,
    step_size: float,
    tile_size: int | None = None,
    jitter: int = 0,
    max_loss: float | None = None,
    rng: np.random.Generator | None = None,
    align: int = 1,
    minimum: int = 1,
    callback: Callable[[int, float], None] | None = None,
) -> np.ndarray:
    """Run ``steps`` gradient-ascent steps on a batch of pixels, in place: each rolls the image
    at random, divides the tiled gradient by its mean absolute value and clips to [0, 255].

    Args:
        fn, image, extra, tile_size, align, minimum: as for :func:`tiled_gradient`.
        steps, step_size: the number of steps; the mean move (``step_size * 127.5`` pixels).
        jitter, rng: the largest random roll in pixels; its random generator.
        max_loss, callback: stop once the loss exceeds it; ``callback(step, loss)``.
    """
    rng = rng or np.random.default_rng()
    for i in range(steps):
        shift = tuple(map(int, rng.integers(-jitter, jitter + 1, size=2))) if jitter else (0, 0)
        loss, grad = tiled_gradient(
            fn, image, tile_size, *extra, align=align, minimum=minimum, shift=shift
        )
        if max_loss is not None and loss > max_loss:
            break
        scale = _mean_abs(grad)
        scale[scale == 0] = 1.0  # a flat objective: no move rather than a division by zero
        grad *= step_size * 127.5 / scale
        image += grad
        del grad
        np.clip(image, 0.0, 255.0, out=image)
        if callback is not None:
            callback(i, loss)
    return image
