"""Learning-rate schedules that ``keras.optimizers.schedules`` lacks."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["Triangular"]


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
