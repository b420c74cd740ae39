"""``kerascnn evaluate MODEL_OR_FILE --data DIR``: accuracy, per class, confusion matrix."""

from __future__ import annotations

import json
from typing import Any

import click

from kerascnn.cli._common import console, json_option, report_skipped, split_options

__all__ = ["evaluate"]


def _shorten(names: list[str], most: int = 6) -> str:
    shown = names if len(names) <= most else [*names[: most - 2], "...", names[-1]]
    return ", ".join(shown)


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
@click.option(
    "--map-by-index",
    is_flag=True,
    help="Pair class folders not named as the model's classes with its outputs by position "
    "(as many folders as classes).",
)
@json_option
def evaluate(model_or_file: str, data: str, split: str, as_json: bool, **options: Any) -> None:
    """Evaluate MODEL_OR_FILE (a .keras file, a run folder, or NAME[:WEIGHTS]) on --data.

    The split recorded with the model (the run's split.json, or the weights'
    card) is used when there is one; otherwise --validation-split, --test-split
    and --seed define it, exactly as `kerascnn train` does.

    The class folders are paired with the model's classes by name (all of
    them or some); other names are refused unless --map-by-index pairs them
    by position, which the output then says.
    """
    from kerascnn.training.evaluate import evaluate as run

    report = run(model_or_file, data, split=split, **options)  # the split, batch size, pairing
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    out = console()
    report_skipped(report.skipped)
    names, theirs = report.class_names, report.model_class_names
    if report.mapped_by_index:
        pairs = _shorten([f"{t} -> {n}" for t, n in zip(theirs, names, strict=True)])
        out.print(escape(f"classes paired by position (--map-by-index), not by name: {pairs}"))
    elif len(report.folder_class_names) < len(names):
        present = report.folder_class_names
        out.print(escape(
            f"{data} has class folders for {len(present)} of the model's {len(names)} classes "
            f"({_shorten(present)}); the others have no images here"
        ))  # fmt: skip
    where = "the whole folder" if split == "all" else f"the {split} split"
    out.print(
        f"accuracy {report.accuracy:.2%} on {where}: "
        f"{report.count - report.errors}/{report.count} images, {report.errors} errors"
    )
    table = Table(title="confusion matrix (rows: true class, columns: predicted)")
    table.add_column("class")
    for name in names:
        table.add_column(escape(name), justify="right")
    table.add_column("accuracy", justify="right")
    for name, row in zip(names, report.confusion, strict=True):
        acc = report.per_class[name]
        table.add_row(escape(name), *map(str, row), "-" if acc is None else f"{acc:.1%}")
    out.print(table)
