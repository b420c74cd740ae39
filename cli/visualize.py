"""``kerascnn visualize ...``: filters, feature maps and Grad-CAM heatmaps as PNG files."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli.main import LazyGroup

__all__ = ["load_model", "visualize"]

# subcommands kept in their own modules: name -> "module:attribute"
VISUALIZE_COMMANDS: dict[str, str] = {
    "maximize": "kerascnn.cli.visualize_maximize:maximize",
}

_MODEL_HELP = "MODEL is a zoo name (with a weight variant, vgg16:imagenet) or a .keras file."


@click.group(cls=LazyGroup, lazy=VISUALIZE_COMMANDS)
def visualize() -> None:
    """Pictures of a network: its filters, feature maps and Grad-CAM heatmaps (PNG)."""


def load_model(spec: str) -> tuple[Any, Any]:
    """A model and its input preprocessing, from a zoo spec or a saved ``.keras`` file.

    A bare model name takes its default published weights; a model without any
    is built with fresh (random) weights.
    """
    from kerascnn.registry import create_model, get_model_card
    from kerascnn.saved import is_model_file

    if not is_model_file(spec):
        name, variant = spec.partition(":")[::2]
        if not variant and not get_model_card(name).get("weights"):
            return create_model(name), None
    from kerascnn.prediction import load_predictor, preprocess

    predictor = load_predictor(spec)
    mode = predictor.preprocessing
    return predictor.model, (None if mode == "none" else lambda batch: preprocess(batch, mode))


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
    from kerascnn.visualize import filters

    _save(filters(load_model(model)[0], layer, max_filters=max_filters), output)


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
    from kerascnn.visualize import features

    pixels = load_image(image)
    net, prep = load_model(model)
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
    from kerascnn.visualize import gradcam

    pixels = load_image(image)
    net, prep = load_model(model)
    _save(gradcam(net, pixels, class_index, layer=layer, preprocess=prep), output)
