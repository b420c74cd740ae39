"""The engine's own mistakes and edges, each one line ``Error: <problem>; <fix>`` before any
work, leaving nothing behind: a folder of other files as --output, a diverged run, a finished
run asked again, Ctrl-C (where the backup is and the command that resumes)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from kerascnn.cli.main import cli
from tests.image_folders import make_image_folder

ONE_LINE = re.compile(r"^Error: [^\n]+; [^\n]+\n?$")
TINY = ["--batch-size", "4", "--image-size", "16", "16", "--arg", "filters=[2]", "--arg",
        "hidden=4", "--augment", "none"]  # fmt: skip


def _run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_output_folder_of_other_files_needs_force(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=2, per_class=6, size=16)
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"not a run")
    for command in (["train", "gesture_cnn"], ["finetune", "gesture_cnn:sign-digits"]):
        result = _run(*command, "--data", data, "--output", mine, "--epochs" if
                      command[0] == "train" else "--head-epochs", 1, "--batch-size", 4)  # fmt: skip
        assert result.exit_code == 2 and ONE_LINE.match(result.output), result.output
        assert "not a run folder" in result.output and "--force" in result.output
        assert sorted(p.name for p in mine.iterdir()) == ["holiday.jpg"]
    result = _run("train", "gesture_cnn", "--data", data, "--output", mine, "--epochs", 1,
                  *TINY, "--force")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (mine / "holiday.jpg").read_bytes() == b"not a run" and (mine / "model.keras").is_file()


def test_a_diverged_run_leaves_nothing(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=2, per_class=6, size=16)
    out = tmp_path / "run"
    result = _run("train", "gesture_cnn", "--data", data, "--output", out, "--epochs", 2,
                  "--lr", "1e12", "--optimizer", "sgd", *TINY)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "training diverged" in result.output and "--lr" in result.output
    assert ONE_LINE.match(result.output.splitlines()[-1] + "\n")
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    kept = tmp_path / "kept"  # a folder the user made: it stays, empty
    kept.mkdir()
    result = _run("train", "gesture_cnn", "--data", data, "--output", kept, "--epochs", 2,
                  "--lr", "1e12", "--optimizer", "sgd", *TINY)  # fmt: skip
    assert result.exit_code == 2 and kept.is_dir() and not any(kept.iterdir())


def test_a_finished_run_asked_again_prints_its_result(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=2, per_class=6, size=16)
    out = tmp_path / "run"
    args = ["train", "gesture_cnn", "--data", data, "--output", out, "--epochs", 1, *TINY]
    first = _run(*args)
    assert first.exit_code == 0, first.output
    stamp = (out / "model.keras").stat().st_mtime_ns
    for again in (_run(*args), _run(*args, "--resume")):
        assert again.exit_code == 0, again.output
        assert "already holds a finished run" in again.output
        done = [line for line in first.output.splitlines() if line.startswith("done:")]
        assert done and done[0] in again.output
    assert (out / "model.keras").stat().st_mtime_ns == stamp


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_says_where_the_backup_is_and_how_to_resume(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=2, per_class=40, size=16)
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "kerascnn.cli.main",
        "train",
        "gesture_cnn",
        "--data",
        str(data),
        "--output",
        str(out),
        "--epochs",
        "1000",  # cannot finish before the signal, however fast the machine
        "--save-freq",
        "2",
        *TINY,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A shell without job control starts a background job (`.ci/run &`) with SIGINT ignored,
    # and a child inherits that: Python then never raises KeyboardInterrupt. A terminal's
    # Ctrl-C reaches a process whose SIGINT is at its default, as here.
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "backup" / "state.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "Aborted" not in stderr + stdout
    message = stderr.strip().splitlines()[-1]
    assert f"the backup in {out / 'backup'} holds" in message
    assert f"resume with: kerascnn train gesture_cnn --data {data} --output {out}" in message
    assert message.endswith("--augment none --resume")


def test_resuming_with_other_settings_or_data_is_refused(tmp_path: Path) -> None:
    """The CIFAR-10 gap of an earlier note: a rerun resumed a run made with other code and
    settings, mixing two runs' history, best model and weights in one folder."""
    data = make_image_folder(tmp_path / "d", classes=2, per_class=6, size=16)
    out = tmp_path / "run"
    args = ["train", "gesture_cnn", "--data", data, "--output", out, "--epochs", 1, *TINY]
    assert _run(*args).exit_code == 0
    stamp = (out / "model.keras").stat().st_mtime_ns
    result = _run(*args, "--resume", "--epochs", 2, "--lr", "0.5")
    assert result.exit_code == 2 and ONE_LINE.match(result.output), result.output
    assert "learning_rate: 0.001 -> 0.5" in result.output and "mix two runs" in result.output
    more = make_image_folder(tmp_path / "d", classes=3, per_class=6, size=16)  # a new class
    result = _run(*[more if a == data else a for a in args], "--resume", "--epochs", 2)
    assert result.exit_code == 2 and "class_names" in result.output, result.output
    assert (out / "model.keras").stat().st_mtime_ns == stamp
    grown = _run(*[more if a == data else a for a in args], "--epochs", 2, "--force")
    assert grown.exit_code == 0, grown.output
