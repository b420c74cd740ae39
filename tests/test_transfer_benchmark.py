"""The CIFAR-10 half-to-half transfer benchmark, on a very small configuration (slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_cifar_halves_benchmark_runs_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    zpath = data_dir / "cifar10-jpeg" / "cifar10-jpeg.zip"
    if not zpath.is_file():
        pytest.skip(f"{zpath} not found")
    args = ["--task", "cifar-halves", "--cifar-zip", str(zpath), "--cache", str(tmp_path),
            "--limit", "30", "--pretrain-epochs", "1", "--per-class", "4", "8", "--seeds", "0",
            "1", "--lr-decay", "0.7"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    script = ROOT / "benchmarks" / "transfer_vs_scratch.py"
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=env, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "pretrained A weights: " in out and "sha256 " in out
    rows = [line for line in out.splitlines() if re.match(r"\| (4|8) \|", line)]
    assert len(rows) == 2  # one per images-per-class setting: 4 scores ± std, the difference
    assert all(len(re.findall(r"\d+\.\d ± \d+\.\d", row)) == 4 for row in rows)
    # the cached A weights are reused, checked by their hash
    base = args[: args.index("--per-class")]
    again = subprocess.run([sys.executable, str(script), *base, "--per-class", "4",
                            "--seeds", "0"], capture_output=True, text=True, env=env,
                           timeout=1200)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "pretrained A weights (cached)" in again.stdout
