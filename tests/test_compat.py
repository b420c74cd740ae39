"""Every private Keras API kerascnn uses is still where ``kerascnn.compat`` expects it.

One probe per entry of ``kerascnn.compat.ENTRIES``: when Keras moves or renames one, the
failure names the entry and why kerascnn needs it. Then each compat function is run on
small real objects, and no module but ``kerascnn.compat`` may import ``keras.src``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kerascnn import compat

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Small Keras objects that carry the private attributes (built once)."""
    import keras

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)), name="outer")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path_factory.mktemp("backup")), save_freq=2)
    return {"model": model, "sequential": inner, "inputs": inputs, "backup": backup}


def _trainer(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda o: getattr(compat.tf_trainer(), name)


# entry -> how to reach it in the installed Keras (raises, or returns a falsy value, if gone)
PROBES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "keras.src.backend.tensorflow.trainer": lambda o: compat.tf_trainer(),
    "keras.src.backend.tensorflow.trainer.reduce_per_replica": _trainer("reduce_per_replica"),
    "keras.src.backend.tensorflow.trainer._collective_all_reduce_multi_worker": _trainer(
        "_collective_all_reduce_multi_worker"
    ),
    "keras.src.backend.tensorflow.trainer._is_per_replica_instance": _trainer(
        "_is_per_replica_instance"
    ),
    "Model._symbolic_build": lambda o: o["model"]._symbolic_build,
    "Model._maybe_symbolic_build": lambda o: o["model"]._maybe_symbolic_build,
    "BackupAndRestore._should_save_on_batch": lambda o: o["backup"]._should_save_on_batch,
    "BackupAndRestore._batches_seen_since_last_saving": lambda o: hasattr(
        o["backup"], "_batches_seen_since_last_saving"
    ),
    "BackupAndRestore._last_batch_seen": lambda o: hasattr(o["backup"], "_last_batch_seen"),
    "Sequential._functional": lambda o: o["sequential"]._functional,
    "Functional._run_through_graph": lambda o: o["model"]._run_through_graph,
    "Functional._nodes_by_depth": lambda o: o["model"]._nodes_by_depth,
    "Functional._standardize_inputs": lambda o: o["model"]._standardize_inputs,
    "KerasTensor._keras_history": lambda o: o["inputs"]._keras_history.operation,
    "Layer._flatten_layers": lambda o: o["model"]._flatten_layers,
    "Operation._inbound_nodes": lambda o: o["sequential"]._inbound_nodes,
}


def test_every_entry_has_a_probe_and_a_reason() -> None:
    assert set(PROBES) == set(compat.ENTRIES), (
        "tests/test_compat.py PROBES and kerascnn.compat.ENTRIES list different entries: "
        f"{sorted(set(PROBES) ^ set(compat.ENTRIES))}"
    )
    for entry, why in compat.ENTRIES.items():
        assert why.strip() and "\n" not in why, f"{entry}: needs a one-line reason"


@pytest.mark.parametrize("entry", sorted(compat.ENTRIES))
def test_entry_exists_in_installed_keras(entry: str, objects: dict[str, Any]) -> None:
    import keras

    where = f"Keras {keras.__version__} moved or removed {entry}"
    try:
        found = PROBES[entry](objects)
    except (AttributeError, ImportError) as exc:
        pytest.fail(f"{where} ({exc}); kerascnn needs it: {compat.ENTRIES[entry]}")
    assert found, f"{where}; kerascnn needs it: {compat.ENTRIES[entry]}"


def test_graph_helpers(objects: dict[str, Any]) -> None:
    import keras

    model, inner = objects["model"], objects["sequential"]
    assert compat.is_graph_model(model) and compat.is_graph_model(compat.sequential_graph(inner))
    assert not compat.is_graph_model(keras.layers.Dense(1))
    assert type(compat.history_operation(model.inputs[0])).__name__ == "InputLayer"
    assert inner in list(compat.flatten_layers(model))
    assert compat.inbound_nodes(inner), "no node for inner's call inside outer"
    seen: list[str] = []

    def operation_fn(op: Any) -> Any:
        seen.append(op.name)
        return op

    spec = keras.KerasTensor((None, 4))
    out = compat.run_through_graph(model, compat.standardize_inputs(model, spec), operation_fn)
    assert tuple(out.shape) == (None, 2) and "inner" in seen


def test_backup_counters(objects: dict[str, Any]) -> None:
    backup = objects["backup"]  # save_freq=2
    compat.reset_backup_counts(backup)
    assert [compat.should_save_on_batch(backup, b) for b in range(4)] == [False, True] * 2
    compat.should_save_on_batch(backup, 4)
    compat.reset_backup_counts(backup)
    assert not compat.should_save_on_batch(backup, 0)


def test_setting_a_missing_attribute_fails_loudly() -> None:
    with pytest.raises(AttributeError, match="_last_batch_seen.*kerascnn.compat"):
        compat.reset_backup_counts(object())
    with pytest.raises(AttributeError, match="_maybe_symbolic_build"):
        compat.skip_symbolic_build(object())


def test_symbolic_build_and_skip() -> None:
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    compat.symbolic_build(model, (np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32")))
    assert model.built and model.optimizer.built and model.optimizer.variables
    compat.skip_symbolic_build(model)
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), epochs=1, verbose=0)


def test_reduce_per_replica_patch_round_trip() -> None:
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    assert not compat.is_multi_worker(strategy)
    assert not compat.is_per_replica(tf.constant(1.0))
    original = compat.reduce_per_replica()
    try:
        compat.set_reduce_per_replica(lambda values, strategy, reduction: "patched")
        assert compat.tf_trainer().reduce_per_replica(None, strategy, "auto") == "patched"
    finally:
        compat.set_reduce_per_replica(original)
    assert compat.reduce_per_replica() is original


def _keras_src_uses(path: Path) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith("keras.src") else []
        if any(n == "keras.src" or n.startswith("keras.src.") for n in names):
            uses.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return uses


def test_only_compat_imports_keras_src() -> None:
    compat_file = REPO / "kerascnn" / "compat.py"
    offenders = [
        use
        for folder in ("kerascnn", "zoo", "cli")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != compat_file
        for use in _keras_src_uses(path)
    ]
    assert not offenders, "keras.src used outside kerascnn.compat: " + ", ".join(offenders)


def test_compat_is_cheap_to_import() -> None:
    code = (
        "import sys, kerascnn.compat\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]", f"importing kerascnn.compat imported {out.stdout.strip()}"
