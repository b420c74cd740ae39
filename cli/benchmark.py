"""``kerascnn benchmark MODEL --data FOLDER``: every export format side by side with Keras."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from kerascnn.cli._common import console, force_option, json_option

__all__ = ["benchmark"]

_COLUMNS = ("format", "status", "size_mb", "top1", "agreement", "max_abs_diff", "ms_per_image",
            "images_per_s")  # fmt: skip


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    return {
        "mb": f"{value:.2f}",
        "pct": f"{value:.2%}",
        "diff": f"{value:.1e}",
        "ms": f"{value:.2f}",
        "ips": f"{value:,.0f}",
    }[kind]


def _table(rows: list[Any], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, justify in (("format", "left"), ("status", "left"), ("size MB", "right"),
                          ("top-1", "right"), ("same top-1 as Keras", "right"),
                          ("max |Δp|", "right"), ("ms/image (batch 1)", "right"),
                          ("images/s (batch 64)", "right")):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")
    for r in rows:
        table.add_row(r.format, r.status, _cell(r.size_mb, "mb"), _cell(r.top1, "pct"),
                      _cell(r.agreement, "pct"), _cell(r.max_abs_diff, "diff"),
                      _cell(r.ms_per_image, "ms"), _cell(r.images_per_s, "ips"))  # fmt: skip
    return table


def _csv(rows: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_dict())
    return out.getvalue()


@click.command()
@click.argument("model", metavar="MODEL_OR_SPEC_OR_FILE")
@click.option("--data", required=True, type=click.Path(), help="Folder of class sub-folders.")
@click.option(
    "-f",
    "--format",
    "formats",
    multiple=True,
    metavar="NAME",
    help="A row to measure (repeatable): keras, savedmodel, onnx, onnx-int8, litert, "
    "litert-int8, openvino, openvino-int8. Default: all.",
)
@click.option(
    "--split",
    type=click.Choice(["all", "train", "validation", "test"]),
    default="all",
    show_default=True,
    help="Images of the weights' recorded split to measure on.",
)
@click.option("--calibration", type=click.Path(), help="Folder of photos to calibrate int8 on.")
@click.option("--limit", type=click.IntRange(1), help="At most this many images.")
@click.option(
    "--floor",
    type=click.FloatRange(0, 1),
    help="Exit with status 1 when a row's top-1 (a fraction, e.g. 0.9) is below this.",
)
@click.option(
    "--csv", "csv_path", type=click.Path(), help="CSV file [default: MODEL.benchmark.csv]."
)
@force_option
@json_option
def benchmark(
    model: str,
    data: str,
    formats: tuple[str, ...],
    csv_path: str | None,
    floor: float | None,
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Export MODEL_OR_SPEC_OR_FILE to every format and compare them on --data.

    Each artifact runs in its own runtime (onnxruntime, LiteRT, OpenVINO, TensorFlow)
    on the same images as the Keras model: size, top-1, agreement with Keras (share of
    equal top-1 classes and the largest probability difference), latency of one image
    and images/s at batch 64. A format that fails is a row with its reason. The rows
    also go to a CSV file.
    """
    from kerascnn.atomic import check_target, write_text
    from kerascnn.deploy.bench import check_rows
    from kerascnn.deploy.formats import default_output, get_format

    check_rows(formats)  # before any work
    default = default_output(model, get_format("onnx"), "none").with_suffix(".benchmark.csv")
    target = check_target(csv_path or default, force=force)
    from kerascnn.deploy.bench import benchmark as run

    out = console(stderr=as_json)

    def progress(row: Any) -> None:
        out.print(f"{row.format}: {row.status}", highlight=False, soft_wrap=True)

    result = run(model, data, formats=list(formats), progress=progress, **options)
    rows = result.rows
    write_text(target, _csv(rows))
    if as_json:
        click.echo(json.dumps(result.as_dicts(), indent=2))
    else:
        where = data if result.split == "all" else f"{data} ({result.split} split)"
        out.print(_table(rows, f"{model} on {where}, Keras on {result.backend}"))
        out.print(f"wrote {Path(target)}", highlight=False)
    low = [r for r in rows if r.top1 is not None and floor is not None and r.top1 < floor]
    if low:
        names = ", ".join(f"{r.format} {r.top1:.2%}" for r in low)
        click.echo(f"top-1 below the floor {floor:.2%}: {names}", err=True)
        raise SystemExit(1)
