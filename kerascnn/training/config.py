"""The settings of a training run, as one frozen, typed object shared by
:func:`kerascnn.training.fit`, :func:`kerascnn.transfer.finetune` and the CLI, whose flags take
their defaults from these fields. ``None`` means the model card's value (``settings.GENERIC``
for other models); ``args.json`` records what was used."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from kerascnn.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

    from kerascnn.training.backends import Strategy

    #: An optimizer: a Keras name, ``{"name": ..., **options}``, an instance, or a function of
    #: the learning rate (a number or schedule) that makes one.
    OptimizerSpec: TypeAlias = (
        str
        | Mapping[str, object]
        | keras.optimizers.Optimizer
        | Callable[
            [float | keras.optimizers.schedules.LearningRateSchedule], keras.optimizers.Optimizer
        ]
    )

__all__ = ["FinetuneConfig", "TrainConfig", "config_default"]

C = TypeVar("C", bound="TrainConfig")


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`kerascnn.training.fit` trains (the CLI flag of each field is in brackets).

    Attributes:
        epochs, batch_size (per replica), optimizer (a Keras name, ``{"name": ..., **options}``
            or an instance), learning_rate (``--lr``, the peak), schedule (``constant``,
            ``cosine``, ``triangular``), warmup_epochs, weight_decay, label_smoothing, augmentation
            (``classic_augmentation`` arguments or layer import paths), model_args (``--arg``):
            ``None`` takes the model card's value.
        bn_lr_mult: batch-norm variables learn this many times as fast as the rest, with the
            same weight decay per step (airbench trains batch-norm biases 64x as fast); ``None``:
            the card's value (1 for other models).
        image_size, validation_split, test_split, seed: the data; ``seed`` also fixes the
            initial weights, shuffling and augmentation.
        strategy, mixed_precision, jit_compile: devices (``auto``, ``one``, ``mirrored``,
            ``multiworker``), ``float16``/``bfloat16`` (``auto``: bfloat16 on GPUs, TPUs and AMX
            CPUs, else float32), XLA (``auto``: on GPUs).
        save_freq: steps between backups (default: 500, or every epoch when shorter).
        precise_bn: re-estimate batch-norm statistics before each validation (``auto``: when
            the model trains batch norm; ``True`` insists, ``False`` keeps the moving averages).
    """

    epochs: int | None = None
    batch_size: int | None = None
    optimizer: OptimizerSpec | None = None
    learning_rate: float | None = None
    schedule: str | None = None
    warmup_epochs: int | None = None
    weight_decay: float | None = None
    bn_lr_mult: float | None = None
    label_smoothing: float | None = None
    augmentation: Mapping[str, Any] | None = None
    model_args: Mapping[str, Any] | None = None
    image_size: tuple[int, int] | None = None
    validation_split: float = 0.2
    test_split: float = 0.0
    seed: int = 0
    strategy: str | Strategy = "auto"
    mixed_precision: str | None = None
    jit_compile: bool | str = "auto"
    save_freq: int | None = None
    precise_bn: bool | str = "auto"

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes``; an unknown name is a ``UserError`` naming the known ones."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise UserError(
                f"unknown setting {', '.join(map(repr, unknown))} for {type(self).__name__}; "
                f"use {', '.join(sorted(names))}"
            )
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        if self.precise_bn not in (True, False, "auto"):
            raise UserError(
                f"precise_bn must be True, False or 'auto', got {self.precise_bn!r}; or 'auto'"
            )
        if self.mixed_precision not in (None, "float16", "bfloat16", "auto"):
            raise UserError(
                f"mixed_precision must be float16, bfloat16 or auto, got "
                f"{self.mixed_precision!r}; or leave it out"
            )


@dataclass(frozen=True)
class FinetuneConfig(TrainConfig):
    """How :func:`kerascnn.transfer.finetune` trains: :class:`TrainConfig`'s settings (``epochs``
    is the two phases' sum and not set here) plus the phases and the new head.

    Attributes:
        head_epochs, finetune_epochs: phase 1 (the new head on the frozen backbone) and phase 2
            (the layers from ``unfreeze`` on too: a layer name or index, or ``top-N-blocks``).
        learning_rate, backbone_lr_mult, lr_decay: the head's rate; the backbone's is
            ``learning_rate x backbone_lr_mult``, or decays by ``lr_decay`` per block downwards.
        classes: ``"auto"`` (the folder's) or the number of class folders expected.
        hidden, dropout, pooling, feature_layer: the new head (``swap_head``).
        augmentation: as in :class:`TrainConfig`; ``"auto"``: the zoo card's, for a zoo model.
        adapt_batch_norm: first re-estimate the backbone's batch-norm statistics (AdaBN).
    """

    batch_size: int | None = 32
    optimizer: OptimizerSpec | None = "adam"
    learning_rate: float | None = 1e-3
    schedule: str | None = "constant"
    augmentation: Mapping[str, Any] | str | None = "auto"  # type: ignore[assignment]  # + "auto"
    head_epochs: int = 5
    finetune_epochs: int = 5
    unfreeze: str | int = "top-2-blocks"
    backbone_lr_mult: float = 0.1
    lr_decay: float | None = None
    classes: int | str = "auto"
    hidden: tuple[int, ...] = ()
    dropout: float = 0.5
    pooling: str | None = None
    feature_layer: str | int | None = None
    adapt_batch_norm: bool = False


def config_default(cls: type[TrainConfig], name: str) -> object:
    """The default of field ``name`` of ``cls`` (what a CLI flag shows and uses)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.default
    raise KeyError(name)
