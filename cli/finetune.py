"""``kerascnn finetune``: the two-phase transfer-learning recipe on a folder of images."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli._common import (
    FRACTION,
    POSITIVE,
    console,
    data_option,
    force_option,
    image_size_option,
    quiet,
    report_skipped,
)
from kerascnn.errors import UserError

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


@click.command(context_settings={"show_default": True})
@click.argument("model")
@data_option
@click.option("--classes", default="auto", help="Number of classes, or auto.")
@click.option("--head-epochs", default=5, type=click.IntRange(0), help="Phase 1: head.")
@click.option(
    "--finetune-epochs", default=5, type=click.IntRange(0), help="Phase 2: unfrozen blocks."
)
@click.option(
    "--unfreeze",
    default="top-2-blocks",
    help="Phase 2 trains from this layer (name or index) or the top N blocks (top-N-blocks).",
)
@click.option("--lr", default=1e-3, type=POSITIVE, help="Head learning rate.")
@click.option(
    "--backbone-lr-mult", default=0.1, type=POSITIVE, help="Backbone learning rate / --lr."
)
@click.option(
    "--lr-decay",
    type=float,
    metavar="FACTOR",
    help="Layer-wise decay in (0, 1]: each block from the head down trains at FACTOR x the "
    "rate of the block above it (replaces --backbone-lr-mult).",
)
@image_size_option
@click.option("--batch-size", default=32, type=click.IntRange(1), help="Batch.")
@click.option("--validation-split", default=0.2, type=FRACTION, help="Held out.")
@click.option("--seed", default=0, help="Seed of the validation split.")
@click.option(
    "--augment/--no-augment",
    default=True,
    help="Augment the training images as the zoo card's training does (zoo models only).",
)
@click.option(
    "--adapt-batch-norm",
    is_flag=True,
    help="Re-estimate batch-norm statistics on DATA first (AdaBN; helps on a new domain).",
)
@click.option("--output", default="finetuned", type=click.Path(), help="Run folder.")
@force_option
def finetune(model: str, data: str, classes: str, unfreeze: str, **options: Any) -> None:
    """Fine-tune MODEL[:VARIANT] (or a .keras file, or a run folder) on DATA.

    A bare MODEL starts from its default published weights (e.g. vgg16 is vgg16:imagenet).

    Phase 1 trains a new classifier on the frozen backbone; phase 2 also
    trains the layers from --unfreeze on, the backbone at --lr times
    --backbone-lr-mult (or, with --lr-decay, decaying block by block).
    Blocks are layer-name prefixes before '_' (block5_*, stage3_*, conv5_*).
    Writes the run folder OUTPUT as `kerascnn train` does
    (model.keras with its class names, history.csv/.png, args.json, split.json),
    so `kerascnn predict OUTPUT IMAGE` prints class names.
    """
    from kerascnn.transfer.recipe import finetune as run

    result = run(
        model,
        data,
        classes=_classes(classes),
        unfreeze=int(unfreeze) if unfreeze.lstrip("-").isdigit() else unfreeze,
        output_dir=options.pop("output"),
        augmentation="auto" if options.pop("augment") else None,
        verbose=0 if quiet() else 2,
        **options,
    )
    report_skipped(result.skipped)
    last = {k: v[-1] for h in result.history.values() for k, v in h.items()}
    scores = ", ".join(f"{k} {v:.4f}" for k, v in last.items())
    console().print(f"{len(result.classes)} classes; {scores}")
    console().print(f"saved {result.model_path}")
