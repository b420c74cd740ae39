"""``kerascnn finetune``: the two-phase transfer-learning recipe on a folder of images."""

from __future__ import annotations

import click

from kerascnn.cli._common import console, quiet, report_skipped
from kerascnn.errors import UserError

__all__ = ["finetune"]


def _classes(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"expected an integer or 'auto', got {value!r}") from None
    if n < 2:
        raise UserError(f"--classes must be at least 2, got {n}")
    return n


def _unfreeze(value: str) -> str | int:
    return int(value) if value.lstrip("-").isdigit() else value


@click.command()
@click.argument("model")
@click.option("--data", "data", required=True, type=click.Path(), help="Folder of class folders.")
@click.option("--classes", default="auto", show_default=True, help="Number of classes, or auto.")
@click.option("--head-epochs", default=5, show_default=True, help="Phase 1: head only.")
@click.option("--finetune-epochs", default=5, show_default=True, help="Phase 2: unfrozen blocks.")
@click.option(
    "--unfreeze",
    default="top-2-blocks",
    show_default=True,
    help="Phase 2 trains from this layer (name or index) or the top N blocks (top-N-blocks).",
)
@click.option("--lr", default=1e-3, show_default=True, help="Learning rate of the head.")
@click.option(
    "--backbone-lr-mult", default=0.1, show_default=True, help="Backbone learning rate / --lr."
)
@click.option("--image-size", nargs=2, type=int, default=None, help="H W (default: the model's).")
@click.option("--batch-size", default=32, show_default=True, help="Images per step.")
@click.option(
    "--validation-split", default=0.2, show_default=True, help="Fraction kept for validation."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the validation split.")
@click.option(
    "--adapt-batch-norm",
    is_flag=True,
    help="Re-estimate batch-norm statistics on DATA first (AdaBN; helps on a new domain).",
)
@click.option(
    "--output", default="finetuned", show_default=True, type=click.Path(), help="Output folder."
)
def finetune(
    model: str,
    data: str,
    classes: str,
    head_epochs: int,
    finetune_epochs: int,
    unfreeze: str,
    lr: float,
    backbone_lr_mult: float,
    image_size: tuple[int, int] | None,
    batch_size: int,
    validation_split: float,
    seed: int,
    adapt_batch_norm: bool,
    output: str,
) -> None:
    """Fine-tune MODEL[:VARIANT] (or a .keras file) on DATA: a new head, then top blocks.

    Phase 1 trains a new classifier on the frozen backbone; phase 2 also
    trains the layers from --unfreeze on, the backbone at --lr times
    --backbone-lr-mult. Blocks are layer-name prefixes before '_' (block5_*,
    stage3_*, conv5_*). Writes the run folder OUTPUT as `kerascnn train` does
    (model.keras with its class names, history.csv/.png, args.json, split.json),
    so `kerascnn predict OUTPUT IMAGE` prints class names.
    """
    n_classes = _classes(classes)
    from kerascnn.transfer.recipe import finetune as run

    result = run(
        model,
        data,
        classes=n_classes,
        head_epochs=head_epochs,
        finetune_epochs=finetune_epochs,
        unfreeze=_unfreeze(unfreeze),
        lr=lr,
        backbone_lr_mult=backbone_lr_mult,
        image_size=tuple(image_size) if image_size else None,
        batch_size=batch_size,
        validation_split=validation_split,
        seed=seed,
        adapt_batch_norm=adapt_batch_norm,
        output_dir=output,
        verbose=0 if quiet() else 2,
    )
    report_skipped(result.skipped)
    last = {k: v[-1] for h in result.history.values() for k, v in h.items()}
    scores = ", ".join(f"{k} {v:.4f}" for k, v in last.items())
    console().print(f"{len(result.classes)} classes; {scores}")
    console().print(f"saved {result.model_path}")
