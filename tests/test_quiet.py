"""Commands keep TensorFlow's native log lines off the terminal unless asked (`--verbose`)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

from kerascnn.cli._quiet import NATIVE_LOG_LINE
from tests.image_folders import make_image_folder

EXAMPLE = str(Path(str(resources.files("kerascnn.zoo"))) / "examples" / "sign_digit_5.jpg")


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


def test_predict_and_train_print_no_native_log_lines(tmp_path):
    done = _kerascnn("predict", "gesture_cnn:sign-digits", EXAMPLE, "--top", "1")
    assert done.returncode == 0 and "5" in done.stdout, done.stderr
    assert done.stderr == ""
    data = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    done = _kerascnn(
        "train", "gesture_cnn", "--data", str(data), "--epochs", "1", "--image-size", "16", "16",
        "--arg", "filters=[4]", "--output", str(tmp_path / "run"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if "0000 " in line or "absl" in line]
    loud = _kerascnn("--verbose", "predict", "gesture_cnn:sign-digits", EXAMPLE)
    assert loud.returncode == 0 and "absl::InitializeLog" in loud.stderr
    assert "WARNING" in _kerascnn("predict", "gesture_cnn:sign-digits", EXAMPLE,
                                  TF_CPP_MIN_LOG_LEVEL="0").stderr  # fmt: skip
