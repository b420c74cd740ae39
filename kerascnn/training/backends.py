"""The devices a run trains on: a ``tf.distribute`` strategy on TensorFlow, a ``keras.distribution``
on JAX (``multiworker``: ``KERAS_DISTRIBUTION_*``), one device on PyTorch; ``strategy`` means
``"one"``, ``"mirrored"`` (all local devices), ``"multiworker"`` or ``"auto"`` on each."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from kerascnn.errors import UserError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import keras
    import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "Devices",
    "describe",
    "is_chief",
    "process_index",
    "resolve_devices",
    "worker_id",
]

STRATEGIES = ("auto", "mirrored", "multiworker", "one")
#: The devices of a run: a ``tf.distribute.Strategy`` on TensorFlow, else :class:`Devices`.
Strategy: TypeAlias = "tf.distribute.Strategy | Devices"


@dataclass
class Devices:
    """A JAX or PyTorch run's devices, with the parts of a strategy the engine uses."""

    backend: str
    distribution: keras.distribution.DataParallel | None = None  # None: one device
    count: int = 1
    process: int = 0
    processes: int = 1

    @property
    def num_replicas_in_sync(self) -> int:
        return self.count

    def scope(self) -> AbstractContextManager[object]:
        """Where variables are created: the distribution's scope (it is also set globally)."""
        return self.distribution.scope() if self.distribution else contextlib.nullcontext()


def _jax(strategy: str) -> Devices:
    import jax
    import keras

    processes = int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1") or 1)
    if strategy == "auto":
        multi = processes > 1
        strategy = "multiworker" if multi else "mirrored" if jax.device_count() > 1 else "one"
    if strategy == "multiworker":
        if processes < 2:
            raise UserError(
                "strategy multiworker needs KERAS_DISTRIBUTION_NUM_PROCESSES (>= 2), "
                "KERAS_DISTRIBUTION_PROCESS_ID and KERAS_DISTRIBUTION_JOB_ADDRESSES; set them"
            )
        # CPU devices of several processes exchange gradients through gloo; GPUs are unaffected
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        keras.distribution.initialize()
    if strategy == "one":
        return Devices("jax")
    devices = keras.distribution.list_devices()
    # FolderBatches gives each process its own part of every batch: no tf.data sharding
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    return Devices("jax", distribution, len(devices), jax.process_index(), jax.process_count())


def resolve_devices(strategy: str | Strategy = "auto") -> Strategy:
    """A ``tf.distribute.Strategy`` on TensorFlow, else :class:`Devices` (see the module doc)."""
    import keras

    backend = keras.backend.backend()
    if isinstance(strategy, Devices):
        return strategy
    if backend == "tensorflow":
        from kerascnn.training.distribute import resolve_strategy

        return resolve_strategy(strategy)
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if backend == "jax":
        return _jax(strategy)
    if backend == "torch":
        if strategy in ("mirrored", "multiworker"):
            raise UserError(
                f"strategy {strategy} is not available on the torch backend, which trains on "
                "one device; use --strategy one, or KERAS_BACKEND=jax or tensorflow"
            )
        return Devices("torch")
    raise UserError(
        f"the {backend} backend cannot train; set KERAS_BACKEND=tensorflow, jax or torch"
    )


def is_chief(strategy: Strategy) -> bool:
    """Whether this process writes the run's files (process 0, or the TF chief)."""
    if isinstance(strategy, Devices):
        return strategy.process == 0
    from kerascnn.training import distribute

    return distribute.is_chief(strategy)


def process_index(strategy: Strategy) -> int:
    """This process's index among those training together (0 in a one-process run)."""
    if isinstance(strategy, Devices):
        return strategy.process
    from kerascnn.training import distribute

    return distribute.process_index(strategy)


def worker_id(strategy: Strategy) -> str:
    """``"local"`` in a one-process run, else this process's name in the cluster."""
    if isinstance(strategy, Devices):
        return "local" if strategy.processes == 1 else f"process-{strategy.process}"
    from kerascnn.training import distribute

    return distribute.worker_id(strategy)


def describe(strategy: Strategy) -> str:
    """One line: backend · strategy or distribution · device count."""
    if isinstance(strategy, Devices):
        name = type(strategy.distribution).__name__ if strategy.distribution else "one device"
        backend, count = strategy.backend, strategy.count
    else:
        import tensorflow as tf

        name = type(strategy).__name__
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            name = "MultiWorkerMirroredStrategy"
        elif name.startswith("_Default"):
            name = "default strategy"
        backend, count = "tensorflow", strategy.num_replicas_in_sync
    return f"{backend} · {name} · {count} device{'s' if count != 1 else ''}"
