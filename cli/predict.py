"""``kerascnn predict``: the most probable classes of images."""

from __future__ import annotations

import json

import click

from kerascnn.cli._common import TTA_HELP, console, json_option, tta_line, tta_option

__all__ = ["predict"]


@click.command()
@click.argument("model", metavar="MODEL[:VARIANT]|FILE.keras")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--top", default=5, show_default=True, type=click.IntRange(1), help="Classes shown.")
@tta_option(TTA_HELP + " An exported model computes the TTA it was exported with.")
@json_option
def predict(model: str, images: tuple[str, ...], top: int, tta: str | None, as_json: bool) -> None:
    """Classify IMAGES (JPEG, PNG, BMP, WebP...) with a zoo model or a saved .keras file.

    MODEL is e.g. vgg16:imagenet, alexnet (its default weights), net.keras (class
    names from net.classes.json when present) or an exported .onnx/.tflite file. The
    card's preprocessing is applied. --tta flip averages each image's probabilities
    with those of its mirror (an exported model runs on both).
    """
    from kerascnn.images import load_image

    for image in images:  # fail on a bad file before building the model
        load_image(image)
    from kerascnn.deploy.runtime import is_artifact
    from kerascnn.predict import classify

    results, used = classify(model, list(images), top=top, tta=tta)
    if as_json:
        rows = [
            {"image": image, "tta": used, "predictions": [p.as_dict() for p in preds]}
            for image, preds in zip(images, results, strict=True)
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    out = console()
    baked = {"default": "computed inside the exported model"} if is_artifact(model) else {}
    out.print(tta_line(used, tta, **baked), highlight=False, soft_wrap=True)
    for image, preds in zip(images, results, strict=True):
        out.print(image, highlight=False, soft_wrap=True)
        table = Table()
        table.add_column("#", justify="right")
        table.add_column("class")
        table.add_column("probability", justify="right")
        for rank, p in enumerate(preds, start=1):
            table.add_row(str(rank), p.label, f"{p.probability:.2%}")
        out.print(table)
