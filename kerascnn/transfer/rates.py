"""Discriminative learning rates: a ``keras.optimizers.MultiOptimizer`` with one copy of the
base optimizer per learning-rate multiplier, each mapped to its layers' variables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import keras

from kerascnn.errors import UserError
from kerascnn.transfer.freezing import blocks
from kerascnn.transfer.head import feature_layer_index, layer_index

if TYPE_CHECKING:
    from kerascnn._typing import Tensor

__all__ = [
    "ScaledSchedule",
    "backbone_multipliers",
    "discriminative_optimizer",
    "geometric_multipliers",
]


@keras.saving.register_keras_serializable(package="kerascnn")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule times a constant ``factor``."""

    def __init__(
        self, schedule: keras.optimizers.schedules.LearningRateSchedule, factor: float
    ) -> None:
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step: Tensor) -> Tensor:
        return self.schedule(step) * self.factor

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "factor": self.factor,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledSchedule:
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["factor"])


def backbone_multipliers(
    model: keras.Model, multiplier: float, *, feature_layer: str | int | None = None
) -> dict[str, float]:
    """``{layer: multiplier}`` for every backbone layer (up to the feature layer) with weights."""
    stop = feature_layer_index(model, feature_layer)
    return {la.name: float(multiplier) for la in model.layers[: stop + 1] if la.weights}


def geometric_multipliers(
    model: keras.Model, decay: float, *, feature_layer: str | int | None = None
) -> dict[str, float]:
    """A geometric spread across blocks (``kerascnn.transfer.blocks``): the top block ``decay``,
    the next ``decay**2``, ...; the head keeps x1."""
    if not 0.0 < decay <= 1.0:
        raise UserError(f"decay must be in (0, 1], got {decay!r}; e.g. decay=0.5")
    end = feature_layer_index(model, feature_layer)
    out: dict[str, float] = {}
    for depth, (_, group) in enumerate(reversed(blocks(model, end=end)), start=1):
        out.update({la.name: decay**depth for la in group if la.weights})
    return out


def _scaled(optimizer: keras.optimizers.Optimizer, factor: float) -> keras.optimizers.Optimizer:
    """A fresh copy of ``optimizer`` with its learning rate times ``factor``."""
    config = optimizer.get_config()
    lr = config["learning_rate"]  # a float, or a serialized schedule
    if isinstance(lr, dict):
        schedule = keras.optimizers.schedules.deserialize(lr)
        config["learning_rate"] = ScaledSchedule(schedule, factor) if factor != 1.0 else schedule
    else:
        config["learning_rate"] = float(lr) * factor
    config["name"] = f"{optimizer.name}_x{factor:g}"
    return type(optimizer).from_config(config)


def discriminative_optimizer(
    model: keras.Model,
    multipliers: Mapping[str, float],
    *,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule | None = None,
    default: float = 1.0,
) -> keras.optimizers.MultiOptimizer:
    """An optimizer that trains each layer with ``learning_rate x multipliers[layer]``; compile
    ``model`` with it after choosing what is trainable.

    Args:
        model, multipliers: layer name (a nested model's covers all its layers) -> factor,
            e.g. from :func:`backbone_multipliers`.
        optimizer, learning_rate: a name or an instance (only its config is used); overrides
            its learning rate.
        default: the factor of the other layers.
    """
    base = keras.optimizers.get(optimizer)
    if isinstance(base, keras.optimizers.MultiOptimizer | keras.optimizers.LossScaleOptimizer):
        raise UserError(
            f"optimizer must be a plain optimizer, got a {type(base).__name__}; "
            "pass the optimizer it wraps"
        )
    if learning_rate is not None:
        base = type(base).from_config({**base.get_config(), "learning_rate": learning_rate})
    groups: dict[float, list[str]] = {}
    for name, factor in multipliers.items():
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 0:
            raise UserError(
                f"learning-rate multiplier for {name!r} must be >= 0, got {factor!r}; "
                "e.g. 0.1, or 0 to keep the layer fixed"
            )
        paths = [v.path for v in model.layers[layer_index(model, name, what="multipliers")].weights]
        if float(factor) != float(default) and paths:
            groups.setdefault(float(factor), []).extend(paths)
    mapping = keras.optimizers.OptimizerMap(_scaled(base, float(default)))
    for factor, paths in sorted(groups.items()):
        mapping["(?:" + "|".join(re.escape(p) for p in paths) + ")"] = _scaled(base, factor)
    return keras.optimizers.MultiOptimizer(mapping, name="discriminative")
