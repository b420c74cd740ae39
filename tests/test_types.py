"""Types checked: mypy reports no errors, and few annotations fall back on ``Any``.

mypy runs with pyproject.toml's ``[tool.mypy]`` (``kerascnn``, ``kerascnn.cli`` and
``kerascnn.zoo``; its cache is ``.mypy_cache/``). The ``Any`` count is read with ``ast``: the
annotations (function parameters, ``*args``/``**kwargs``, returns, annotated assignments) in
``kerascnn/`` and ``cli/`` whose text names ``Any``. It was 780 at 59de88c; the ratchet keeps it
at most half of that, so lower :data:`MAX_ANY` when it falls, never raise it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

from tests.conftest import REPO

PACKAGES = ("kerascnn", "cli")
MAX_ANY = 230  # 780 at 59de88c; 220 after the types work (ratchet: lower it, never raise it)
_ANY = re.compile(r"\bAny\b")


def _annotations(tree: ast.AST) -> Iterator[ast.expr]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None and arg.annotation is not None:
                    yield arg.annotation
            if node.returns is not None:
                yield node.returns
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation


def count_any(source: str) -> int:
    """How many annotations in ``source`` name ``Any`` (``dict[str, Any]`` counts, once)."""
    return sum(1 for a in _annotations(ast.parse(source)) if _ANY.search(ast.unparse(a)))


def any_counts() -> Counter[str]:
    """File (relative to the repository) -> its annotations that name ``Any``."""
    counts: Counter[str] = Counter()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            counts[str(path.relative_to(REPO))] = count_any(path.read_text(encoding="utf-8"))
    return counts


def test_the_counter_counts_annotations_that_name_any():
    source = (
        "from typing import Any\n"
        "def f(a: Any, b: int, *args: Any, c: dict[str, Any], **kw: 'Any') -> Any:\n"
        "    x: list[Any] = []\n"
        "    y: AnyStr\n"
        "    z = Any\n"
    )
    assert count_any(source) == 6


def test_annotations_that_name_any_stay_under_the_ratchet():
    counts = any_counts()
    total = sum(counts.values())
    worst = "\n".join(f"  {n:3} {path}" for path, n in counts.most_common(10))
    assert total <= MAX_ANY, (
        f"{total} annotations name Any (at most {MAX_ANY}): give them concrete types "
        f"(keras.Model, numpy arrays, ... under TYPE_CHECKING). The most:\n{worst}"
    )


def test_the_links_mypy_reads_cli_and_zoo_through_are_in_place():
    links = REPO / ".typecheck" / "kerascnn"
    for name in ("cli", "zoo"):
        assert (links / name).resolve() == REPO / name, (
            f"want .typecheck/kerascnn/{name} -> ../../{name}"
        )


def test_mypy_reports_no_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 0, (
        f"mypy found {len(errors)} errors (pyproject.toml [tool.mypy]):\n"
        + "\n".join(errors or [proc.stdout[-3000:], proc.stderr[-3000:]])
    )
