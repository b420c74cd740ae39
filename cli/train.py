"""``kerascnn train MODEL --data DIR``: train a zoo model on a folder of class sub-folders."""

from __future__ import annotations

import json
from typing import Any

import click

from kerascnn.cli._common import quiet, report_skipped

__all__ = ["parse_model_args", "train"]


def parse_model_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("batch_norm=true", "filters=[8,16]")`` -> ``{"batch_norm": True, "filters": (8, 16)}``."""
    from kerascnn.errors import UserError

    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"--arg needs KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a plain string
        args[key] = tuple(value) if isinstance(value, list) else value
    return args


@click.command()
@click.argument("model")
@click.option("--data", required=True, type=click.Path(), help="Folder of class sub-folders.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(1), help="Epochs.")
@click.option(
    "--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Per replica."
)
@click.option("--lr", default=1e-3, show_default=True, type=float, help="Learning rate.")
@click.option("--optimizer", default="adam", show_default=True, help="Keras optimizer name.")
@click.option(
    "--schedule",
    type=click.Choice(["constant", "cosine"]),
    default="constant",
    show_default=True,
    help="Learning-rate schedule over the whole run.",
)
@click.option(
    "--image-size",
    nargs=2,
    type=click.IntRange(1),
    default=None,
    metavar="H W",
    help="Input size (default: the model's card).",
)
@click.option(
    "--strategy",
    type=click.Choice(["auto", "mirrored", "multiworker", "one"]),
    default="auto",
    show_default=True,
    help="tf.distribute strategy; auto reads TF_CONFIG and the visible GPUs.",
)
@click.option(
    "--mixed-precision",
    type=click.Choice(["float16", "bfloat16"]),
    default=None,
    help="Compute in float16 (with loss scaling) or bfloat16.",
)
@click.option(
    "--jit-compile",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="XLA compilation (auto: on GPUs only).",
)
@click.option(
    "--validation-split", default=0.2, show_default=True, type=float, help="Held-out fraction."
)
@click.option(
    "--test-split", default=0.0, show_default=True, type=float, help="Test fraction (kept out)."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Split and shuffle seed.")
@click.option("--arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Model argument.")
@click.option(
    "--output",
    type=click.Path(),
    default=None,
    help="Run folder (default runs/MODEL): checkpoints, best.keras, model.keras, history.*, logs/.",
)
@click.option("--save-freq", type=click.IntRange(1), default=None, help="Backup every N steps.")
@click.option("--resume", is_flag=True, help="Train a finished run in --output further.")
def train(
    model: str,
    data: str,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    schedule: str,
    image_size: tuple[int, int] | None,
    strategy: str,
    mixed_precision: str | None,
    jit_compile: str,
    validation_split: float,
    test_split: float,
    seed: int,
    model_args: tuple[str, ...],
    output: str | None,
    save_freq: int | None,
    resume: bool,
) -> None:
    """Train MODEL (a zoo name) from scratch on the images in --data.

    The split (by file-name hash) is written to OUTPUT/split.json. Rerunning
    the same command after an interruption resumes at the step it reached.
    TensorBoard: `tensorboard --logdir OUTPUT/logs`.
    """
    from kerascnn.training.distribute import resolve_strategy
    from kerascnn.training.run import RunFolder

    args = parse_model_args(model_args)
    out = RunFolder(output or f"runs/{model}").check().path  # before any work
    dist = resolve_strategy(strategy)  # before any other TensorFlow work
    from kerascnn.training import engine as train_lib
    from kerascnn.training.data import image_folder

    size = image_size or train_lib.model_image_size(model, None, args)
    folder = image_folder(data, size, validation_split, seed, test_split=test_split)
    report_skipped(folder.skipped)
    history = train_lib.fit(
        model,
        folder,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        learning_rate=lr,
        schedule=schedule,
        strategy=dist,
        mixed_precision=mixed_precision,
        jit_compile={"on": True, "off": False}.get(jit_compile, "auto"),
        output_dir=out,
        model_args=args,
        save_freq=save_freq,
        resume=resume,
        verbose=0 if quiet() else "auto",
    )
    last = {k: v[-1] for k, v in history.history.items() if v}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in sorted(last.items()))
    click.echo(f"done: {summary}")
    click.echo(f"run folder: {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")
