"""Every private Keras API kerascnn relies on, in one place.

Keras 3 keeps some things kerascnn needs behind ``keras.src`` or underscored names.
Each one is reached only through a function here, and :data:`ENTRIES` says why it is
needed; ``tests/test_compat.py`` checks that every entry still exists in the installed
Keras and fails naming the entry when Keras moves one. Functions that set a private
attribute check first that Keras still has it, so a rename fails loudly instead of
setting an attribute nobody reads. Cheap to import: Keras is imported inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

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

# entry -> why kerascnn needs it (one line each; tests/test_compat.py checks each exists)
ENTRIES: dict[str, str] = {
    "keras.src.backend.tensorflow.trainer": (
        "the TensorFlow trainer module, whose reduce_per_replica is patched (keras#20585)"
    ),
    "keras.src.backend.tensorflow.trainer.reduce_per_replica": (
        "reduces scalar metrics with axis=0 under MultiWorkerMirroredStrategy (keras#20585)"
    ),
    "keras.src.backend.tensorflow.trainer._collective_all_reduce_multi_worker": (
        "the patched reduce applies Keras' own test for a multi-worker strategy"
    ),
    "keras.src.backend.tensorflow.trainer._is_per_replica_instance": (
        "the patched reduce leaves non-PerReplica values alone, as Keras does"
    ),
    "Model._symbolic_build": (
        "builds model, metrics and optimizer from a local batch before a distributed fit"
    ),
    "Model._maybe_symbolic_build": (
        "made a no-op: fit would pull a batch from a throw-away iterator (keras#20585)"
    ),
    "BackupAndRestore._should_save_on_batch": (
        "TrainingBackup keeps Keras' save_freq step counting for its mid-epoch checkpoints"
    ),
    "BackupAndRestore._batches_seen_since_last_saving": (
        "reset by TrainingBackup at train begin, since it restores in fit, not in the callback"
    ),
    "BackupAndRestore._last_batch_seen": (
        "reset by TrainingBackup at train begin and epoch end, as Keras' own callback does"
    ),
    "Sequential._functional": "the functional graph behind a built Sequential, to walk its layers",
    "Functional._run_through_graph": "layer_table walks a model's graph, calling its op per layer",
    "Functional._nodes_by_depth": "tells graph (functional) models from subclassed ones",
    "Functional._standardize_inputs": "puts the inputs in the structure the graph expects",
    "KerasTensor._keras_history": "the InputLayer behind each of a model's input tensors",
    "Layer._flatten_layers": "every layer, nested models included, to read their dtype policies",
    "Operation._inbound_nodes": "the calls of a nested model inside an outer model's graph",
}


def _require(obj: Any, name: str) -> None:
    if not hasattr(obj, name):
        import keras

        raise AttributeError(
            f"{type(obj).__name__}.{name} is gone in Keras {keras.__version__}: "
            f"kerascnn.compat needs updating ({name}: {_why(name)})"
        )


def _why(name: str) -> str:
    return next((why for entry, why in ENTRIES.items() if entry.endswith("." + name)), "?")


# --- tf.distribute (kerascnn.training.distribute) -----------------------------------------


def tf_trainer() -> ModuleType:
    """``keras.src.backend.tensorflow.trainer`` (needs the TensorFlow backend installed)."""
    # the only keras.src import: the module whose reduce_per_replica has keras#20585
    from keras.src.backend.tensorflow import trainer

    return trainer


def reduce_per_replica() -> Callable[[Any, Any, str], Any]:
    """Keras' current ``reduce_per_replica`` (the one ``fit`` calls for every step)."""
    return tf_trainer().reduce_per_replica


def set_reduce_per_replica(fn: Callable[[Any, Any, str], Any]) -> None:
    """Make ``fit`` reduce per-replica values with ``fn`` (a module-global patch)."""
    module = tf_trainer()
    _require(module, "reduce_per_replica")
    module.reduce_per_replica = fn


def is_multi_worker(strategy: Any) -> bool:
    """Whether Keras treats ``strategy`` as a multi-worker collective all-reduce one."""
    return bool(tf_trainer()._collective_all_reduce_multi_worker(strategy))


def is_per_replica(value: Any) -> bool:
    """Whether ``value`` is a ``PerReplica`` (or mirrored) distributed value."""
    return bool(tf_trainer()._is_per_replica_instance(value))


def symbolic_build(model: Any, data_batch: Any) -> None:
    """Build ``model``'s weights, loss, metrics and optimizer variables from ``data_batch``."""
    # no public API builds compiled metrics and optimizer together before fit
    model._symbolic_build(data_batch=data_batch)


def skip_symbolic_build(model: Any) -> None:
    """Stop ``fit``/``evaluate`` from building ``model`` again from their own iterator."""
    _require(model, "_maybe_symbolic_build")
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


# --- BackupAndRestore (kerascnn.training.callbacks.TrainingBackup) ------------------------


def should_save_on_batch(callback: Any, batch: int) -> bool:
    """``BackupAndRestore``'s own ``save_freq`` test for the end of ``batch`` (counts it)."""
    return bool(callback._should_save_on_batch(batch))


def reset_backup_counts(callback: Any, *, batches_since_save: bool = True) -> None:
    """Reset a ``BackupAndRestore``'s batch counters (a new epoch, or a new ``fit``)."""
    _require(callback, "_last_batch_seen")
    callback._last_batch_seen = 0
    if batches_since_save:
        _require(callback, "_batches_seen_since_last_saving")
        callback._batches_seen_since_last_saving = 0


# --- model graphs (kerascnn.analysis, kerascnn.transfer) ----------------------------------


def sequential_graph(model: Any) -> Any:
    """The functional model behind a built ``Sequential`` (``None`` if it has no input)."""
    return model._functional


def is_graph_model(model: Any) -> bool:
    """Whether ``model`` is a graph of layers (functional) that can be walked."""
    return hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth")


def standardize_inputs(model: Any, inputs: Any) -> Any:
    """``inputs`` in the structure ``model``'s graph expects."""
    if hasattr(model, "_standardize_inputs"):
        return model._standardize_inputs(inputs)
    return inputs


def run_through_graph(model: Any, inputs: Any, operation_fn: Callable[[Any], Any]) -> Any:
    """Run ``model``'s graph on ``inputs``, calling ``operation_fn(layer)(*args, **kwargs)``."""
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def history_operation(tensor: Any) -> Any:
    """The layer (operation) that produced a symbolic ``tensor``, e.g. its ``InputLayer``."""
    return tensor._keras_history.operation


def flatten_layers(model: Any) -> Iterable[Any]:
    """``model`` and every layer inside it, nested models included."""
    return model._flatten_layers()


def inbound_nodes(layer: Any) -> list[Any]:
    """The nodes where ``layer`` is called (one per call, in any graph)."""
    _require(layer, "_inbound_nodes")
    return list(layer._inbound_nodes)
