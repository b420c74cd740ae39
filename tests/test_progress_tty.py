"""Progress that moves: at a terminal every progress display (dream, zoo download, train,
finetune) redraws itself while the command runs; into a file, training writes one plain line
per epoch. Each command runs in a subprocess on a pseudo-terminal, its output read as it comes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from kerascnn.cli._quiet import NATIVE_LOG_LINE
from tests.http_server import server_fixture  # noqa: F401  (fixture)
from tests.image_folders import make_image_folder

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
KERASCNN = [sys.executable, "-m", "kerascnn.cli"]
TINY_TRAIN = ["--epochs", "2", "--image-size", "16", "16", "--arg", "filters=[4]"]


@dataclass
class Transcript:
    """What a command printed on its terminal: ``(seconds since start, still running, bytes)``
    per read, its exit code and when it ended."""

    reads: list[tuple[float, bool, bytes]]
    returncode: int
    ended: float

    @property
    def text(self) -> str:
        return b"".join(chunk for _, _, chunk in self.reads).decode(errors="replace")

    @property
    def plain(self) -> str:
        """``text`` without its colours and cursor moves."""
        return ANSI.sub("", self.text)

    def first(self, pattern: str) -> tuple[float, bool]:
        """When the output so far first matched ``pattern``, and whether it was still running."""
        seen = b""
        for at, running, chunk in self.reads:
            seen += chunk
            if re.search(pattern, ANSI.sub("", seen.decode(errors="replace"))):
                return at, running
        raise AssertionError(f"{pattern!r} never printed:\n{self.text[-3000:]}")

    def native_lines(self) -> list[str]:
        lines = re.split(r"[\r\n]+", self.plain)
        return [line for line in lines if NATIVE_LOG_LINE.match(line.encode())]


def on_terminal(argv: list[str], timeout: float = 300, **env: str) -> Transcript:
    """Run ``argv`` with stdout and stderr on one pseudo-terminal (120x40), reading as it goes."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "COLUMNS")}
    start = time.monotonic()
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env={**environ, **env}
    )
    os.close(follower)
    reads = []
    try:
        while True:
            left = start + timeout - time.monotonic()
            if left <= 0 or not select.select([leader], [], [], left)[0]:
                raise AssertionError(f"{argv} ran past {timeout} s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every end of the terminal closed, the child is done
                break
            if not chunk:
                break
            reads.append((time.monotonic() - start, child.poll() is None, chunk))
        returncode = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(leader)
    return Transcript(reads, returncode, time.monotonic() - start)


def _assert_moves(run: Transcript, frames: list[str], gap: float = 0.2) -> None:
    """Each of ``frames`` (regexes, in order) showed while the command ran, the first one at
    least ``gap`` seconds before the last: the display moved, it was not printed at the end."""
    times = []
    for frame in frames:
        at, running = run.first(frame)
        assert running, f"{frame!r} came only once the command had ended:\n{run.text[-2000:]}"
        times.append(at)
    assert times == sorted(times), (frames, times)
    assert times[-1] - times[0] >= gap, (frames, times)


@pytest.mark.slow  # the train test covers the same progress bar
def test_dream_progress_moves_at_a_terminal(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rocket.jpg")
    run = on_terminal(
        [*KERASCNN, "dream", str(tmp_path / "rocket.jpg"), "--model", "alexnet_cifar:cifar10",
         "--octaves", "2", "--steps", "10", "--seed", "0"],
        KERASCNN_HOME=str(tmp_path / "home"),
    )  # fmt: skip
    assert run.returncode == 0, run.text[-3000:]
    assert "\x1b[?25l" in run.text  # rich saw a terminal: a live display, not a final print
    counts = set(re.findall(r"\b(\d+)/20\b", run.plain))
    assert len(counts) >= 3, counts
    _assert_moves(run, [r"\b[0-9]/20\b", r"\b20/20\b"])
    assert run.first("wrote ")[1] and (tmp_path / "rocket_dream.png").is_file()
    assert run.native_lines() == []


def test_zoo_download_progress_moves_at_a_terminal(server, tmp_path):
    server.files["models/alexnet-owt-7be5be79.pth"] = b"not alexnet" * 600_000  # 6.6 MB, ~2 s
    run = on_terminal(
        [*KERASCNN, "zoo", "download", "alexnet:imagenet"],
        KERASCNN_MIRROR=server.url("/slow"),
        KERASCNN_HOME=str(tmp_path / "home"),
    )
    assert run.returncode == 2, run.text  # the file is not alexnet's: refused at the end
    assert "6,600,000 bytes instead of 244,408,911" in run.plain
    sizes = set(re.findall(r"(\d+\.\d)/6\.6 MB", run.plain))
    assert len(sizes) >= 3, sizes
    _assert_moves(run, [r"\b[0-2]\.\d/6\.6 MB", r"\b6\.6/6\.6 MB"], gap=0.5)


def test_train_progress_moves_at_a_terminal(tmp_path):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=10, size=16)
    run = on_terminal(
        [*KERASCNN, "train", "gesture_cnn", "--data", str(data), *TINY_TRAIN,
         "--batch-size", "2", "--output", str(tmp_path / "run")],
    )  # fmt: skip
    assert run.returncode == 0, run.text[-3000:]
    assert "━" in run.text and "\r" in run.text  # Keras' bar, redrawn in place
    _assert_moves(run, [r"Epoch 1/2", r"Epoch 2/2", r"done: "])
    assert run.native_lines() == []


@pytest.mark.slow  # the train test covers the same progress bar
def test_finetune_progress_moves_at_a_terminal(tmp_path):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=10, size=16)
    run = on_terminal(
        [*KERASCNN, "finetune", "alexnet_cifar", "--data", str(data), "--head-epochs", "1",
         "--finetune-epochs", "1", "--batch-size", "2", "--output", str(tmp_path / "run")],
    )  # fmt: skip
    assert run.returncode == 0, run.text[-3000:]
    assert "━" in run.text and "\r" in run.text  # Keras' bar, redrawn in place
    _assert_moves(run, [r"\b1/10 ", r"Epoch 2/2"])  # phase 1, one epoch: no "Epoch 1/..." line
    assert run.native_lines() == []


def test_train_into_a_file_prints_one_plain_line_per_epoch(tmp_path):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=10, size=16)
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    with open(tmp_path / "out.txt", "w+b") as out:
        done = subprocess.run(
            [*KERASCNN, "train", "gesture_cnn", "--data", str(data), *TINY_TRAIN,
             "--batch-size", "4", "--output", str(tmp_path / "run")],
            stdout=out, stderr=subprocess.PIPE, env=environ, timeout=300,
        )  # fmt: skip
        out.seek(0)
        text = out.read().decode()
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    for junk in ("\x1b", "\r", "\b", "━"):
        assert junk not in text, (junk, text)
    epochs = [line for line in text.splitlines() if line.startswith("epoch ")]
    number = r"\d+\.\d{4}"
    assert len(epochs) == 2, text
    for k, got in enumerate(epochs, 1):
        line = rf"epoch {k}/2: loss {number}(, \w+ {number})* \(\d+\.\d s\)"
        assert re.fullmatch(line, got), got
    assert max(map(len, text.splitlines())) < 300, text
    assert "Epoch 1/2" not in text  # Keras' own lines are not there too
