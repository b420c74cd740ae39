"""Commands keep TensorFlow's native log lines off the terminal unless asked (`--verbose` or
`TF_CPP_MIN_LOG_LEVEL=0`), and stderr stays the terminal it was (progress bars stay live)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from kerascnn.cli._quiet import NATIVE_LOG_LINE, shows_native
from tests.image_folders import make_image_folder
from tests.test_progress_tty import on_terminal

EXAMPLE = str(Path(str(resources.files("kerascnn.zoo"))) / "examples" / "sign_digit_5.jpg")
PREDICT = ["predict", "gesture_cnn:sign-digits", EXAMPLE, "--top", "1"]


def _kerascnn(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", *args],
        env={**environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_filter_knows_tensorflows_lines():
    for line in (
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1796178665.936981    8630 port.cc:153] oneDNN custom operations are on.",
        b"E0000 00:00:1796178668.671601    8630 cuda_platform.cc:52] failed call to cuInit: x",
    ):
        assert NATIVE_LOG_LINE.match(line)
    for line in (b"Error: x; y", b"Epoch 1/3", b"skipped a.jpg: broken", b"I like it"):
        assert not NATIVE_LOG_LINE.match(line)


@pytest.mark.parametrize(
    ("verbose", "level", "shown"),
    [(False, None, False), (False, "", False), (False, "1", False), (False, "3", False),
     (False, "0", True), (True, None, True), (True, "3", True)],
)  # fmt: skip
def test_only_verbose_or_level_0_shows_native_lines(verbose, level, shown):
    assert shows_native(verbose, {} if level is None else {"TF_CPP_MIN_LOG_LEVEL": level}) is shown


@pytest.mark.parametrize("level", [None, "3"])  # 3: once the filter turned itself off
def test_predict_prints_no_native_log_lines(level):
    done = _kerascnn(*PREDICT, **({} if level is None else {"TF_CPP_MIN_LOG_LEVEL": level}))
    assert done.returncode == 0 and "5" in done.stdout, done.stderr
    assert done.stderr == ""


def test_train_at_a_users_level_prints_no_native_log_lines(tmp_path):
    data = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    done = _kerascnn(
        "train", "gesture_cnn", "--data", str(data), "--epochs", "1", "--image-size", "16", "16",
        "--arg", "filters=[4]", "--output", str(tmp_path / "run"), TF_CPP_MIN_LOG_LEVEL="2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if "0000 " in line or "absl" in line]


@pytest.mark.slow  # the quiet tests cover the filter
def test_verbose_or_level_0_shows_them():
    loud = _kerascnn("--verbose", *PREDICT)
    assert loud.returncode == 0 and "absl::InitializeLog" in loud.stderr
    assert "absl::InitializeLog" in _kerascnn(*PREDICT, TF_CPP_MIN_LOG_LEVEL="0").stderr


def test_stderr_stays_a_terminal_once_tensorflow_is_imported():
    """Level 1 hides INFO only: the CUDA probe's error line (written when TensorFlow first
    lists its devices, after the import) must be filtered too."""
    script = (
        "import os, sys\n"
        "from kerascnn.cli._quiet import hide_native_logs\n"
        "hide_native_logs()\n"
        "import tensorflow as tf\n"
        "print('tty', os.isatty(2), sys.stderr.isatty(), flush=True)\n"
        "print(float(tf.reduce_sum(tf.ones(3))), file=sys.stderr)\n"
    )
    run = on_terminal([sys.executable, "-c", script], TF_CPP_MIN_LOG_LEVEL="1")
    assert run.returncode == 0, run.text
    assert run.plain.split() == ["tty", "True", "True", "3.0"], run.text
