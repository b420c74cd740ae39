"""Discriminative learning rates: a ``keras.optimizers.MultiOptimizer`` with one copy of the
base optimizer per learning-rate multiplier, each mapped to its layers' variables."""

from __future__ import annotations

from collections.abc import Mapping

import keras

from kerascnn.errors import UserError
from kerascnn.training.schedules import ScaledSchedule, any_path, scaled_optimizer
from kerascnn.transfer.freezing import blocks
from kerascnn.transfer.head import feature_layer_index, layer_index

__all__ = [
    "ScaledSchedule",
    "backbone_multipliers",
    "discriminative_optimizer",
    "geometric_multipliers",
]


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
    mapping = keras.optimizers.OptimizerMap(scaled_optimizer(base, float(default)))
    for factor, paths in sorted(groups.items()):
        mapping[any_path(paths)] = scaled_optimizer(base, factor)
    return keras.optimizers.MultiOptimizer(mapping, name="discriminative")
