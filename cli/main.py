"""The ``kerascnn`` command group. Subcommands load lazily so ``--help`` stays instant."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from kerascnn import __version__
from kerascnn.errors import UserError

__all__ = ["cli", "main"]

# TensorFlow's C++ start-up chatter is noise at a shell; users can still set it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# command name -> "module:attribute"; modules import Keras only inside command bodies.
COMMANDS = {
    "dream": "kerascnn.cli.dream:dream",
    "evaluate": "kerascnn.cli.evaluate:evaluate",
    "finetune": "kerascnn.cli.finetune:finetune",
    "predict": "kerascnn.cli.predict:predict",
    "summary": "kerascnn.cli.summary:summary",
    "train": "kerascnn.cli.train:train",
    "visualize": "kerascnn.cli.visualize:visualize",
    "zoo": "kerascnn.cli.zoo:zoo",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in their own modules, imported when needed.

    A ``UserError`` raised anywhere below it becomes ``error: <message>`` and exit 2.
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

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kerascnn")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """kerascnn: a Keras 3 model zoo for convolutional networks.

    Build and inspect the zoo's models, fetch their weights, predict, train,
    fine-tune and dream. `kerascnn COMMAND --help` tells more.
    """
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="kerascnn"))
