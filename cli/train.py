"""``kerascnn train MODEL --data DIR``: train a zoo model on a folder of class sub-folders."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli._common import (
    FRACTION,
    POSITIVE,
    data_option,
    force_option,
    image_size_option,
    parse_pairs,
    quiet,
    report_skipped,
    split_options,
)
from kerascnn.training.distribute import STRATEGIES

__all__ = ["train"]

_DEFAULT = "default: the model card's"
_AUGMENTATIONS = ("crop", "pad", "flip", "translation", "zoom", "rotation", "brightness",
                  "contrast", "noise")  # fmt: skip


@click.command()
@click.argument("model")
@data_option
@click.option("--epochs", type=click.IntRange(1), help=f"Epochs ({_DEFAULT}).")
@click.option("--batch-size", type=click.IntRange(1), help=f"Images per replica ({_DEFAULT}).")
@click.option("--lr", type=POSITIVE, help=f"Peak learning rate ({_DEFAULT}).")
@click.option("--optimizer", help=f"Keras optimizer name, e.g. adamw or sgd ({_DEFAULT}).")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), help=f"({_DEFAULT}).")
@click.option("--warmup-epochs", type=click.IntRange(0), help=f"Linear warm-up ({_DEFAULT}).")
@click.option("--weight-decay", type=click.FloatRange(0), help=f"Decoupled ({_DEFAULT}).")
@click.option("--label-smoothing", type=FRACTION, help=f"({_DEFAULT}).")
@click.option(
    "--augment",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="Augmentation: flip, pad=4, crop=[56,56], translation=0.1, zoom, rotation, brightness, "
    f"contrast, noise (added to the card's; none: no augmentation) ({_DEFAULT}).",
)
@click.option("--arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Model argument.")
@image_size_option
@split_options
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default="auto",
    show_default=True,
    help="Devices: one, mirrored (all local), multiworker; auto: the cluster, else all GPUs. "
    "tf.distribute on TensorFlow, keras.distribution on JAX; torch: one.",
)
@click.option(
    "--mixed-precision",
    type=click.Choice(["float16", "bfloat16"]),
    help="Compute in float16 (with loss scaling) or bfloat16.",
)
@click.option(
    "--jit-compile",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="XLA compilation (auto: on GPUs only).",
)
@click.option("--output", type=click.Path(), help="Run folder (default: runs/MODEL).")
@click.option("--save-freq", type=click.IntRange(1), help="Backup every N steps.")
@click.option("--resume", is_flag=True, help="Train a finished run in --output further.")
@click.option(
    "--precise-bn/--no-precise-bn",
    default=None,
    help="After the last epoch, re-estimate batch-norm statistics on the training images "
    "(default: when an epoch is under 50 steps).",
)
@force_option
def train(model: str, data: str, **options: Any) -> None:
    """Train MODEL (a zoo name) from scratch on the images in --data.

    With only --data it trains as the model's card says (optimizer, schedule,
    weight decay, augmentation, epochs: `kerascnn zoo list MODEL --json`);
    each flag changes one of those. The run folder holds model.keras and its
    class names, args.json (what was used), split.json, history.csv/.png.
    Rerunning the same command after an interruption resumes where it stopped.
    With under 50 steps an epoch, model.keras gets batch-norm statistics
    re-estimated on the training images ("precise BN"; best.keras does not).
    """
    from kerascnn.training import engine
    from kerascnn.training.backends import resolve_devices
    from kerascnn.training.data import image_folder
    from kerascnn.training.run import RunFolder

    model_args = parse_pairs(options.pop("model_args"), "--arg")
    augment = parse_pairs(options.pop("augment"), "--augment")
    if augment.pop("none", False):
        augment = {**dict.fromkeys(_AUGMENTATIONS, 0), "flip": False}  # the card's too
    out = options.pop("output") or f"runs/{model}"
    out = RunFolder(out).check(force=options["force"], resumable=True).path  # before any work
    strategy = resolve_devices(options.pop("strategy"))  # before any other TensorFlow work
    size = options.pop("image_size") or engine.model_image_size(model, None, model_args)
    split = [options.pop(k) for k in ("validation_split", "seed", "test_split")]
    folder = image_folder(data, size, *split[:2], test_split=split[2])
    report_skipped(folder.skipped)
    jit = options.pop("jit_compile")
    precise_bn = options.pop("precise_bn")
    history = engine.fit(
        model,
        folder,
        learning_rate=options.pop("lr"),
        augmentation=augment or None,
        model_args=model_args or None,
        strategy=strategy,
        jit_compile={"on": True, "off": False}.get(jit, "auto"),
        output_dir=out,
        seed=split[1],
        precise_bn="auto" if precise_bn is None else precise_bn,
        verbose=0 if quiet() else "auto",
        **options,
    )
    last = {k: v[-1] for k, v in history.history.items() if v}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in sorted(last.items()))
    click.echo(f"done: {summary}")
    click.echo(f"run folder: {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")
