"""``kerascnn dream IMAGE``: DeepDream an image with any zoo model or saved Keras model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kerascnn.cli._common import console, quiet
from kerascnn.errors import UserError
from kerascnn.preprocessing import PREPROCESSING

__all__ = ["dream", "parse_indices", "parse_layers"]


def parse_indices(text: str, what: str = "channels") -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``; a one-line ``UserError`` when malformed."""
    out: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, sep, hi = part.partition("-")
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        if not out or min(out) < 0:
            raise ValueError(text)
    except ValueError:
        raise UserError(f"bad {what} {text!r}; use indices and ranges like 0-15,20") from None
    return out


def parse_layers(text: str) -> dict[str, float]:
    """``"block4_conv3=1,block5_conv1=1.5"`` (weight 1 when left out) -> a dict."""
    layers: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        try:
            layers[name.strip()] = float(weight) if sep else 1.0
        except ValueError:
            raise UserError(
                f"bad layer weight in {part!r}; use name=weight, e.g. block4_conv3=1.5"
            ) from None
    if not layers:
        raise UserError(f"bad --layers {text!r}; use name=weight,... e.g. block4_conv3=1.5")
    return layers


def _list_layers(spec: str) -> None:
    from rich.table import Table

    from kerascnn.interpret.dream import dream_layers, dreamable_layers
    from kerascnn.resolve import is_path, load
    from kerascnn.weights.cards import parse_spec

    # the layers do not depend on the weights: no download needed to list them
    loaded = load(spec) if is_path(spec) else load(parse_spec(spec)[0], weights=None)
    model = loaded.model
    defaults = dream_layers(model, loaded.architecture_card)
    title = f"layers of {model.name} one can dream on (* default)"
    table = Table("layer", "type", "output shape", "default weight", title=title)
    for name in dreamable_layers(model):
        layer = model.get_layer(name)
        shape = "x".join("?" if d is None else str(d) for d in layer.output.shape[1:])
        weight = defaults.get(name)
        table.add_row(name, type(layer).__name__, shape, "" if weight is None else f"* {weight:g}")
    console().print(table)


@click.command(context_settings={"show_default": True})
@click.argument("image", required=False, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output image (default: IMAGE_dream.png next to the input).",
)
@click.option(
    "--model",
    "spec",
    default="vgg16:imagenet",
    help="Zoo model spec (NAME:WEIGHTS, or NAME for its default published weights) or a "
    "saved .keras file.",
)
@click.option("--layers", help="Layers to amplify as name=weight,... (default: the model's).")
@click.option("--octaves", type=click.IntRange(1), default=4, help="Number of scales.")
@click.option(
    "--octave-scale", type=click.FloatRange(1.0), default=1.4, help="Size ratio between octaves."
)
@click.option(
    "--steps", type=click.IntRange(1), default=20, help="Gradient-ascent steps per octave."
)
@click.option(
    "--step-size",
    type=click.FloatRange(0, min_open=True),
    default=0.01,
    help="Mean pixel change per step (images in [-1, 1]).",
)
@click.option(
    "--tile-size",
    type=click.IntRange(0),
    default=512,
    help="Gradients tile by tile (bounded memory); 0: the whole image at once.",
)
@click.option(
    "--jitter", type=click.IntRange(0), default=32, help="Random shift per step, in pixels."
)
@click.option("--max-loss", type=float, help="Stop an octave once the loss exceeds this.")
@click.option("--channels", help="Amplify only these channels, e.g. 0-15,20.")
@click.option("--guide", type=click.Path(path_type=Path), help="Dream toward its features.")
@click.option("--seed", type=int, help="Random seed (same seed, same dream).")
@click.option(
    "--max-side",
    type=click.IntRange(2),
    help="Dream on a copy shrunk to this longer side; the output keeps the input size.",
)
@click.option(
    "--preprocessing",
    type=click.Choice(["auto", *PREPROCESSING]),
    default="auto",
    help="Pixel preprocessing; auto: from the model's weights. "
    + "; ".join(f"{p.name}: {p.description}" for p in PREPROCESSING.values()),
)
@click.option("--list-layers", is_flag=True, help="List the layers one can dream on and exit.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def dream(
    image: Path | None,
    output: Path | None,
    spec: str,
    layers: str | None,
    channels: str | None,
    guide: Path | None,
    tile_size: int,
    max_side: int | None,
    preprocessing: str,
    list_layers: bool,
    force: bool,
    **ascent: Any,  # the other options, passed on to deep_dream as they are
) -> None:
    """DeepDream IMAGE: amplify what the model's layers see, octave by octave.

    Writes IMAGE_dream.png (or -o OUT) at the input's size, alpha kept. The
    default model, vgg16:imagenet, is downloaded on first use.
    """
    if list_layers:
        _list_layers(spec)
        return
    if image is None:
        raise UserError("missing IMAGE; e.g. kerascnn dream photo.jpg (or --list-layers)")
    from kerascnn.images import check_image_target, load_image, resize, save_image

    output = check_image_target(output or image.with_name(f"{image.stem}_dream.png"), force)
    source = load_image(image, min_side=2)
    if guide is not None:
        load_image(guide, min_side=2)  # a bad guide fails before the model loads
    kwargs = {
        "layers": parse_layers(layers) if layers else None,
        "channels": parse_indices(channels) if channels else None,
        "guide": guide,
        "tile_size": tile_size or None,
    }
    from kerascnn.interpret.dream import deep_dream, load_dream_model

    loaded = load_dream_model(spec, None if preprocessing == "auto" else preprocessing)
    if not loaded.pretrained and not quiet():
        console(stderr=True).print(
            f"note: {spec} has random weights (none published); dreams need trained ones, "
            "e.g. --model vgg16:imagenet"
        )
    pixels = source.pixels
    height, width = pixels.shape[:2]
    if max_side and max(height, width) > max_side:
        ratio = max_side / max(height, width)
        pixels = resize(pixels, (max(2, round(height * ratio)), max(2, round(width * ratio))))
    dreamed = deep_dream(loaded, pixels, progress=not quiet(), **kwargs, **ascent)
    if dreamed.shape[:2] != (height, width):  # put the dream's detail on the full-size input
        dreamed = source.pixels + resize(dreamed - pixels, (height, width))
    save_image(output, dreamed, source.alpha)
    if not quiet():
        console(stderr=True).print(f"wrote {output}")
