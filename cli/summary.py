"""``kerascnn summary FILE.keras``: the layer table and training memory of a saved model."""

from __future__ import annotations

from pathlib import Path

import click

from kerascnn.cli._common import json_option
from kerascnn.cli._report import batch_size_option, memory_option, optimizer_option, print_report

__all__ = ["summary"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--input-size",
    nargs=2,
    type=click.IntRange(min=1),
    metavar="H W",
    help="Input height and width, for models saved with a variable input size.",
)
@batch_size_option
@optimizer_option
@memory_option
@json_option
def summary(
    file: str,
    input_size: tuple[int, int] | None,
    batch_size: int,
    optimizer: str,
    memory: str | None,
    as_json: bool,
) -> None:
    """Show saved model FILE.keras layer by layer, with totals and training memory.

    Per layer: output shape, activations, their memory, parameters and MACs
    (multiply-accumulates of convolutions and dense layers). Then the memory of
    one training step at --batch-size: weights + gradients + optimizer slots +
    activations kept for the backward pass.
    """
    from kerascnn.errors import UserError
    from kerascnn.saved import load_saved_model

    model = load_saved_model(file)

    input_shape = None
    if input_size:
        input_shape = (*input_size, model.inputs[0].shape[-1])
    elif any(d is None for x in model.inputs for d in x.shape[1:]):
        raise UserError(f"{file}: the model takes inputs of any size; give --input-size H W")
    print_report(
        model,
        str(file),
        title=f"{Path(file).name}: {model.name}",
        batch_size=batch_size,
        optimizer=optimizer,
        as_json=as_json,
        memory=memory,
        input_shape=input_shape,
    )
