"""``kerascnn visualize ...``: filters, feature maps and Grad-CAM heatmaps as PNG files."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli.main import LazyGroup

__all__ = ["visualize"]

_MODEL_HELP = (
    "MODEL is a zoo name (vgg16:imagenet; a bare name takes its default weights), "
    "a .keras file or a run folder."
)


@click.group(cls=LazyGroup, lazy={"maximize": "kerascnn.cli.visualize_maximize:maximize"})
def visualize() -> None:
    """Pictures of a network: its filters, feature maps and Grad-CAM heatmaps (PNG)."""


def _resolve(spec: str, output: str, force: bool) -> tuple[Any, Any]:
    """Check ``output``, then load the model and its preprocessing (None for raw pixels)."""
    from kerascnn.images import check_image_target
    from kerascnn.resolve import load

    check_image_target(output, force)
    loaded = load(spec)
    return loaded.model, (None if loaded.preprocessing == "none" else loaded.preprocess)


def _save(picture: Any, output: str) -> None:
    import numpy as np

    from kerascnn.cli._common import console
    from kerascnn.images import save_image

    path = save_image(output, np.asarray(picture, np.float32))
    console(stderr=True).print(f"wrote {path} ({picture.width}x{picture.height})", highlight=False)


def _picture_options(default: str, what: str | None = None) -> Any:
    """``-o/--output`` and ``--force`` (and ``--max N`` of ``what``), shared by the commands."""

    def decorate(fn: Any) -> Any:
        help_max = f"At most this many {what}."
        if what:
            fn = click.option("--max", "limit", type=click.IntRange(min=1), default=64,
                              show_default=True, help=help_max)(fn)  # fmt: skip
        fn = click.option("--force", is_flag=True, help="Overwrite the output file.")(fn)
        return click.option("-o", "--output", default=default, show_default=True,
                            help="PNG file to write.")(fn)  # fmt: skip

    return decorate


@visualize.command("filters", epilog=_MODEL_HELP)
@click.argument("model")
@click.option("--layer", help="Convolution layer (default: the first one).")
@_picture_options("filters.png", "filters")
def filters_command(model: str, layer: str | None, limit: int, output: str, force: bool) -> None:
    """Draw MODEL's convolution kernels: RGB tiles for the first layer, grey ones deeper."""
    from kerascnn.interpret.visualize import filters

    _save(filters(_resolve(model, output, force)[0], layer, max_filters=limit), output)


@visualize.command("features", epilog=_MODEL_HELP)
@click.argument("model")
@click.argument("image", type=click.Path())
@click.option("--layer", required=True, help="Layer whose output maps to draw.")
@_picture_options("maps.png", "maps")
def features_command(
    model: str, image: str, layer: str, limit: int, output: str, force: bool
) -> None:
    """Draw the feature maps LAYER of MODEL computes for IMAGE, after the input itself."""
    from kerascnn.images import load_image
    from kerascnn.interpret.visualize import features

    pixels = load_image(image)
    net, prep = _resolve(model, output, force)
    _save(features(net, pixels, layer, limit, preprocess=prep), output)


@visualize.command("gradcam", epilog=_MODEL_HELP)
@click.argument("model")
@click.argument("image", type=click.Path())
@click.option("--class", "class_index", type=int, help="Class index (default: the predicted one).")
@click.option("--layer", help="Layer with feature maps (default: the last one).")
@_picture_options("cam.png")
def gradcam_command(
    model: str, image: str, class_index: int | None, layer: str | None, output: str, force: bool
) -> None:
    """Draw the Grad-CAM heatmap of MODEL's class over IMAGE: where the evidence is."""
    from kerascnn.images import load_image
    from kerascnn.interpret.visualize import gradcam

    pixels = load_image(image)
    net, prep = _resolve(model, output, force)
    _save(gradcam(net, pixels, class_index, layer=layer, preprocess=prep), output)
