"""``kerascnn finetune``: the two-phase transfer-learning recipe on a folder of images, as
phases of the training engine (run folder, resume, devices, the same flags as ``train``)."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli._common import data_option, quiet, report_skipped
from kerascnn.cli._run_options import (
    POSITIVE,
    config_from,
    engine_options,
    report_result,
    run_interruptible,
)
from kerascnn.errors import UserError
from kerascnn.training.config import FinetuneConfig, config_default

__all__ = ["finetune"]


def _classes(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 2:
        raise UserError(
            f"--classes must be 'auto' or a number of at least 2, got {value!r}; "
            "give the number of class folders in --data, or auto"
        )
    return int(value)


def _default(name: str) -> object:
    return config_default(FinetuneConfig, name)


@click.command(context_settings={"show_default": True})
@click.argument("model")
@data_option
@click.option("--classes", default=str(_default("classes")), help="Number of classes, or auto.")
@click.option("--head-epochs", default=_default("head_epochs"), type=click.IntRange(0),
              help="Phase 1: the new head on the frozen backbone.")  # fmt: skip
@click.option("--finetune-epochs", default=_default("finetune_epochs"), type=click.IntRange(0),
              help="Phase 2: the unfrozen blocks too.")  # fmt: skip
@click.option("--unfreeze", default=_default("unfreeze"),
              help="Phase 2 trains from this layer (name or index) or the top N blocks "
              "(top-N-blocks).")  # fmt: skip
@click.option("--backbone-lr-mult", default=_default("backbone_lr_mult"), type=POSITIVE,
              help="Backbone learning rate / --lr.")  # fmt: skip
@click.option("--lr-decay", type=float, metavar="FACTOR", default=_default("lr_decay"),
              help="Layer-wise decay in (0, 1]: each block from the head down trains at FACTOR "
              "x the rate of the block above it (replaces --backbone-lr-mult).")  # fmt: skip
@click.option(
    "--augment/--no-augment",
    default=True,
    help="Augment the training images as the zoo card's training does (zoo models).",
)
@click.option("--adapt-batch-norm", is_flag=True, default=_default("adapt_batch_norm"),
              help="Re-estimate batch-norm statistics on DATA first (AdaBN; helps on a new "
              "domain).")  # fmt: skip
@click.option("--output", default="finetuned", type=click.Path(), help="Run folder.")
@engine_options(FinetuneConfig)
def finetune(model: str, data: str, classes: str, unfreeze: str, augment: bool, output: str,
             resume: bool, force: bool, **options: Any) -> None:  # fmt: skip
    """Fine-tune MODEL[:VARIANT] (or a .keras file, or a run folder) on DATA.

    A bare MODEL starts from its default published weights (e.g. vgg16 is vgg16:imagenet).

    Phase 1 trains a new classifier on the frozen backbone; phase 2 also
    trains the layers from --unfreeze on, the backbone at --lr times
    --backbone-lr-mult (or, with --lr-decay, decaying block by block).
    Blocks are layer-name prefixes before '_' (block5_*, stage3_*, conv5_*).
    It runs through the same engine as `kerascnn train`: the run folder
    OUTPUT (model.keras with its class names, best.keras, history.csv/.png,
    args.json, split.json, backup/), resume after an interruption, --strategy,
    --mixed-precision; `kerascnn predict OUTPUT IMAGE` prints class names.
    """
    from kerascnn.training.run import RunFolder
    from kerascnn.transfer.recipe import finetune as run

    options["classes"] = _classes(classes)
    options["unfreeze"] = int(unfreeze) if unfreeze.lstrip("-").isdigit() else unfreeze
    options["augmentation"] = "auto" if augment else None
    config = config_from(FinetuneConfig, options)
    out = RunFolder(output).check(force=force, resumable=True).path
    result = run_interruptible(out, lambda: run(
        model, data, config, output_dir=out, resume=resume, force=force,
        verbose=0 if quiet() else "auto",
    ))  # fmt: skip
    report_skipped(result.skipped)
    click.echo(f"{len(result.classes)} classes: {', '.join(result.classes)}")
    report_result(result)
