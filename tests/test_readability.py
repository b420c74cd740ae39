"""Readable functions: none over 80 lines; public ones with many parameters document them.

Read with ``ast``, no imports: every function (methods and nested ones included) in
``kerascnn/``, ``cli/`` and ``zoo/`` has a body (docstring to last line) of at most
80 lines, and every module-level public function with more than three parameters
(``*args`` and ``**kwargs`` not counted) has an ``Args:`` section in its docstring. Click
commands are exempt: their options' help texts document the parameters in ``--help``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kerascnn", "cli", "zoo")
MAX_BODY_LINES = 80
MAX_UNDOCUMENTED_PARAMS = 3

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            yield str(path.relative_to(ROOT)), ast.parse(source, filename=str(path))


def _body_lines(fn: Function) -> int:
    return (fn.end_lineno or fn.lineno) - fn.body[0].lineno + 1


def _is_click_command(fn: Function) -> bool:
    calls = [d.func for d in fn.decorator_list if isinstance(d, ast.Call)]
    return any(isinstance(f, ast.Attribute) and f.attr in ("command", "group") for f in calls)


def _params(fn: Function) -> list[str]:
    args = fn.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return [n for n in names if n not in ("self", "cls")]


def test_no_function_is_over_80_lines():
    long = [
        f"{path}:{fn.name} ({_body_lines(fn)} lines)"
        for path, tree in _modules()
        for fn in ast.walk(tree)
        if isinstance(fn, Function) and _body_lines(fn) > MAX_BODY_LINES
    ]
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_public_functions_with_many_parameters_have_an_args_section():
    undocumented = [
        f"{path}:{fn.name} ({len(_params(fn))} parameters)"
        for path, tree in _modules()
        for fn in tree.body
        if isinstance(fn, Function)
        and not fn.name.startswith("_")
        and not _is_click_command(fn)
        and len(_params(fn)) > MAX_UNDOCUMENTED_PARAMS
        and "Args:" not in (ast.get_docstring(fn) or "")
    ]
    assert not undocumented, "public functions without 'Args:':\n" + "\n".join(undocumented)
