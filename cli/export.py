"""``kerascnn export MODEL --format F``: a deployable artifact, checked against Keras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kerascnn.cli._common import (
    console,
    force_option,
    image_size_option,
    json_option,
    tta_option,
)
from kerascnn.deploy.formats import FORMATS, INPUT_DTYPES, LAYOUTS, QUANTIZE
from kerascnn.preprocessing import PREPROCESSING

if TYPE_CHECKING:
    from kerascnn.deploy.exporter import ExportResult

__all__ = ["export"]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def _report(result: ExportResult) -> None:
    """What was written, what the artifact takes and gives, and the measured difference."""
    meta = result.metadata
    h, w = meta["input_size"]
    pre = meta["preprocessing"]
    out = console()
    extras = " and ".join(p.name for p in result.files[1:])
    out.print(f"wrote {result.path} ({_megabytes(result.size)}) with {extras}", highlight=False)
    inp = meta["input"]
    shape = ", ".join(str(d) for d in ["N", *inp["shape"][1:]])
    out.print(
        f"input '{inp['name']}': {inp['dtype']} [{shape}], RGB values 0-255; "
        f"preprocessing baked in: {pre['mode']}, {pre['description']}"
        + ("; softmax added" if meta["softmax_added"] else "")
        + f"; output '{meta['output']['name']}': {len(meta['classes'])} probabilities"
        + ("" if meta["weights"]["pretrained"] else "; RANDOM weights (--allow-random)")
        + ("" if result.quantize == "none" else f"; quantized: {result.quantize}"),
        highlight=False,
        soft_wrap=True,
    )
    _report_tta(result)
    check = result.verification
    if check is None:
        out.print("not compared with Keras (--no-verify)", highlight=False)
        return
    agree = round(check["top1_agreement"] * check["images"])
    gate = (meta.get("calibration") or {}).get("gate")
    if gate:
        out.print(
            f"int8 on {gate['images']} held-out calibration images: same top-1 as Keras on "
            f"{gate['top1_agreement']:.1%} (gate {gate['threshold']:.0%}), max probability "
            f"difference {gate['max_abs_diff']:.3f}",
            highlight=False,
            soft_wrap=True,
        )
    limit = f" (limit {check['tolerance']:g})" if check["tolerance"] else ""
    out.print(
        f"checked in {check['runtime']} against Keras on {check['images']} photos: max "
        f"probability difference {check['max_abs_diff']:.2e}{limit}, same top-1 class on "
        f"{agree}/{check['images']}",
        highlight=False,
        soft_wrap=True,
    )


def _report_tta(result: Any) -> None:
    """The test-time augmentation baked in, or the card's default that is not."""
    from kerascnn.tta import describe

    tta = result.metadata.get("tta", "none")
    if tta != "none":
        text = f"test-time augmentation baked in: {tta} ({describe(tta)})"
    elif result.card_tta:
        text = (
            f"not baked in: the {result.card_tta} test-time augmentation the weights' card "
            f"turns on for evaluate and predict; pass --tta {result.card_tta} to bake it in"
        )
    else:
        return
    console().print(text, highlight=False, soft_wrap=True)


def _triton(
    model: str, names: list[str] | None, verify: bool, as_json: bool, options: dict, extra: dict
) -> None:
    """``--format triton-repo``: the ONNX export laid out as a Triton model repository."""
    from kerascnn.deploy.triton import export_repository

    directory, force = options.pop("output") or "triton_repo", options.pop("force")
    if not str(model).lower().endswith(".onnx"):  # else: copied, checked when exported
        extra = {**options, **extra, "labels": names, "verify": verify}
    repo = export_repository(model, directory, force=force, **extra)
    if as_json:
        click.echo(json.dumps({"files": [str(p) for p in repo.files], **repo.metadata}, indent=2))
        return
    files = ", ".join(str(p.relative_to(repo.path.parent)) for p in repo.files)
    inp = repo.metadata["input"]
    console().print(
        f"wrote Triton model {repo.name!r} in {repo.path.parent}: {files}; input "
        f"'{inp['name']}' {inp['dtype']} {inp['shape'][1:]}, output "
        f"'{repo.metadata['output']['name']}' ({len(repo.metadata['classes'])} classes)",
        highlight=False,
        soft_wrap=True,
    )


@click.command()
@click.argument("model", metavar="MODEL_OR_SPEC_OR_FILE")
@click.option(
    "-f",
    "--format",
    "fmt",
    required=True,
    metavar="|".join([*FORMATS, "triton-repo"]),
    help="savedmodel (folder), onnx (.onnx), litert (.tflite), openvino (folder) or "
    "triton-repo (a Triton model repository folder: NAME/config.pbtxt, NAME/1/model.onnx).",
)
@click.option("-o", "--output", type=click.Path(), help="File or folder to write.")
@click.option(
    "--quantize",
    type=click.Choice(QUANTIZE),
    default="none",
    show_default=True,
    help="float16 (litert) or int8 (litert, onnx, openvino), post-training.",
)
@click.option("--calibration", type=click.Path(), help="Folder of photos to calibrate int8 on.")
@click.option(
    "--accept-loss", is_flag=True, help="Keep an int8 export that fails the agreement gate."
)
@click.option(
    "--input-dtype",
    type=click.Choice(INPUT_DTYPES),
    default="uint8",
    show_default=True,
    help="What the input takes: raw uint8 pixels, or float32 ones.",
)
@click.option(
    "--layout", type=click.Choice(LAYOUTS), default="nhwc", show_default=True, help="Input layout."
)
@click.option("--opset", type=click.IntRange(13, 21), help="ONNX opset (default: the converter's).")
@image_size_option
@click.option(
    "--weights",
    type=click.Path(),
    help="A weights file for a zoo model name (none: random initial weights, with "
    "--allow-random; default: its published ones).",
)
@click.option(
    "--preprocessing",
    type=click.Choice(list(PREPROCESSING)),
    help="Override the weights' preprocessing (e.g. caffe for VGG16's Keras file).",
)
@click.option("--labels", type=click.Path(dir_okay=False), help="Class names, one a line.")
@tta_option(
    "Bake test-time augmentation in: the artifact averages the probabilities of each image "
    "and its mirror (flip), and of both translated by 1 px (flip+shift: 6 views). Default: "
    "none, even for weights whose card turns TTA on for evaluate and predict."
)
@click.option("--no-verify", is_flag=True, help="Skip the comparison with the Keras model.")
@click.option(
    "--allow-random", is_flag=True, help="Export a model without pretrained weights anyway."
)
@force_option
@json_option
def export(model: str, fmt: str, weights: str | None, labels: str | None, **options: Any) -> None:
    """Export MODEL_OR_SPEC_OR_FILE for deployment, with its preprocessing baked in.

    MODEL_OR_SPEC_OR_FILE is a zoo spec (gesture_cnn:sign-digits; a bare name takes its
    default published weights), a zoo name with --weights FILE, a .keras file or a run
    folder. The artifact takes RGB pixels in [0, 255] at the model's input size and
    outputs probabilities. Its class names, preprocessing and the rest go inside it,
    and beside it into NAME.labels.txt and NAME.json (inside a folder). It is loaded
    in its own runtime and compared with the Keras model on photos before it is moved
    into place; int8 is also compared on a held-out third of its calibration set (at
    least 98% agreement).
    """
    from kerascnn.deploy.exporter import export as run
    from kerascnn.errors import UserError

    as_json, verify = options.pop("as_json"), not options.pop("no_verify")
    names = None
    if labels is not None:
        path = Path(labels)
        if not path.is_file():
            raise UserError(f"{path}: no such file; --labels takes a text file, one class a line")
        names = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    builder_args: dict[str, Any]
    builder_args = {} if weights is None else {"weights": None if weights == "none" else weights}
    if fmt == "triton-repo":
        return _triton(model, names, verify, as_json, options, builder_args)
    result = run(model, fmt, labels=names, verify=verify, **options, **builder_args)
    if as_json:
        files = [str(p) for p in result.files]
        facts = {"files": files, "size": result.size, **result.metadata}
        click.echo(json.dumps({**facts, "card_tta": result.card_tta}, indent=2))
        return
    _report(result)
