"""Learning-rate schedules that ``keras.optimizers.schedules`` lacks, and an optimizer's copy
with its rate scaled (for per-variable learning rates)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import keras
from keras import ops

__all__ = ["ScaledSchedule", "Triangular", "any_path", "scaled_optimizer"]


@keras.saving.register_keras_serializable(package="kerascnn")
class Triangular(keras.optimizers.schedules.LearningRateSchedule):
    """A linear rise from 0 to ``peak`` over ``warmup_steps``, then a linear fall to 0 at
    ``total_steps`` (airbench's CIFAR-10 schedule; Smith's one-cycle without momentum).

    With ``warmup_steps=0`` it starts at ``peak`` and only falls.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}"
            )
        self.peak, self.warmup_steps, self.total_steps = float(peak), warmup_steps, total_steps

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        fall = (self.total_steps - step) / (self.total_steps - self.warmup_steps)
        rise = step / self.warmup_steps if self.warmup_steps else fall
        return self.peak * ops.clip(ops.minimum(rise, fall), 0.0, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}  # fmt: skip


@keras.saving.register_keras_serializable(package="kerascnn")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule times a constant ``factor``."""

    def __init__(
        self, schedule: keras.optimizers.schedules.LearningRateSchedule, factor: float
    ) -> None:
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step: Any) -> Any:
        return self.schedule(step) * self.factor

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "factor": self.factor,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledSchedule:
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["factor"])


def scaled_optimizer(
    optimizer: keras.optimizers.Optimizer, factor: float, *, same_decay: bool = False
) -> keras.optimizers.Optimizer:
    """A fresh copy of ``optimizer`` with its learning rate (or schedule) times ``factor``.

    Keras applies weight decay as ``lr x weight_decay`` per step, so the copy also decays
    ``factor`` times as fast, unless ``same_decay`` divides its weight decay by ``factor``.
    """
    config = optimizer.get_config()
    lr = config["learning_rate"]  # a float, or a serialized schedule
    if isinstance(lr, dict):
        schedule = keras.optimizers.schedules.deserialize(lr)
        config["learning_rate"] = ScaledSchedule(schedule, factor) if factor != 1.0 else schedule
    else:
        config["learning_rate"] = float(lr) * factor
    if same_decay and config.get("weight_decay"):
        config["weight_decay"] = config["weight_decay"] / factor
    config["name"] = f"{optimizer.name}_x{factor:g}"
    copy = type(optimizer).from_config(config)
    # get_config() leaves out exclude_from_weight_decay()'s variables and names: copy them
    for name in ("_exclude_from_weight_decay", "_exclude_from_weight_decay_pattern"):
        if hasattr(optimizer, name):
            setattr(copy, name, getattr(optimizer, name))
    return copy


def any_path(paths: Iterable[str]) -> str:
    """A ``keras.optimizers.OptimizerMap`` key (a regex it full-matches) for exactly these
    variable paths."""
    return "(?:" + "|".join(re.escape(p) for p in paths) + ")"
