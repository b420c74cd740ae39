"""The layer table and training-memory report shared by ``zoo info`` and ``summary``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kerascnn.cli._common import console, format_count, json_option

__all__ = ["report_options", "show_report"]

batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Examples per batch for the activation memory, MACs and the training estimate.",
)
optimizer_option = click.option(
    "--optimizer",
    default="adam",
    show_default=True,
    help="Optimizer of the training estimate (sgd, adam, rmsprop, ...).",
)

memory_option = click.option(
    "--memory",
    metavar="SIZE",
    help="Also print the largest training batch that fits in SIZE (e.g. 16GiB).",
)
input_size_option = click.option(
    "--input-size",
    nargs=2,
    type=click.IntRange(min=1),
    metavar="H W",
    help="Input height and width (to build a zoo model at, or for a model of any size).",
)


def report_options(fn: Any) -> Any:
    """The options of a layer-table command: input size, batch, optimizer, memory, JSON."""
    for option in (json_option, memory_option, optimizer_option, batch_size_option):
        fn = option(fn)
    return input_size_option(fn)


def show_report(source: str, input_size: tuple[int, int] | None, **options: Any) -> None:
    """Resolve ``source`` (zoo name, ``.keras`` file, run folder) and print its report."""
    from kerascnn.errors import UserError
    from kerascnn.resolve import is_path, load

    input_shape = None
    if is_path(source):
        loaded = load(source)
        if input_size:
            input_shape = (*input_size, loaded.model.inputs[0].shape[-1])
        elif any(d is None for x in loaded.model.inputs for d in x.shape[1:]):
            raise UserError(f"{source}: the model takes inputs of any size; give --input-size H W")
        title = f"{Path(source).name}: {loaded.model.name}"
    else:
        from kerascnn.registry import get_model_card
        from kerascnn.weights.cards import parse_spec

        card = get_model_card(parse_spec(source)[0])  # unknown names fail before Keras loads
        args = {} if parse_spec(source)[1] else {"weights": None}  # the layers, not the weights
        if input_size:
            args["input_shape"] = (*input_size, (card.input_shape or (0, 0, 3))[-1])
        loaded = load(source, **args)
        title = f"{source}: {card.description}"
    _print_report(loaded.model, source, title=title, input_shape=input_shape, **options)


def _print_report(
    model: Any,
    name: str,
    *,
    title: str,
    batch_size: int,
    optimizer: str,
    as_json: bool,
    input_shape: tuple[int, ...] | None = None,
    memory: str | None = None,
) -> None:
    """Print ``model``'s layer table, totals and training memory estimate (table or JSON)."""
    from kerascnn.analysis.layer_table import layer_table
    from kerascnn.analysis.memory import format_bytes, max_batch_size, memory_estimate

    table = layer_table(model, batch_size, input_shape=input_shape)
    estimate = memory_estimate(model, batch_size, optimizer, input_shape=input_shape)
    largest = None
    if memory:
        largest = max_batch_size(model, memory, optimizer, input_shape=input_shape)
    if as_json:
        data = {
            "model": name,
            "batch_size": batch_size,
            "layers": [vars(r) for r in table.rows],
            "total_params": table.total_params,
            "total_activations": table.total_activations,
            "total_activation_bytes": table.total_activation_bytes,
            "total_macs": table.total_macs,
            "training": {"optimizer": optimizer, **estimate.as_dict()},
            "max_batch_size": {"memory": memory, "batch_size": largest} if memory else None,
        }
        click.echo(json.dumps(data, indent=2))
        return
    con = console()
    con.print(_rich_table(table, title))
    per = "per image" if batch_size == 1 else f"per batch of {batch_size}"
    con.print(
        f"forward activations {per}: {format_bytes(table.total_activation_bytes)}; "
        f"parameters: {table.total_params:,}; "
        f"MACs {per}: {format_count(table.total_macs)} (convolutions and dense layers)",
        highlight=False,
    )
    con.print(
        f"training step, batch {batch_size}, {optimizer}: "
        f"{format_bytes(estimate.total)} = weights {format_bytes(estimate.weights)} "
        f"+ gradients {format_bytes(estimate.gradients)} "
        f"+ optimizer {format_bytes(estimate.optimizer_state)} "
        f"+ activations {format_bytes(estimate.activations)}",
        highlight=False,
    )
    if memory:
        con.print(f"largest training batch in {memory}: {largest:,}", highlight=False)


def _rich_table(table: Any, title: str) -> Any:
    """The layer table as a rich ``Table``, totals last."""
    from rich.table import Table

    from kerascnn.analysis.memory import format_bytes

    out = Table(
        title=title,
        caption=(
            "activations: values of each layer's output (input included); memory: their bytes; "
            "params: all weights; MACs: multiply-accumulates of convolutions and dense layers "
            "(torchvision's convention)"
        ),
    )
    out.add_column("layer")
    out.add_column("type")
    for col in ("output shape", "activations", "memory", "params", "MACs"):
        out.add_column(col, justify="right")

    def amounts(activations: int, nbytes: int, params: int) -> tuple[str, str, str]:
        return f"{activations:,}", format_bytes(nbytes), f"{params:,}"

    for r in table.rows:
        shape = "x".join("?" if d is None else str(d) for d in r.output_shape)
        numbers = amounts(r.activations, r.activation_bytes, r.params)
        out.add_row(r.name, r.type, shape, *numbers, format_count(r.macs) if r.macs else "")
    out.add_section()
    totals = amounts(table.total_activations, table.total_activation_bytes, table.total_params)
    out.add_row("total", "", "", *totals, format_count(table.total_macs))
    return out
