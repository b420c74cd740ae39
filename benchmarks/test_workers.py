"""How much do pytest-xdist workers shorten the default test run on this machine?

Runs the same test selection twice, in one process (``-n 0``) and with one worker per core
(``-n auto --dist loadfile``), and prints each wall time, each pass count
and the ratio. Both runs take the default marker selection (``not slow``).

    python benchmarks/test_workers.py [PYTEST_ARGS ...]   # default: the whole default suite
    python benchmarks/test_workers.py tests/test_export.py tests/test_tta.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"(\d+) passed")


def run(workers: str, args: list[str]) -> tuple[float, str]:
    """Wall seconds of one pytest run and its summary line; exits if any test fails."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers]
    command += ["--dist", "loadfile"]
    start = time.perf_counter()
    proc = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0:
        sys.exit(f"pytest -n {workers} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return seconds, last.strip("= ")


def passed(line: str) -> str:
    """The pass count of a pytest summary line."""
    found = SUMMARY.search(line)
    return found.group(1) if found else "?"


def main() -> None:
    args = sys.argv[1:]
    print(f"{os.cpu_count()} CPUs; pytest {' '.join(args) or '(the default suite)'}")
    one, one_line = run("0", args)
    print(f"one process (-n 0): {one:7.1f} s  {one_line}")
    many, many_line = run("auto", args)
    print(f"workers (-n auto):  {many:7.1f} s  {many_line}")
    same = passed(one_line) == passed(many_line)
    print(f"one process / workers = {one / many:.2f}" + ("" if same else " (pass counts differ)"))


if __name__ == "__main__":
    main()
