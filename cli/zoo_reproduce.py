"""``kerascnn zoo reproduce``: retrain a published weight from its recipe."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kerascnn.cli._common import console, json_option
from kerascnn.errors import UserError
from kerascnn.registry import get_model_card
from kerascnn.weights.cards import parse_spec

__all__ = ["reproduce"]


@click.command()
@click.argument("spec")
@click.option(
    "--data",
    required=True,
    type=click.Path(file_okay=True, dir_okay=True),
    help="The recipe's data (a folder of class folders, or the CIFAR-10 zip).",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    help="Run folder (default: runs/reproduce-NAME-VARIANT).",
)
@json_option
def reproduce(spec: str, data: str, output: str | None, as_json: bool) -> None:
    """Retrain weight SPEC (NAME:VARIANT) by its recipe; print test accuracy beside the card.

    Every recipe trains through `kerascnn.fit`, on any Keras backend (e.g.
    KERAS_BACKEND=jax on a GPU); the output folder is the engine's run folder (rerun the
    command to resume an interrupted run, or to print a finished one's result) and gets the
    weights file, never over the bundled one. The CIFAR-10 zip is extracted once into
    kerascnn's cache folder.
    """
    from kerascnn.zoo.recipes import RECIPES, reproduce

    name, variant = parse_spec(spec)
    if variant is None or spec not in RECIPES:
        raise UserError(f"no recipe for {spec!r}; recipes exist for: {', '.join(sorted(RECIPES))}")
    published = get_model_card(name).weight(variant).accuracy
    if not Path(data).exists():
        raise UserError(f"{data}: no such data folder or file; give the recipe's data with --data")
    result_folder = Path(output or f"runs/reproduce-{name}-{variant}")
    result = reproduce(spec, data, result_folder)
    row = {
        "spec": spec,
        "test_accuracy": result["accuracy"],
        "test_images": result["count"],
        "errors": result["errors"],
        "train_seconds": result.get("train_seconds"),
        "card_accuracy": published.get("top1"),
        "card_test_images": published.get("test_images"),
        "card_errors": published.get("errors"),
        "weights": result.get("weights"),
        "reused": bool(result.get("reused")),
    }
    if "accuracy_tta" in result:  # the recipe scored its test-time augmentation too
        row.update(
            tta=result["tta"],
            test_accuracy_tta=result["accuracy_tta"],
            errors_tta=result["errors_tta"],
            card_accuracy_tta=published.get("top1_tta"),
        )
    if as_json:
        click.echo(json.dumps(row, indent=2))
        return
    console().print(
        f"{spec}: test accuracy {100 * row['test_accuracy']:.2f}% "
        f"({row['errors']} errors in {row['test_images']} images) in "
        f"{row['train_seconds']:.0f} s; card: {row['card_accuracy']:.2f}% "
        f"({row['card_errors']} errors in {row['card_test_images']} images)"
        + _tta_line(row)
        + f"\nweights: {row['weights']}",
        highlight=False,
    )
    if row["reused"]:
        console().print(
            f"(the recipe already ran in {result_folder}: its result.json; give another "
            "--output to train again)",
            highlight=False,
        )


def _tta_line(row: dict) -> str:
    """The test-time augmentation figures, on a line of their own (none without them)."""
    if "tta" not in row:
        return ""
    return (
        f"\nwith --tta {row['tta']}: {100 * row['test_accuracy_tta']:.2f}% "
        f"({row['errors_tta']} errors); card: {row['card_accuracy_tta']}%"
    )
