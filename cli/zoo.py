"""``kerascnn zoo ...``: list the zoo's models and show one layer by layer."""

from __future__ import annotations

import json

import click

from kerascnn.cli._common import console, format_count, json_option
from kerascnn.cli._report import batch_size_option, memory_option, optimizer_option, print_report
from kerascnn.cli.main import LazyGroup

__all__ = ["zoo"]

# subcommands kept in their own modules: name -> "module:attribute"
ZOO_COMMANDS: dict[str, str] = {
    "cache": "kerascnn.cli.zoo_weights:cache",
    "download": "kerascnn.cli.zoo_weights:download",
    "import": "kerascnn.cli.zoo_weights:import_",
    "reproduce": "kerascnn.cli.zoo_reproduce:reproduce",
}


@click.group(cls=LazyGroup, lazy=ZOO_COMMANDS)
def zoo() -> None:
    """The model zoo: list models, inspect them, manage their weights."""


def _input_size(card: dict) -> str:
    shape = card.get("input_shape")
    return "x".join(str(d) for d in shape) if shape else "-"


@zoo.command("list")
@click.argument("pattern", default="*")
@json_option
def list_(pattern: str, as_json: bool) -> None:
    """List the models matching PATTERN (shell-style, default all) and their weights."""
    from kerascnn.cache import cached_path
    from kerascnn.registry import get_model_card, list_models

    rows = []
    for name in list_models(pattern):
        card = get_model_card(name)
        variants = card.get("weights", {})
        rows.append(
            {
                "name": name,
                "params": card.get("params"),
                "input_shape": card.get("input_shape"),
                "weights": {
                    v: cached_path(name, v, vcard).is_file() for v, vcard in variants.items()
                },
                "source": card.get("source"),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="kerascnn zoo")
    for col, justify in (("model", "left"), ("params", "right"), ("input", "right")):
        table.add_column(col, justify=justify)
    table.add_column("weights (✓ cached)")
    table.add_column("source")
    for row in rows:
        weights = ", ".join(f"{v}{' ✓' if c else ''}" for v, c in row["weights"].items())
        params = format_count(row["params"]) if row["params"] else "-"
        table.add_row(
            row["name"], params, _input_size(row), weights or "-", str(row["source"] or "")
        )
    console().print(table)


@zoo.command()
@click.argument("name")
@click.option(
    "--input-size", nargs=2, type=int, metavar="H W", help="Input height and width to build at."
)
@batch_size_option
@optimizer_option
@memory_option
@json_option
def info(
    name: str,
    input_size: tuple[int, int] | None,
    batch_size: int,
    optimizer: str,
    memory: str | None,
    as_json: bool,
) -> None:
    """Show model NAME layer by layer: output shape, activations, memory, parameters, MACs.

    Then the totals and the memory of one training step (see `kerascnn summary`).
    """
    from kerascnn.registry import create_model, get_model_card

    card = get_model_card(name)  # unknown names fail here, before Keras loads
    kwargs = {}
    if input_size:
        channels = (card.get("input_shape") or [None, None, 3])[-1]
        kwargs["input_shape"] = (*input_size, channels)
    model = create_model(name, **kwargs)
    title = f"{name}: {card.get('description', '')}"
    print_report(
        model,
        name,
        title=title,
        batch_size=batch_size,
        optimizer=optimizer,
        as_json=as_json,
        memory=memory,
    )
