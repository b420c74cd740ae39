"""Batch-norm statistics that match the weights: re-estimating them on data (AdaBN, Li et al.
2016, before fine-tuning; precise BN, Wu & Johnson 2021, before every validation of a run)."""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, TypeAlias

import keras
import numpy as np

from kerascnn.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kerascnn._typing import Logs, Tensor

    #: One batch: images, or ``(images, labels)``.
    Batch: TypeAlias = "Tensor | Sequence[Tensor]"
    #: One batch through the model in training mode -> its batch-norm layers' batch statistics.
    BatchStatistics: TypeAlias = Callable[[Tensor], list[np.ndarray]]

__all__ = [
    "PreciseBN",
    "adapt_batch_norm",
    "batch_norm_layers",
    "precise_bn_batches",
    "walk_layers",
]

PRECISE_BN_SHARE = 0.1  # re-estimate on this share of an epoch's batches (a forward pass each)
PRECISE_BN_MAX = 200  # at most this many batches (precise BN needs ~10^4 images)


def walk_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """The layer and, for nested models, every layer inside it."""
    yield layer
    for sub in getattr(layer, "layers", ()):
        yield from walk_layers(sub)


def batch_norm_layers(
    model: keras.Model, *, trainable_only: bool = False
) -> list[keras.layers.BatchNormalization]:
    """Every ``BatchNormalization`` layer of ``model`` (nested ones too); ``trainable_only``:
    those that run in training mode when the model trains (frozen ones keep their statistics)."""
    found = [la for la in walk_layers(model) if isinstance(la, keras.layers.BatchNormalization)]
    return [la for la in found if la.trainable] if trainable_only else found


def adapt_batch_norm(
    model: keras.Model,
    data: Iterable[Batch],
    *,
    max_batches: int | None = None,
    layers: list[keras.layers.BatchNormalization] | None = None,
) -> int:
    """Set batch-norm moving statistics to their average over ``data``.

    Args:
        model: a Keras model.
        data: image batches or ``(images, labels)`` pairs, preprocessed for ``model``, each run
            in training mode; ``trainable`` flags and momentum are left as they were.
        max_batches: use at most this many batches.
        layers: the layers to adapt (default: every batch-norm layer of ``model``).

    Returns the number of layers adapted (0 when ``data`` is empty).
    """
    whole = isinstance(max_batches, int) and not isinstance(max_batches, bool)
    if max_batches is not None and not (whole and max_batches >= 1):
        raise UserError(f"max_batches must be a positive integer or None, got {max_batches!r}")
    layers = batch_norm_layers(model) if layers is None else layers
    if not layers:
        return 0
    others = [la for la in batch_norm_layers(model) if la not in layers]
    saved = [(layer, layer.momentum, layer.trainable) for layer in layers + others]
    # setting a layer's ``trainable`` sets every one of its variables' flags: keep each flag
    # (a batch-norm scale frozen on its own, as a recipe's fixed scale, stays frozen)
    flags = [(v, v.trainable) for layer in layers + others for v in layer.weights]
    moving = [v for la in layers for v in (la.moving_mean, la.moving_variance)]
    totals: list[np.ndarray] = []
    seen = 0
    try:
        for layer in layers:  # momentum 0: a batch's statistics replace the moving ones
            layer.trainable, layer.momentum = True, 0.0  # frozen batch norm runs in inference
        for layer in others:
            layer.trainable = False  # and these keep their statistics
        statistics = _compiled(model, layers, moving)
        for batch in islice(data, max_batches):
            images = batch[0] if isinstance(batch, tuple | list) else batch
            found = statistics(images)
            totals = found if not totals else [t + f for t, f in zip(totals, found, strict=True)]
            seen += 1
    finally:
        for layer, momentum, trainable in saved:
            layer.momentum, layer.trainable = momentum, trainable
        for variable, flag in flags:
            variable.trainable = flag
    if not seen:
        return 0
    for variable, total in zip(moving, totals, strict=True):  # the average over the batches
        variable.assign(total / seen)
    return len(layers)


_COMPILED: weakref.WeakKeyDictionary[keras.Model, tuple[tuple[int, ...], BatchStatistics]] = (
    weakref.WeakKeyDictionary()
)


def _compiled(
    model: keras.Model,
    layers: list[keras.layers.BatchNormalization],
    moving: list[keras.Variable],
) -> BatchStatistics:
    """``fn(images)``: one batch through ``model`` in training mode, compiled (``jax.jit``,
    ``tf.function``; eager on torch), returning each of ``moving``'s batch values; kept per
    model and layer set, as every call runs with the same flags and momentum 0."""
    key = tuple(id(la) for la in layers)
    cached = _COMPILED.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        variables = model.non_trainable_variables
        index = [next(i for i, v in enumerate(variables) if v is m) for m in moving]

        @jax.jit
        def run(
            trainable: list[jax.Array], non_trainable: list[jax.Array], images: jax.Array
        ) -> list[jax.Array]:
            _, updated = model.stateless_call(trainable, non_trainable, images, training=True)
            return [updated[i] for i in index]

        def fn(images: Tensor) -> list[np.ndarray]:
            trainable = [v.value for v in model.trainable_variables]
            out = run(trainable, [v.value for v in model.non_trainable_variables], images)
            return [np.asarray(a, np.float64) for a in out]
    else:
        call = lambda images: model(images, training=True)  # noqa: E731
        if backend == "tensorflow":
            import tensorflow as tf

            call = tf.function(call, reduce_retracing=True)

        def fn(images: Tensor) -> list[np.ndarray]:
            call(images)
            return [keras.ops.convert_to_numpy(v).astype(np.float64) for v in moving]

    _COMPILED[model] = (key, fn)
    return fn


def precise_bn_batches(steps_per_epoch: int) -> int:
    """How many batches precise BN uses: a tenth of an epoch, between 1 and 200."""
    return max(1, min(PRECISE_BN_MAX, math.ceil(steps_per_epoch * PRECISE_BN_SHARE)))


class PreciseBN(keras.callbacks.Callback):
    """Re-estimate the trainable batch-norm layers' statistics with the epoch's final weights,
    before its validation (or at its end when there is none), on ``batches`` un-augmented
    training batches from ``data()`` (an endless iterator, made once). The numbers logged for
    the epoch, ``best.keras`` and every later file then hold the same statistics.

    ``seconds`` holds the time spent per epoch (``benchmarks/precise_bn_cost.py``).
    """

    def __init__(self, data: Callable[[], Iterator[Batch]], batches: int) -> None:
        super().__init__()
        self.data, self.batches = data, int(batches)
        self.seconds: list[float] = []
        self._iterator: Iterator[Batch] | None = None
        self._done = False

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._done = False

    def on_test_begin(self, logs: Logs = None) -> None:
        self._reestimate()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self._reestimate()

    def _reestimate(self) -> None:
        if self._done:
            return
        self._done = True
        model = self.model
        layers = batch_norm_layers(model, trainable_only=True)
        if not layers:
            return
        start = time.perf_counter()
        if self._iterator is None:
            self._iterator = iter(self.data())
        adapt_batch_norm(model, self._iterator, max_batches=self.batches, layers=layers)
        self.seconds.append(time.perf_counter() - start)
