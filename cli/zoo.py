"""``kerascnn zoo ...``: list the zoo's models and show one layer by layer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from kerascnn.cli._common import console, format_count, json_option
from kerascnn.cli._report import report_options, show_report
from kerascnn.cli.main import LazyGroup

if TYPE_CHECKING:
    from rich.console import JustifyMethod

__all__ = ["zoo"]

ZOO_COMMANDS: dict[str, str] = {
    "cache": "kerascnn.cli.zoo_weights:cache",
    "download": "kerascnn.cli.zoo_weights:download",
    "import": "kerascnn.cli.zoo_weights:import_",
    "push": "kerascnn.cli.zoo_push:push",
    "reproduce": "kerascnn.cli.zoo_reproduce:reproduce",
}


@click.group(cls=LazyGroup, lazy=ZOO_COMMANDS)
def zoo() -> None:
    """The model zoo: list models, inspect them, manage their weights."""


@zoo.command("list")
@click.argument("pattern", default="*")
@json_option
def list_(pattern: str, as_json: bool) -> None:
    """List the models matching PATTERN (shell-style, default all) and their weights."""
    from kerascnn.registry import get_model_card, list_models
    from kerascnn.weights.cache import cached_path

    cards = [get_model_card(name) for name in list_models(pattern)]
    rows: list[dict[str, Any]] = [
        {
            "name": card.name,
            "params": card.params,
            "input_shape": card.input_shape,
            "weights": {v: cached_path(w).is_file() for v, w in card.weights.items()},
            "source": card.source,
            "training": card.training,
        }
        for card in cards
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="kerascnn zoo")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("model", "left"),
        ("params", "right"),
        ("input", "right"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify)
    table.add_column("weights (✓ cached)")
    table.add_column("source")
    for row in rows:
        weights = ", ".join(f"{v}{' ✓' if c else ''}" for v, c in row["weights"].items())
        params = format_count(row["params"]) if row["params"] else "-"
        shape = "x".join(map(str, row["input_shape"])) if row["input_shape"] else "-"
        table.add_row(row["name"], params, shape, weights or "-", str(row["source"] or ""))
    console().print(table)


@zoo.command()
@click.argument("name")
@report_options
def info(name: str, input_size: tuple[int, int] | None, **options: Any) -> None:
    """Show model NAME layer by layer: output shape, activations, memory, parameters, MACs.

    Then the totals and the memory of one training step (see `kerascnn summary`).
    """
    show_report(name, input_size, **options)
