"""``kerascnn summary MODEL``: the layer table and training memory of any model."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli._report import report_options, show_report

__all__ = ["summary"]


@click.command()
@click.argument("model")
@report_options
def summary(model: str, input_size: tuple[int, int] | None, **options: Any) -> None:
    """Show MODEL (a zoo name, a .keras file or a run folder) layer by layer.

    Per layer: output shape, activations, their memory, parameters and MACs
    (multiply-accumulates of convolutions and dense layers). Then the memory of
    one training step at --batch-size: weights + gradients + optimizer slots +
    activations kept for the backward pass.
    """
    show_report(model, input_size, **options)
