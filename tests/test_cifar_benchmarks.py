"""benchmarks/cifar_ablation.py and cifar_speed.py end to end on a tiny CIFAR-shaped archive
(slow: each trains the real recipe's network several times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_alexnet_cifar10 import _cifar_zip

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _script(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    if not data.exists():
        (data / "cifar10-jpeg").mkdir(parents=True)
        _cifar_zip(data / "cifar10-jpeg" / "cifar10-jpeg.zip", (6, 4))
    env = {**os.environ, "KERASCNN_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(ROOT / "benchmarks" / name), "--data", str(data), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200,
                          cwd=tmp_path)  # fmt: skip


def test_ablation_trains_each_row_and_keeps_them_for_a_rerun(tmp_path: Path) -> None:
    out = tmp_path / "ablation"
    only = ["--only", "no head scale"]
    proc = _script("cifar_ablation.py", tmp_path, "--epochs", "2", "--out", str(out), *only)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    kept = json.loads((out / "ablation.json").read_text())
    assert kept["epochs"] == 2 and set(kept["rows"]) == {"recipe", "no head scale"}  # trained
    assert 0 <= kept["rows"]["recipe"]["top1"] <= 100
    assert "| no head scale |" in proc.stdout and "| no whitening | not run (--only)" in proc.stdout
    assert "| test-time augmentation (flip+shift) |" in proc.stdout
    again = _script("cifar_ablation.py", tmp_path, "--epochs", "2", "--out", str(out), *only)
    assert again.returncode == 0 and "{" not in again.stdout  # nothing retrained
    other = _script("cifar_ablation.py", tmp_path, "--epochs", "3", "--out", str(out))
    assert other.returncode != 0 and "holds 2 epochs; pass --epochs 2" in other.stderr


def test_speed_runs_both_recipes_epoch_by_epoch(tmp_path: Path) -> None:
    out = tmp_path / "speed"
    proc = _script("cifar_speed.py", tmp_path, "--epochs", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    runs = json.loads((out / "speed.json").read_text())
    assert [len(runs[name]["epochs"]) for name in ("previous", "recipe")] == [2, 2]
    assert "| 2 |" in proc.stdout and "training time, previous / recipe: " in proc.stdout
    assert _script("cifar_speed.py", tmp_path, "--out", str(out)).returncode != 0  # no reuse
