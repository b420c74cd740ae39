"""Fault tolerance: a training run killed with SIGKILL mid-epoch resumes at the step it reached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.image_folders import make_image_folder
from tests.snippets import TINY_MODEL

# A real training run through kerascnn.fit; the callback only slows each step
# down (so the test can kill it mid-epoch) and records how many steps each epoch ran.
SCRIPT = (
    TINY_MODEL
    + r"""
import json, logging, sys, time
import keras
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from kerascnn.training import engine as train
data, out, log = sys.argv[1:4]

class Slow(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.n = 0
    def on_train_batch_end(self, batch, logs=None):
        self.n += 1
        time.sleep(0.05)
    def on_epoch_end(self, epoch, logs=None):
        with open(log, "a") as f:
            f.write(json.dumps({"epoch": epoch, "steps": self.n}) + "\n")

h = train.fit(build, data, epochs=3, batch_size=4, learning_rate=0.01, image_size=(16, 16),
              output_dir=out, save_freq=4, optimizer="sgd", verbose=0, callbacks=[Slow()])
m = h.model
with open(out + "/final.json", "w") as f:
    json.dump({"iterations": int(m.optimizer.iterations.numpy()),
               "weights": [w.tolist() for w in m.get_weights()]}, f)
"""
)


def _command(data: Path, out: Path, log: Path) -> list[str]:
    return [sys.executable, "-c", SCRIPT, str(data), str(out), str(log)]


def _env() -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _epochs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _state(out: Path) -> dict | None:
    try:
        return json.loads((out / "backup" / "state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


@pytest.mark.slow  # 19 s; test_kill_resume (slow) kills at 20 moments
def test_sigkill_mid_epoch_resumes_at_the_step(tmp_path: Path):
    data = make_image_folder(tmp_path / "data", classes=3, per_class=20, size=16)
    from kerascnn.training.data import image_folder

    steps = -(-image_folder(data, (16, 16), 0.2, 0).count("train") // 4)  # batch 4

    out, log = tmp_path / "run", tmp_path / "epochs.jsonl"
    proc = subprocess.Popen(_command(data, out, log), env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None:  # wait for a backup in the middle of the second epoch
            state = _state(out)
            if state and state["epoch"] == 1 and 0 < state["step"] <= steps // 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed = _state(out)
    assert killed["epoch"] == 1 and 0 < killed["step"] < steps and not killed["finished"]
    assert [e["epoch"] for e in _epochs(log)] == [0]

    again = subprocess.run(
        _command(data, out, log), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming at epoch 2, step {killed['step']} of {steps}" in again.stdout
    epochs = _epochs(log)
    # the second epoch ran only its remaining steps, the third in full; none from scratch
    assert epochs[1:] == [
        {"epoch": 1, "steps": steps - killed["step"]},
        {"epoch": 2, "steps": steps},
    ]
    final = json.loads((out / "final.json").read_text())
    assert final["iterations"] == 3 * steps
    history = (out / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1", "2"]
    assert _state(out)["finished"] and (out / "model.keras").is_file()
    assert (out / "best.keras").is_file() and (out / "history.png").is_file()
    assert not list(out.glob(".*.tmp.*")), "a temporary file was left behind"

    # The same run without interruption ends with the same weights: same data, same steps.
    straight = tmp_path / "straight"
    subprocess.run(
        _command(data, straight, tmp_path / "straight.jsonl"), env=_env(), check=True, timeout=300
    )
    reference = json.loads((straight / "final.json").read_text())
    for a, b in zip(final["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("epochs", [3])
def test_finished_run_needs_resume_to_go_on(tmp_path: Path, epochs: int):
    from kerascnn.errors import UserError

    data = make_image_folder(tmp_path / "data", classes=2, per_class=6, size=16)
    from kerascnn.training import engine as train

    run = {
        "batch_size": 4,
        "image_size": (16, 16),
        "model_args": {"filters": (2,), "hidden": 4},
        "output_dir": tmp_path / "run",
    }
    train.fit("gesture_cnn", data, epochs=1, verbose=0, **run)
    with pytest.raises(UserError, match=r"pass resume=True"):
        train.fit("gesture_cnn", data, epochs=epochs, **run)
    history = train.fit("gesture_cnn", data, epochs=epochs, resume=True, verbose=0, **run)
    assert history.history["epoch"] == list(range(1, epochs))
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(e) for e in range(epochs)]
