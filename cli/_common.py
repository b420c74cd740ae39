"""Helpers shared by the CLI's commands: the console, and shared options."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

__all__ = ["console", "format_count", "json_option", "quiet", "report_skipped"]


def console(stderr: bool = False) -> Any:
    """A rich console; wide when output is not a terminal so tables are not cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(file=stream, width=width, soft_wrap=False)


def quiet(ctx: click.Context | None = None) -> bool:
    """Whether the user asked for no progress output.

    ``kerascnn --quiet`` (which also sets ``KERASCNN_QUIET=1`` for the library), or that
    variable set by the user.
    """
    if os.environ.get("KERASCNN_QUIET") == "1":  # as the library reads it
        return True
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.obj and ctx.obj.get("quiet"):
            return True
        ctx = ctx.parent
    return False


def format_count(n: int | float) -> str:
    """1234567 -> '1.23 M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(int(n))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def report_skipped(skipped: Any) -> None:
    """``skipped PATH: REASON`` on stderr for each unreadable image of a folder."""
    for path, reason in skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
