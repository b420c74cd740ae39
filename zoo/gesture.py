"""The simple gesture CNN for hand-sign photos: [CONV-RELU-CONV-RELU-POOL]xN, FC, softmax."""

from __future__ import annotations

from typing import Any

from keras import layers

from kerascnn.errors import UserError
from kerascnn.zoo._common import check_arguments, classifier, finish, model_input

__all__ = ["gesture_cnn"]


def gesture_cnn(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "gesture_cnn",
    *,
    filters: tuple[int, ...] = (16, 32, 64, 128),
    batch_norm: bool = False,
    hidden: int = 128,
    dropout: float = 0.5,
) -> Any:
    """A small CNN for gestures: one block of two 3x3 convs and a 2x2 max-pool per ``filters``.

    Inputs are raw pixels in [0, 255] (default 64x64x3): the model rescales
    them itself. ``batch_norm=True`` puts batch norm before each ReLU.
    """
    shape, classes = check_arguments(
        model="gesture_cnn",
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        default_shape=(64, 64, 3),
        min_size=2 ** len(filters) if filters else 1,
    )
    if not filters or any(not isinstance(f, int) or f < 1 for f in filters):
        raise UserError(f"gesture_cnn: filters must be positive integers, got {filters!r}")
    if not isinstance(hidden, int) or hidden < 1:
        raise UserError(f"gesture_cnn: hidden must be a positive integer, got {hidden!r}")
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"gesture_cnn: dropout must be in [0, 1), got {dropout!r}")
    inputs = model_input(shape, input_tensor)
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for b, width in enumerate(filters, start=1):
        for c in (1, 2):
            conv = f"block{b}_conv{c}"
            x = layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=conv)(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"{conv}_bn")(x)
            x = layers.ReLU(name=f"{conv}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(hidden, activation="relu", name="fc1")(x)
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    return finish(
        inputs, x, name=name, model="gesture_cnn", input_tensor=input_tensor, weights=weights
    )
