"""Killed at any moment, resumed without loss: ``kerascnn train`` is SIGKILLed at 20 moments
spread over one run (mid-step, inside a checkpoint write, between the weights and
``state.json``, inside ``best.keras`` and ``history.csv``/``.png`` writes, during precise BN, in
the final ``model.keras`` write), each time resumed by the same command (every other time with
``--resume``). After every kill: ``state.json`` names a checkpoint that exists, ``history.csv``
holds epochs 0..k-1 once each, no epoch before the backup's is missing from it and none it held
disappears, the backup never goes back. The last run finishes: every epoch once, in order, and
``model.keras``; no temporary file is left.

The kills are deterministic: ``tests/killpoint.py`` runs the CLI with library functions patched
to SIGKILL the process at their N-th call. On TensorFlow, and on JAX without TensorFlow (here
``import tensorflow`` blocked; with ``KERASCNN_NO_TF_PYTHON``, the Python of a virtual
environment without TensorFlow where ``kerascnn`` is installed, also for real).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.image_folders import make_image_folder

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
# One process after another, each killed at its moment (counted from its own start), each
# resuming where the one before stopped: from the first epoch to the run's last file.
KILLS = [
    "step@3",  # epoch 0, a step done, before its callbacks: the backup at step 2 stays
    "commit:best.keras@1",  # epoch 0 ends (the first epoch: best.keras is always written)
    "history@1",  # epoch 0 ends again: best.keras written, history.csv not
    "commit:history.csv@1",  # inside the history.csv write
    "commit:history.png@1",  # history.csv written, history.png not
    "committed:history.png@1",  # the epoch's files written, its end not backed up yet
    "h5:ckpt-*@5",  # inside the epoch-end checkpoint's weights write
    "committed:ckpt-*@1",  # between the weights file and state.json
    "commit:state.json@1",  # inside the state.json write
    "committed:state.json@1",  # state.json written, the older checkpoint not deleted yet
    "step@1",  # epoch 1, mid-step
    "committed:ckpt-*@1",  # the mid-epoch checkpoint written, state.json not
    "step@3",  # epoch 1 after its step-2 backup
    "h5:ckpt-*@1",  # the end of epoch 1: its first dataset
    "committed:state.json@1",  # epoch 1 backed up, the older checkpoint not deleted yet
    "step@2",  # the last epoch, before the step-2 backup
    "history@1",  # the last epoch ends: history.csv not written
    "bn@1",  # precise BN: batch-norm statistics half re-estimated
    "commit:model.keras@1",  # inside the final model.keras write
    "committed:model.keras@1",  # model.keras written, the backup not marked finished
]
# kerascnn finetune: 2 head epochs, then 1 with the top block unfrozen; its batch norm stays
# frozen (no precise BN to kill); the phase boundary is the end of epoch 1
FINETUNE_KILLS = [
    "step@3",  # the head phase, a step done
    "history@1",  # epoch 0 ends: history.csv not written
    "committed:ckpt-*@1",  # a checkpoint written, state.json not
    "step@2",  # epoch 1, before its step-2 backup
    "commit:history.csv@1",  # the head phase's last epoch ends: inside history.csv
    "committed:history.png@1",  # its files written, its end (the phase boundary) not backed up
    "h5:ckpt-*@1",  # inside the phase boundary's checkpoint
    "step@1",  # the finetune phase's first step (the backup holds the head phase's optimizer)
    "committed:state.json@1",  # a finetune-phase backup written, the older not deleted
    "commit:model.keras@1",  # inside the final model.keras write
]
BACKENDS = {
    "tensorflow": ({"KERAS_BACKEND": "tensorflow"}, None),
    "jax-tensorflow-blocked": ({"KERAS_BACKEND": "jax", "TENSORFLOW": "block"}, None),
    "jax-venv-without-tensorflow": ({"KERAS_BACKEND": "jax"}, "KERASCNN_NO_TF_PYTHON"),
}


def _train_args(data: Path, out: Path) -> list[str]:
    return ["train", "gesture_cnn", "--data", str(data), "--output", str(out),
            "--epochs", str(EPOCHS), "--batch-size", "4", "--save-freq", "2",
            "--seed", "1", "--image-size", "16", "16", "--arg", "filters=[2]", "--arg", "hidden=4",
            "--arg", "batch_norm=true", "--augment", "none", "--precise-bn"]  # fmt: skip


def _finetune_args(data: Path, out: Path) -> list[str]:
    import keras

    import kerascnn

    base = out.parent / "base.keras"
    if not base.is_file():
        keras.utils.set_random_seed(0)
        kerascnn.create_model("gesture_cnn", classes=2, input_shape=(16, 16, 3), filters=(2, 4),
                              hidden=4, batch_norm=True).save(base)  # fmt: skip
    return ["finetune", str(base), "--data", str(data), "--output", str(out),
            "--head-epochs", "2", "--finetune-epochs", "1", "--unfreeze", "top-1-blocks",
            "--batch-size", "4", "--save-freq", "2", "--seed", "1", "--no-augment"]  # fmt: skip


COMMANDS = {"train": (_train_args, KILLS), "finetune": (_finetune_args, FINETUNE_KILLS)}


def _state(out: Path) -> dict | None:
    path = out / "backup" / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _history(out: Path) -> list[int]:
    path = out / "history.csv"
    if not path.is_file():
        return []
    return [int(float(line.split(",")[0])) for line in path.read_text().splitlines()[1:]]


def _check(out: Path, before: tuple[list[int], dict | None], what: str) -> None:
    """The run folder a kill (or the last run) left: nothing lost, nothing dangling."""
    rows, state = _history(out), _state(out)
    assert rows == list(range(len(rows))), f"{what}: history.csv epochs {rows}"
    assert set(before[0]) <= set(rows), f"{what}: history.csv lost epochs: {before[0]} -> {rows}"
    if state is None:
        assert before[1] is None, f"{what}: state.json is gone"
        return
    weights = out / "backup" / state["weights"]
    assert weights.is_file(), f"{what}: state.json names {state['weights']}, which is missing"
    assert state["epoch"] <= len(rows) <= state["epoch"] + 1, (
        f"{what}: the backup is at epoch {state['epoch']} (step {state['step']}) but "
        f"history.csv holds epochs {rows}: a completed epoch is lost"
    )
    if before[1] is not None:
        old, new = (before[1]["epoch"], before[1]["step"]), (state["epoch"], state["step"])
        assert new >= old, f"{what}: the backup went back from {old} to {new}"


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("command_name", list(COMMANDS))
def test_sigkill_at_20_moments_then_resume_loses_nothing(
    tmp_path: Path, backend: str, command_name: str
) -> None:
    extra, python_var = BACKENDS[backend]
    python = sys.executable
    if python_var:
        python = os.environ.get(python_var, "")
        if not python:
            pytest.skip(f"set {python_var} to the python of a venv without TensorFlow")
    # seed 1 splits these 20 images 16 / 4: 4 steps an epoch (backups at step 2), a validation
    data = make_image_folder(tmp_path / "data", classes=2, per_class=10, size=16)
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "TENSORFLOW"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERASCNN_QUIET="1", **extra)
    make_args, kills = COMMANDS[command_name]
    args = make_args(data, out)
    for i, kill in enumerate([*kills, None]):
        resume = ["--resume"] if i % 2 else []
        spec = [kill] if kill else []
        command = [python, "-m", "tests.killpoint", *spec, "--", *args, *resume]
        before = (_history(out), _state(out))
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        what = f"after kill {i + 1} ({kill})" if kill else "the last run"
        if kill:
            assert done.returncode == -signal.SIGKILL and f"KILLPOINT {kill}" in done.stderr, (
                f"{what} was not reached (exit {done.returncode}): {done.stderr[-3000:]}"
            )
        else:
            assert done.returncode == 0, f"{what} failed: {done.stderr[-3000:]}"
        _check(out, before, what)
    assert _history(out) == list(range(EPOCHS))
    state = _state(out)
    assert state["finished"] and state["epoch"] == EPOCHS and state["step"] == 0
    assert (out / "model.keras").is_file() and (out / "best.keras").is_file()
    assert [p.name for p in (out / "backup").iterdir() if p.name.startswith("ckpt-")] == [
        state["weights"]
    ]
    left = [p.name for p in [*out.glob(".*.tmp.*"), *(out / "backup").glob(".*.tmp.*")]]
    assert not left, f"temporary files left behind: {left}"
