"""The ``kerascnn`` command group. Subcommands load lazily so ``--help`` stays instant; every
user mistake ends as one line ``Error: <problem>; <fix>`` on stderr with exit code 2.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import logging
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from kerascnn._version import __version__
from kerascnn.errors import UserError

__all__ = [
    "COMMANDS",
    "FLAGS",
    "CommandLineError",
    "EchoHandler",
    "LazyGroup",
    "cli",
    "cli_message",
    "error_line",
    "main",
]

# The variable the library reads for "no progress output" (it never imports the CLI).
QUIET_ENV = "KERASCNN_QUIET"

# The library's errors name Python arguments (``UserError.arguments``); the CLI shows the flag
# of each instead. ``{value}``: the value the message gives (``classes='auto'``: auto).
FLAGS = {
    "allow_random": "--allow-random",
    "calibration": "--calibration {value}",
    "classes": "--classes {value}",
    "data": "--data {value}",
    "image_size": "--image-size H W",
    "input_shape": "--input-size H W",
    "layers": "--layers NAME=WEIGHT,...",
    "map_by_index": "--map-by-index",
    "output_dir": "--output",
    "precise_bn": "--precise-bn",
    "preprocessing": "--preprocessing",
    "resume": "--resume",
    "weights": "--weights {value}",
}

# command name -> "module:attribute"; modules import Keras only inside command bodies.
_NAMES = (
    "benchmark",
    "dream",
    "evaluate",
    "finetune",
    "predict",
    "serve",
    "summary",
    "train",
    "visualize",
    "zoo",
)
COMMANDS = {name: f"kerascnn.cli.{name}:{name}" for name in _NAMES}
COMMANDS["export"] = "kerascnn.cli.export:export"


class CommandLineError(click.ClickException):
    """A user mistake, shown as the single line ``Error: <problem>; <fix>`` with exit code 2."""

    exit_code = 2


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _flag(python: str, parameter: str) -> str:
    """The CLI's spelling of ``python`` (``"image_size=(height, width)"``), an argument of
    ``parameter``: its flag in :data:`FLAGS` (the text as it is for a parameter not there)."""
    flag = FLAGS.get(parameter)
    if flag is None:
        return python
    _, given, raw = python.partition("=")
    if not given or "{value}" not in flag:
        return flag.replace(" {value}", "")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return flag.format(value=shlex.quote(value) if isinstance(value, str) else value)


def cli_message(exc: UserError) -> str:
    """``exc``'s message with each Python argument it names (``UserError.arguments``) written
    as the CLI flag (``image_size=(height, width)`` -> ``--image-size H W``)."""
    text = str(exc)
    for python, parameter in getattr(exc, "arguments", {}).items():
        text = text.replace(python, _flag(python, parameter))
    return text


def error_line(exc: UserError | click.ClickException, command_path: str) -> str:
    """The ``<problem>; <fix>`` text for ``exc``, raised while running ``command_path``.

    A ``UserError`` keeps its own message (its fix is its author's job). A click error
    gets its suggestions (``did you mean ...``) or a pointer to the command's help.
    """
    if isinstance(exc, UserError):
        return _one_line(cli_message(exc)) or type(exc).__name__
    possibilities = getattr(exc, "possibilities", None)
    if possibilities:  # NoSuchOption, NoSuchCommand: "... Did you mean ...?" on one line
        problem = _one_line(exc.message).rstrip(".")
        choices = " or ".join(repr(p) for p in sorted(possibilities))
        return f"{problem}; did you mean {choices}?"
    problem = _one_line(exc.format_message())
    if "; " in problem:
        return problem
    return f"{problem.rstrip('.')}; see '{command_path} --help'"


@contextlib.contextmanager
def _one_error_line(command_path: Callable[[], str]) -> Iterator[None]:
    """Raise a user mistake made inside as a ``CommandLineError`` naming the failing command."""
    try:
        yield
    except (UserError, click.ClickException) as exc:
        # NoArgsIsHelpError: a bare group, whose help click prints (what the user wants)
        if isinstance(exc, CommandLineError | click.exceptions.NoArgsIsHelpError):
            raise
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if isinstance(ctx, click.Context) else command_path()
        raise CommandLineError(error_line(exc, path)) from exc


class LazyGroup(click.Group):
    """A group whose subcommands live in their own modules, imported when needed.

    A user mistake anywhere below it (parsing included) becomes a ``CommandLineError``.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name].partition(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse this group's own options; a mistake in them becomes one error line."""
        path = f"{parent.command_path} {info_name}" if parent else str(info_name)
        with _one_error_line(lambda: path):
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; a mistake in it (or in its arguments) becomes one error line."""

        def path() -> str:
            sub = ctx.invoked_subcommand
            return f"{ctx.command_path} {sub}" if sub else ctx.command_path

        with _one_error_line(path):
            return super().invoke(ctx)


def _set_quiet_env(ctx: click.Context) -> None:
    """Set ``KERASCNN_QUIET=1`` for the library while this command runs, then restore it."""
    previous = os.environ.get(QUIET_ENV)
    os.environ[QUIET_ENV] = "1"

    def restore() -> None:
        os.environ.pop(QUIET_ENV, None)
        if previous is not None:
            os.environ[QUIET_ENV] = previous

    ctx.call_on_close(restore)


class EchoHandler(logging.Handler):
    """The library's ``kerascnn`` log records as plain lines: INFO on stdout (a progress line,
    e.g. ``epoch 3/10: loss 0.5123, ...``), WARNING and above on stderr as ``warning: ...``.
    Streams are looked up at each record (``click.echo``), as the CLI's own output is."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.WARNING:
                message = f"{record.levelname.lower()}: {message}"
            click.echo(message, err=record.levelno >= logging.WARNING)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def _log_to_console(ctx: click.Context, quiet: bool) -> None:
    """Show the ``kerascnn`` logger's records while this command runs (``--quiet``: only
    warnings); the logger is as it was once the command is done."""
    logger = logging.getLogger("kerascnn")
    handler = EchoHandler(logging.WARNING if quiet else logging.INFO)
    previous = logger.level
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    ctx.call_on_close(restore)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kerascnn")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's own log lines too.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """kerascnn: a Keras 3 model zoo for convolutional networks.

    Build and inspect the zoo's models, fetch their weights, predict, train,
    fine-tune and dream. `kerascnn COMMAND --help` tells more.
    """
    ctx.ensure_object(dict)
    if ctx.obj.get("console"):  # a process of its own: Keras and TensorFlow not imported yet
        from kerascnn.cli._backend import check_on_keras_import
        from kerascnn.cli._quiet import hide_native_logs, shows_native

        check_on_keras_import()  # a bad KERAS_BACKEND: one error line, not a traceback
        if not shows_native(verbose):
            hide_native_logs()
    ctx.obj["quiet"] = quiet
    _log_to_console(ctx, quiet)
    if quiet:
        _set_quiet_env(ctx)


def main(args: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(cli.main(args=args, prog_name="kerascnn", obj={"console": True}))


if __name__ == "__main__":
    main()
