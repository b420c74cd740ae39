"""``kerascnn train MODEL --data DIR``: train a zoo model on a folder of class sub-folders."""

from __future__ import annotations

from typing import Any

import click

from kerascnn.cli._common import data_option, parse_pairs, quiet, report_skipped
from kerascnn.cli._run_options import (
    config_from,
    engine_options,
    report_result,
    run_interruptible,
)
from kerascnn.training.config import TrainConfig

__all__ = ["train"]

_CARD = "default: the model card's"
_AUGMENTATIONS = ("crop", "pad", "flip", "translation", "zoom", "rotation", "brightness",
                  "contrast", "noise")  # fmt: skip


@click.command()
@click.argument("model")
@data_option
@click.option("--epochs", type=click.IntRange(1), help=f"Epochs ({_CARD}).")
@click.option(
    "--augment",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="Augmentation: flip (flip=alternate: each image mirrored every other epoch), pad=4, "
    "crop=[56,56], translation=0.1, zoom, rotation, brightness, "
    f"contrast, noise (added to the card's; none: no augmentation) ({_CARD}).",
)
@click.option("--arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Model argument.")
@click.option("--output", type=click.Path(), help="Run folder (default: runs/MODEL).")
@engine_options(TrainConfig)
def train(model: str, data: str, output: str | None, resume: bool, force: bool,
          **options: Any) -> None:  # fmt: skip
    """Train MODEL (a zoo name) from scratch on the images in --data.

    With only --data it trains as the model's card says (optimizer, schedule,
    weight decay, augmentation, epochs: `kerascnn zoo list MODEL --json`);
    each flag changes one of those. The run folder holds model.keras and its
    class names, best.keras, args.json (what was used), split.json,
    history.csv/.png. Batch-norm statistics are re-estimated before each
    validation, so the numbers logged are those of the saved files.
    Rerunning the same command after an interruption resumes where it stopped.
    """
    from kerascnn.training import engine
    from kerascnn.training.backends import resolve_devices
    from kerascnn.training.data import image_folder
    from kerascnn.training.run import RunFolder

    options["model_args"] = parse_pairs(options.pop("model_args"), "--arg") or None
    augment = parse_pairs(options.pop("augment"), "--augment")
    if augment.pop("none", False):
        augment = {**dict.fromkeys(_AUGMENTATIONS, 0), "flip": False}  # the card's too
    options["augmentation"] = augment or None
    config = config_from(TrainConfig, options)
    out = RunFolder(output or f"runs/{model}").check(force=force, resumable=True).path
    strategy = resolve_devices(config.strategy)  # before any other TensorFlow work
    size = config.image_size or engine.model_image_size(model, None, config.model_args or {})
    folder = image_folder(data, size, config.validation_split, config.seed,
                          test_split=config.test_split)  # fmt: skip
    report_skipped(folder.skipped)
    config = config.replace(strategy=strategy)
    result = run_interruptible(out, lambda: engine.fit(
        model, folder, config, output_dir=out, resume=resume, force=force,
        verbose=0 if quiet() else "auto",
    ))  # fmt: skip
    report_result(result)
