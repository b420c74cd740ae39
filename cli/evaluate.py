"""``kerascnn evaluate MODEL_OR_FILE --data DIR``: accuracy, per class, confusion matrix."""

from __future__ import annotations

import json
from typing import Any

import click

from kerascnn.cli._common import console, json_option, report_skipped, split_options

__all__ = ["evaluate"]


@click.command()
@click.argument("model_or_file")
@click.option("--data", required=True, type=click.Path(), help="Folder of class sub-folders.")
@click.option(
    "--split",
    type=click.Choice(["all", "train", "validation", "test"]),
    default="all",
    show_default=True,
    help="Which part of the split to evaluate on.",
)
@split_options
@click.option("--batch-size", default=64, type=click.IntRange(1), help="Images per batch.")
@json_option
def evaluate(model_or_file: str, data: str, split: str, as_json: bool, **options: Any) -> None:
    """Evaluate MODEL_OR_FILE (a .keras file, a run folder, or NAME[:WEIGHTS]) on --data.

    The split recorded with the model (the run's split.json, or the weights'
    card) is used when there is one; otherwise --validation-split, --test-split
    and --seed define it, exactly as `kerascnn train` does.
    """
    from kerascnn.training.evaluate import evaluate as run

    report = run(model_or_file, data, split=split, **options)  # the split and batch size
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    out = console()
    report_skipped((item["path"], item["reason"]) for item in report["skipped"])
    out.print(
        f"accuracy {report['accuracy']:.2%} on the {split} split: "
        f"{report['count'] - report['errors']}/{report['count']} images, {report['errors']} errors"
    )
    names = report["class_names"]
    table = Table(title="confusion matrix (rows: true class, columns: predicted)")
    table.add_column("class")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("accuracy", justify="right")
    for name, row in zip(names, report["confusion"], strict=True):
        acc = report["per_class"][name]
        table.add_row(name, *map(str, row), "-" if acc is None else f"{acc:.1%}")
    out.print(table)
