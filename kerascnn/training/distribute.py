"""Choosing a ``tf.distribute`` strategy, and who is the chief, for ``kerascnn.training.engine``."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from kerascnn import compat
from kerascnn.errors import UserError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "fix_multiworker_reduce",
    "is_chief",
    "prebuild",
    "process_index",
    "resolve_strategy",
    "tf_config",
    "worker_id",
]

STRATEGIES = ("auto", "mirrored", "multiworker", "one")


def tf_config() -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` environment variable (``{}`` when unset)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"TF_CONFIG is not valid JSON ({exc}); fix or unset TF_CONFIG") from None
    if not isinstance(config, dict):
        raise UserError(
            f"TF_CONFIG must be a JSON object with 'cluster' and 'task', got a JSON "
            f"{type(config).__name__}; fix or unset TF_CONFIG"
        )
    return config


def resolve_strategy(strategy: str | tf.distribute.Strategy = "auto") -> tf.distribute.Strategy:
    """A ``tf.distribute.Strategy`` from a name (see ``STRATEGIES``) or an instance.

    ``"auto"``: multi-worker when ``TF_CONFIG`` names a cluster of several tasks, mirrored
    when several GPUs are visible, else ``"one"`` (the default strategy). ``"mirrored"``
    uses all GPUs, or all (logical) CPUs when there is none.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if strategy == "auto":
        cluster = tf_config().get("cluster") or {}
        if sum(len(v) for k, v in cluster.items() if k in ("chief", "worker")) > 1:
            strategy = "multiworker"
        else:
            strategy = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one"
    if strategy == "one":
        return tf.distribute.get_strategy()
    if strategy == "multiworker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot start MultiWorkerMirroredStrategy ({exc}); it must be created before "
                "TensorFlow runs any operation: pass a path or an ImageFolder as data"
            ) from None
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def prebuild(model: keras.Model, image_size: tuple[int, int], batch_size: int) -> None:
    """Build model, loss, metrics and optimizer from a local batch; skip Keras' own build step,
    from a throw-away iterator's batch: it fails under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585) and shifts the shuffle order."""
    import tensorflow as tf

    batch = (tf.zeros((batch_size, *image_size, 3)), tf.zeros((batch_size,), tf.int32))
    compat.symbolic_build(model, batch)
    compat.skip_symbolic_build(model)


def fix_multiworker_reduce() -> None:
    """Under ``MultiWorkerMirroredStrategy`` Keras 3 reduces scalar metrics with ``axis=0``
    ("Invalid reduction dimension 0", keras-team/keras#20585): average them with ``axis=None``."""
    import tensorflow as tf

    original = compat.reduce_per_replica()
    if getattr(original, "kerascnn_fix", False):
        return

    def reduce_per_replica(
        values: object, strategy: tf.distribute.Strategy, reduction: str
    ) -> object:
        if reduction in ("auto", "mean") and compat.is_multi_worker(strategy):

            def mean(v: object) -> object:
                if not compat.is_per_replica(v):
                    return v
                rank = strategy.experimental_local_results(v)[0].shape.rank
                return strategy.reduce("MEAN", v, axis=0 if rank else None)

            return tf.nest.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.kerascnn_fix = True  # type: ignore[attr-defined]
    compat.set_reduce_per_replica(reduce_per_replica)


def _cluster_task(
    strategy: tf.distribute.Strategy,
) -> tf.distribute.cluster_resolver.ClusterResolver | None:
    """The strategy's cluster resolver (``task_type``, ``task_id``), ``None`` outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver if resolver is not None and getattr(resolver, "task_type", None) else None


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, except non-chief multi-workers."""
    task = _cluster_task(strategy)
    if task is None or task.task_type == "chief":
        return True
    has_chief = "chief" in task.cluster_spec().as_dict()
    return task.task_type == "worker" and task.task_id == 0 and not has_chief


def process_index(strategy: tf.distribute.Strategy) -> int:
    """This task's index among the cluster's trainers (the chief first), 0 outside a cluster."""
    task = _cluster_task(strategy)
    if task is None:
        return 0
    chief = "chief" in task.cluster_spec().as_dict()
    return task.task_id + int(chief and task.task_type == "worker")


def worker_id(strategy: tf.distribute.Strategy) -> str:
    """``"<type>-<index>"`` of this task in a cluster, ``"local"`` otherwise."""
    task = _cluster_task(strategy)
    return "local" if task is None else f"{task.task_type}-{task.task_id}"
