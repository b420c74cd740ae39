"""The simple gesture CNN for hand-sign photos: [CONV-RELU-CONV-RELU-POOL]xN, FC, softmax."""

from __future__ import annotations

from typing import Any

from keras import layers

from kerascnn.zoo._common import (
    check_arguments,
    check_size_lists,
    check_sizes,
    classifier,
    finish,
    model_input,
)

__all__ = ["gesture_cnn"]


def _min_input_size(filters: tuple[int, ...]) -> int:
    """The smallest input side: each block's pool halves it (the card's figure: default filters)."""
    return 2 ** len(filters)


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

    Inputs are raw pixels in [0, 255] (default 64x64x3): the model rescales them itself.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: ``keras.applications``'s, as :mod:`kerascnn.zoo.vgg`.
        filters: the blocks' widths; the input side must be at least ``2 ** len(filters)``.
        batch_norm: batch norm before each ReLU.
        hidden, dropout: the hidden dense layer's width; dropout before the classifier.
    """
    check_size_lists("gesture_cnn", filters=filters)  # before the size they set
    args = check_arguments("gesture_cnn", locals(), min_size=_min_input_size(filters))
    check_sizes("gesture_cnn", hidden=hidden)
    inputs = model_input(args)
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
    return finish(args, inputs, classifier(x, args, dropout=dropout))
