"""Every private Keras API kerascnn relies on, in one place, each with its reason in
:data:`ENTRIES`; a missing one raises an ``AttributeError`` naming it (``tests/test_compat.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    # Keras' reduce_per_replica(values, strategy, reduction): a structure of values in and out
    ReduceFn = Callable[[object, tf.distribute.Strategy, str], object]

    class Node(Protocol):
        """A call of a layer in a graph (``keras.src.ops.node.Node``)."""

        output_tensors: list[keras.KerasTensor]


__all__ = [
    "ENTRIES",
    "flatten_layers",
    "history_operation",
    "inbound_nodes",
    "is_graph_model",
    "is_multi_worker",
    "is_per_replica",
    "reduce_per_replica",
    "reset_backup_counts",
    "run_through_graph",
    "sequential_graph",
    "set_reduce_per_replica",
    "should_save_on_batch",
    "skip_symbolic_build",
    "standardize_inputs",
    "symbolic_build",
    "tf_trainer",
]

_TRAINER = "keras.src.backend.tensorflow.trainer"
# entry -> why kerascnn needs it (one line each; tests/test_compat.py checks each exists)
ENTRIES: dict[str, str] = {
    _TRAINER: "the TensorFlow trainer, whose reduce_per_replica is patched (keras#20585)",
    f"{_TRAINER}.reduce_per_replica": "reduces scalar metrics with axis=0 (keras#20585)",
    f"{_TRAINER}._collective_all_reduce_multi_worker": "the patch applies Keras' multi-worker test",
    f"{_TRAINER}._is_per_replica_instance": "the patch leaves non-PerReplica values alone",
    "Model._symbolic_build": "builds model, metrics and optimizer from a local batch before fit",
    "Model._maybe_symbolic_build": "a no-op: fit would pull a batch from a throw-away iterator",
    "BackupAndRestore._should_save_on_batch": "TrainingBackup keeps Keras' save_freq counting",
    "BackupAndRestore._batches_seen_since_last_saving": "reset by TrainingBackup at train begin",
    "BackupAndRestore._last_batch_seen": "reset by TrainingBackup at train begin and epoch end",
    "Sequential._functional": "the functional graph behind a built Sequential, to walk its layers",
    "Functional._run_through_graph": "layer_table walks a model's graph, calling its op per layer",
    "Functional._nodes_by_depth": "tells graph (functional) models from subclassed ones",
    "Functional._standardize_inputs": "puts the inputs in the structure the graph expects",
    "KerasTensor._keras_history": "the InputLayer behind each of a model's input tensors",
    "Layer._flatten_layers": "every layer, nested models included, to read their dtype policies",
    "Operation._inbound_nodes": "the calls of a nested model inside an outer model's graph",
}


def _require(obj: object, name: str) -> Any:
    """``obj.<name>``, or an ``AttributeError`` naming the entry when Keras dropped it."""
    if not hasattr(obj, name):
        import keras

        why = next((w for entry, w in ENTRIES.items() if entry.endswith("." + name)), "?")
        raise AttributeError(
            f"{type(obj).__name__}.{name} is gone in Keras {keras.__version__}: "
            f"kerascnn.compat needs updating ({name}: {why})"
        )
    return getattr(obj, name)


def tf_trainer() -> ModuleType:
    """``keras.src.backend.tensorflow.trainer`` (needs TensorFlow): the only ``keras.src`` use."""
    from keras.src.backend.tensorflow import trainer

    return trainer


def reduce_per_replica() -> ReduceFn:
    """Keras' current ``reduce_per_replica`` (the one ``fit`` calls for every step)."""
    return _require(tf_trainer(), "reduce_per_replica")


def set_reduce_per_replica(fn: ReduceFn) -> None:
    """Make ``fit`` reduce per-replica values with ``fn`` (a module-global patch)."""
    reduce_per_replica()  # fails loudly if Keras renamed it
    tf_trainer().reduce_per_replica = fn  # type: ignore[attr-defined]  # a module global


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether Keras treats ``strategy`` as a multi-worker collective all-reduce one."""
    return bool(_require(tf_trainer(), "_collective_all_reduce_multi_worker")(strategy))


def is_per_replica(value: object) -> bool:
    """Whether ``value`` is a ``PerReplica`` (or mirrored) distributed value."""
    return bool(_require(tf_trainer(), "_is_per_replica_instance")(value))


def symbolic_build(model: keras.Model, data_batch: object) -> None:
    """Build ``model``'s weights, loss, metrics and optimizer variables from ``data_batch``."""
    _require(model, "_symbolic_build")(data_batch=data_batch)


def skip_symbolic_build(model: keras.Model) -> None:
    """Stop ``fit``/``evaluate`` from building ``model`` again from their own iterator."""
    _require(model, "_maybe_symbolic_build")
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def should_save_on_batch(callback: keras.callbacks.BackupAndRestore, batch: int) -> bool:
    """``BackupAndRestore``'s own ``save_freq`` test for the end of ``batch`` (counts it)."""
    return bool(_require(callback, "_should_save_on_batch")(batch))


def reset_backup_counts(
    callback: keras.callbacks.BackupAndRestore, *, batches_since_save: bool = True
) -> None:
    """Reset a ``BackupAndRestore``'s batch counters (a new epoch, or a new ``fit``)."""
    _require(callback, "_last_batch_seen")
    callback._last_batch_seen = 0
    if batches_since_save:
        _require(callback, "_batches_seen_since_last_saving")
        callback._batches_seen_since_last_saving = 0


def sequential_graph(model: keras.Sequential) -> keras.Model | None:
    """The functional model behind a built ``Sequential`` (``None`` if it has no input)."""
    return _require(model, "_functional")


def is_graph_model(model: object) -> bool:
    """Whether ``model`` is a graph of layers (functional) that can be walked."""
    return hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth")


def standardize_inputs(model: keras.Model, inputs: object) -> object:
    """``inputs`` in the structure ``model``'s graph expects."""
    return model._standardize_inputs(inputs) if hasattr(model, "_standardize_inputs") else inputs


def run_through_graph(
    model: keras.Model,
    inputs: object,
    operation_fn: Callable[[keras.Operation], Callable[..., object]],
) -> object:
    """Run ``model``'s graph on ``inputs``, calling ``operation_fn(layer)(*args, **kwargs)``."""
    return _require(model, "_run_through_graph")(inputs, operation_fn=operation_fn)


def history_operation(tensor: keras.KerasTensor) -> keras.Operation:
    """The layer (operation) that produced a symbolic ``tensor``, e.g. its ``InputLayer``."""
    return _require(tensor, "_keras_history").operation


def flatten_layers(model: keras.Model) -> Iterable[keras.layers.Layer]:
    """``model`` and every layer inside it, nested models included."""
    return _require(model, "_flatten_layers")()


def inbound_nodes(layer: keras.Operation) -> list[Node]:
    """The nodes where ``layer`` is called (one per call, in any graph)."""
    return list(_require(layer, "_inbound_nodes"))
