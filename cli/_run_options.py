"""The options ``kerascnn train`` and ``kerascnn finetune`` share, their defaults read from the
engine's config (``kerascnn.training.config``), and the lines both print when a run ends."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kerascnn.cli._common import FRACTION, POSITIVE, F, force_option, image_size_option
from kerascnn.training.backends import STRATEGIES
from kerascnn.training.config import TrainConfig, config_default

__all__ = ["POSITIVE", "config_from", "engine_options", "report_result", "run_interruptible"]

if TYPE_CHECKING:
    from kerascnn.training.result import TrainResult

C = TypeVar("C", bound=TrainConfig)
T = TypeVar("T")
_CARD = "default: the model card's"
# flag -> the config field it sets, where the two names differ
RENAMED = {"lr": "learning_rate"}


def _default(cls: type[TrainConfig], name: str, help: str) -> dict[str, Any]:
    value = config_default(cls, name)
    if value is None and cls is TrainConfig and name not in ("mixed_precision", "save_freq"):
        return {"default": None, "help": f"{help} ({_CARD})."}
    return {"default": value, "help": help + ".", "show_default": value is not None}


def engine_options(cls: type[TrainConfig]) -> Callable[[F], F]:
    """The engine's options, defaults from the fields of ``cls`` (a ``TrainConfig``)."""
    d = lambda name, text: _default(cls, name, text)  # noqa: E731

    options = [
        click.option("--batch-size", type=click.IntRange(1),
                     **d("batch_size", "Images per replica")),
        click.option("--lr", type=POSITIVE, **d("learning_rate", "Peak learning rate")),
        click.option("--optimizer", **d("optimizer", "Keras optimizer name, e.g. adamw or sgd")),
        click.option("--schedule", type=click.Choice(["constant", "cosine", "triangular"]),
                     **d("schedule", "Learning-rate schedule")),
        click.option("--warmup-epochs", type=click.IntRange(0),
                     **d("warmup_epochs", "Linear warm-up")),
        click.option("--weight-decay", type=click.FloatRange(0),
                     **d("weight_decay", "Decoupled weight decay")),
        *([click.option("--bn-lr-mult", type=POSITIVE,
                        **d("bn_lr_mult", "Batch-norm variables learn this many times as fast "
                            "(their weight decay per step unchanged), e.g. 64"))]
          if cls is TrainConfig else []),  # finetune: --backbone-lr-mult / --lr-decay
        click.option("--label-smoothing", type=FRACTION, **d("label_smoothing", "Label smoothing")),
        image_size_option,
        click.option("--validation-split", type=FRACTION,
                     **d("validation_split", "Fraction held out for validation")),
        click.option("--test-split", type=FRACTION, **d("test_split", "Fraction kept out as test")),
        click.option("--seed", type=int,
                     **d("seed", "Split, shuffle, weights and augmentation seed")),
        click.option("--strategy", type=click.Choice(STRATEGIES),
                     **d("strategy", "Devices: one, mirrored (all local), multiworker; auto: the "
                         "cluster, else all GPUs (tf.distribute on TensorFlow, keras.distribution "
                         "on JAX; torch: one)")),
        click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16", "auto"]),
                     **d("mixed_precision", "Compute in float16 (with loss scaling) or bfloat16; "
                         "auto: bfloat16 on GPUs, TPUs and AMX CPUs, else float32")),
        click.option("--jit-compile", type=click.Choice(["auto", "on", "off"]), default="auto",
                     show_default=True, help="XLA compilation (auto: on GPUs only)."),
        click.option("--save-freq", type=click.IntRange(1),
                     **d("save_freq", "Back up every N steps (default: 500, or each epoch)")),
        click.option("--resume", is_flag=True,
                     help="Train a finished run in --output further (an interrupted run resumes "
                     "by itself)."),
        click.option("--precise-bn/--no-precise-bn", default=None,
                     help="Re-estimate batch-norm statistics before each validation, so the "
                     "numbers logged are the saved model's (default: when batch norm trains)."),
        force_option,
    ]  # fmt: skip

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def config_from(cls: type[C], options: dict[str, Any]) -> C:
    """The config of the command's options (popped from ``options``): every field with a flag."""
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for flag in list(options):
        field = RENAMED.get(flag, flag)
        if field in names:
            values[field] = options.pop(flag)
    jit = values.get("jit_compile", "auto")
    values["jit_compile"] = {"on": True, "off": False}.get(jit, jit)
    if values.get("precise_bn", "auto") is None:
        values["precise_bn"] = "auto"
    return cls(**values)


def report_result(result: TrainResult) -> None:
    """The run's last lines: the saved model's numbers (the last validation), then the folder."""
    final = result.final
    numbers = ", ".join(f"{k} {v:.4f}" for k, v in sorted(final.items()) if k.startswith("val_"))
    train = ", ".join(f"{k} {v:.4f}" for k, v in sorted(final.items()) if not k.startswith("val_"))
    where = result.model_path or "the model"
    if not result.trained:
        click.echo(f"{result.run_dir} already holds a finished run; its result:")
    if numbers:
        click.echo(f"done: {where} scores {numbers} on the validation split "
                   f"(last epoch's training: {train})")  # fmt: skip
    else:
        click.echo(f"done: {where}; last epoch's training: {train} (no validation split)")
    if result.run_dir is not None:
        names = ", ".join(sorted(p.name for p in Path(result.run_dir).iterdir()))
        click.echo(f"run folder: {result.run_dir} ({names})")


def run_interruptible(output: Path, fn: Callable[[], T]) -> T:
    """``fn()``; on Ctrl-C, say where the backup is and how to resume, then exit 130."""
    try:
        return fn()
    except KeyboardInterrupt:
        from kerascnn.training.callbacks import read_backup

        state = read_backup(output / "backup")
        args = [a for a in sys.argv[1:] if a != "--resume"]
        command = shlex.join(["kerascnn", *args, "--resume"])
        if state:
            done, step = state["epoch"], state["step"]
            where = f"{done} epoch(s)" + (f" and {step} step(s) of the next" if step else "")
            click.echo(f"\ninterrupted: the backup in {output / 'backup'} holds {where}; "
                       f"resume with: {command}", err=True)  # fmt: skip
        else:
            click.echo(f"\ninterrupted before the first backup; start again with: {command}",
                       err=True)  # fmt: skip
        sys.exit(130)
