"""``kerascnn visualize ...``: filters, feature maps and Grad-CAM heatmaps as PNG files."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli.main import LazyGroup

__all__ = ["visualize"]

# subcommands kept in their own modules: name -> "module:attribute"
VISUALIZE_COMMANDS: dict[str, str] = {
    "maximize": "kerascnn.cli.visualize_maximize:maximize",
}

_MODEL_HELP = (
    "MODEL is a zoo name (vgg16:imagenet; a bare name takes its default weights), "
    "a .keras file or a run folder."
)


@click.group(cls=LazyGroup, lazy=VISUALIZE_COMMANDS)
def visualize() -> None:
    """Pictures of a network: its filters, feature maps and Grad-CAM heatmaps (PNG)."""


def _resolve(spec: str) -> tuple[Any, Any]:
    """The model and its preprocessing function (None for raw pixels), by ``kerascnn.load``:
    a bare model name takes its default published weights, where it has any."""
    from kerascnn.resolve import load

    loaded = load(spec, default_weights=True)
    return loaded.model, (None if loaded.preprocessing == "none" else loaded.preprocess)


def _save(picture: Any, output: str) -> None:
    import numpy as np

    from kerascnn.cli._common import console
    from kerascnn.images import save_image

    path = save_image(output, np.asarray(picture, np.float32))
    console(stderr=True).print(f"wrote {path} ({picture.width}x{picture.height})", highlight=False)


def _output(default: str) -> Any:
    return click.option(
        "-o",
        "--output",
        default=default,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="PNG file to write.",
    )


@visualize.command("filters", epilog=_MODEL_HELP)
@click.argument("model")
@click.option("--layer", help="Convolution layer (default: the first one).")
@click.option(
    "--max",
    "max_filters",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="At most this many filters.",
)
@_output("filters.png")
def filters_command(model: str, layer: str | None, max_filters: int, output: str) -> None:
    """Draw MODEL's convolution kernels: RGB tiles for the first layer, grey ones deeper."""
    from kerascnn.interpret.visualize import filters

    _save(filters(_resolve(model)[0], layer, max_filters=max_filters), output)


@visualize.command("features", epilog=_MODEL_HELP)
@click.argument("model")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--layer", required=True, help="Layer whose output maps to draw.")
@click.option(
    "--max",
    "max_maps",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="At most this many maps.",
)
@_output("maps.png")
def features_command(model: str, image: str, layer: str, max_maps: int, output: str) -> None:
    """Draw the feature maps LAYER of MODEL computes for IMAGE, after the input itself."""
    from kerascnn.images import load_image
    from kerascnn.interpret.visualize import features

    pixels = load_image(image)
    net, prep = _resolve(model)
    _save(features(net, pixels, layer, max_maps, preprocess=prep), output)


@visualize.command("gradcam", epilog=_MODEL_HELP)
@click.argument("model")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--class", "class_index", type=int, help="Class index (default: the predicted one).")
@click.option("--layer", help="Layer with feature maps (default: the last one).")
@_output("cam.png")
def gradcam_command(
    model: str, image: str, class_index: int | None, layer: str | None, output: str
) -> None:
    """Draw the Grad-CAM heatmap of MODEL's class over IMAGE: where the evidence is."""
    from kerascnn.images import load_image
    from kerascnn.interpret.visualize import gradcam

    pixels = load_image(image)
    net, prep = _resolve(model)
    _save(gradcam(net, pixels, class_index, layer=layer, preprocess=prep), output)
