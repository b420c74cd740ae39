"""``kerascnn visualize maximize MODEL --layer NAME``: the input each filter likes most."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kerascnn.cli._common import console, quiet
from kerascnn.cli.dream import parse_indices

__all__ = ["maximize"]


@click.command(context_settings={"show_default": True})
@click.argument("model")
@click.option("--layer", required=True, help="Layer whose filters to maximise.")
@click.option("--filters", default="0-15", help="Filter indices, e.g. 0-15,20.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("maximize.png"),
    help="Grid image to write.",
)
@click.option("--size", type=click.IntRange(8), default=128, help="Tile side.")
@click.option("--steps", type=click.IntRange(1), default=20, help="Per octave.")
@click.option("--octaves", type=click.IntRange(1), default=3, help="Scales.")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def maximize(
    model: str, layer: str, filters: str, output: Path, force: bool, **ascent: Any
) -> None:
    """Activation maximisation: a grid of the images each filter of LAYER responds to most.

    MODEL is a zoo spec (NAME or NAME:WEIGHTS) or a saved .keras file; the
    gradient ascent is DeepDream's (kerascnn.interpret.ascent).
    """
    from kerascnn.images import check_image_target

    check_image_target(output, force)
    indices = parse_indices(filters, "filters")
    from kerascnn.canvas import save_picture
    from kerascnn.interpret.maximize import filter_picture, maximize_filters

    images = maximize_filters(model, layer, indices, **ascent)  # size, steps, octaves, seed
    caption = f"{layer} of {model}: the image each filter (numbered) responds to most"
    picture = filter_picture(images, [str(i) for i in indices], caption=caption)
    picture.info["layer"] = layer
    save_picture(picture, output)
    if not quiet():
        console(stderr=True).print(f"wrote {output} ({len(indices)} filters of {layer})")
