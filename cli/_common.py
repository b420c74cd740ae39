"""Helpers shared by the CLI's commands: the console, and shared options."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.console import Console

__all__ = [
    "FRACTION",
    "F",
    "POSITIVE",
    "console",
    "data_option",
    "force_option",
    "format_count",
    "image_size_option",
    "json_option",
    "parse_pairs",
    "quiet",
    "report_skipped",
    "split_options",
    "tta_line",
    "tta_option",
]

F = TypeVar("F", bound=Callable[..., object])  # a command, as an option decorator returns it
POSITIVE = click.FloatRange(0, min_open=True)  # learning rates, multipliers
FRACTION = click.FloatRange(0, 1, max_open=True)  # validation and test splits


def console(stderr: bool = False) -> Console:
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


def report_skipped(skipped: Iterable[tuple[str, str]]) -> None:
    """``skipped PATH: REASON`` on stderr for each unreadable image of a folder."""
    for path, reason in skipped:
        click.echo(f"skipped {path}: {reason}", err=True)


data_option = click.option(
    "--data", required=True, type=click.Path(), help="Folder of class sub-folders."
)
force_option = click.option("--force", is_flag=True, help="Overwrite existing output.")
image_size_option = click.option(
    "--image-size",
    nargs=2,
    type=click.IntRange(1),
    default=None,
    metavar="H W",
    help="Input height and width (default: the model's).",
)


def tta_option(help_text: str) -> Any:
    """``--tta none|flip|flip+shift`` (``None`` when not given: the model's default)."""
    from kerascnn.tta import MODES

    return click.option("--tta", type=click.Choice(MODES), default=None, help=help_text)


TTA_HELP = (
    "Test-time augmentation: the mean of the probabilities of each image and its mirror "
    "(flip), and of both translated by 1 px down-right and up-left (flip+shift: 6 views). "
    "Default: the weights' card's (none for most); none turns it off."
)


_CARD_DEFAULT = "the weights' default; --tta none turns it off"


def tta_line(used: str, asked: str | None, default: str = _CARD_DEFAULT) -> str:
    """``test-time augmentation: flip (what it averages; whose choice)`` for the output.

    Args:
        used: the mode used; asked: ``--tta`` (``None``: not given).
        default: whose choice it was when ``--tta`` was not given.
    """
    from kerascnn.tta import describe

    if used == "none":
        return f"test-time augmentation: none{' (--tta none)' if asked else ''}"
    return f"test-time augmentation: {used} ({describe(used)}; {'--tta' if asked else default})"


def split_options(fn: F) -> F:
    """``--validation-split``, ``--test-split`` and ``--seed`` of the file-name-hash split."""
    fn = click.option("--seed", default=0, show_default=True, help="Split and shuffle seed.")(fn)
    fn = click.option("--test-split", default=0.0, show_default=True, type=FRACTION,
                      help="Fraction kept out as test.")(fn)  # fmt: skip
    return click.option("--validation-split", default=0.2, show_default=True, type=FRACTION,
                        help="Fraction held out for validation.")(fn)  # fmt: skip


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``("batch_norm=true", "filters=[8,16]", "flip")`` -> ``{"batch_norm": True,
    "filters": (8, 16), "flip": True}``: values are JSON, else strings; no value is True."""
    import json

    from kerascnn.errors import UserError

    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not key.isidentifier() and not (option == "--augment" and "." in key):
            raise UserError(f"{option} needs KEY=VALUE, got {pair!r}; e.g. {option} dropout=0.5")
        try:
            value = json.loads(raw) if sep else True
        except json.JSONDecodeError:
            value = raw  # a plain string
        args[key] = tuple(value) if isinstance(value, list) else value
    return args
