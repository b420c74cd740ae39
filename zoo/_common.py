"""Argument checks and the classifier head shared by the zoo's builders."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from kerascnn.errors import UserError

__all__ = ["check_arguments", "classifier", "finish", "model_input"]

_POOLING = (None, "avg", "max")


def check_arguments(
    *,
    model: str,
    include_top: bool,
    weights: Any,
    input_shape: Any,
    pooling: Any,
    classes: Any,
    classifier_activation: Any,
    default_shape: tuple[int, int, int],
    min_size: int,
    fixed_top_size: bool = False,
) -> tuple[tuple[int, int, int], int]:
    """Validate a builder's Keras-applications arguments; return ``(input shape, classes)``.

    ``classes=None`` means the classes of the ``weights`` variant, else the model's
    default (its card). ``fixed_top_size``: the full top (``Flatten`` + dense) only
    accepts the default spatial size.
    """
    if not isinstance(include_top, bool):
        raise UserError(f"{model}: include_top must be True or False, got {include_top!r}")
    if pooling not in _POOLING:
        raise UserError(f"{model}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights is not None and not isinstance(weights, str):
        raise UserError(f"{model}: weights must be None, a variant name or a file, got {weights!r}")
    if classes is not None and (
        isinstance(classes, bool) or not isinstance(classes, int) or classes < 1
    ):
        raise UserError(f"{model}: classes must be a positive integer, got {classes!r}")
    if not (
        classifier_activation is None
        or isinstance(classifier_activation, str)
        or callable(classifier_activation)
    ):
        raise UserError(
            f"{model}: classifier_activation must be None, a name or a callable, "
            f"got {classifier_activation!r}"
        )
    if keras.config.image_data_format() != "channels_last":
        raise UserError(
            f"{model}: the zoo's models are channels_last; "
            "set keras.config.set_image_data_format('channels_last')"
        )
    if input_shape is None:
        shape = default_shape
    else:
        try:
            shape = tuple(int(d) for d in input_shape)
        except (TypeError, ValueError):
            raise UserError(
                f"{model}: input_shape must be (height, width, channels), got {input_shape!r}"
            ) from None
        if len(shape) != 3 or shape[2] < 1:
            raise UserError(
                f"{model}: input_shape must be (height, width, channels), got {input_shape!r}"
            )
        if shape[0] < min_size or shape[1] < min_size:
            raise UserError(
                f"{model}: input_shape {input_shape!r} is too small; "
                f"height and width must be at least {min_size}"
            )
        if include_top and fixed_top_size and shape[:2] != default_shape[:2]:
            raise UserError(
                f"{model}: with include_top=True the input must be "
                f"{default_shape[0]}x{default_shape[1]}, got input_shape {input_shape!r}; "
                "use include_top=False for other sizes"
            )
    from kerascnn.weights.load import resolve_classes

    return shape, resolve_classes(model, weights, include_top, classes)


def model_input(shape: tuple[int, int, int], input_tensor: Any = None) -> Any:
    """The model's input: a new ``Input`` or the caller's tensor."""
    if input_tensor is None:
        return keras.Input(shape=shape)
    if not keras.utils.is_keras_tensor(input_tensor):
        return keras.Input(tensor=input_tensor, shape=shape)
    return input_tensor


def classifier(
    x: Any,
    *,
    include_top: bool,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    dropout: float = 0.0,
) -> Any:
    """Either the final ``predictions`` layer (with optional dropout) or feature pooling."""
    if include_top:
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish(
    inputs: Any, outputs: Any, *, name: str, model: str, input_tensor: Any, weights: str | None
) -> Any:
    """Wrap the graph in a ``keras.Model``; load ``weights`` of zoo model ``model``."""
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    net = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from kerascnn.weights import load as weights_lib

        weights_lib.load_into(net, model, weights)
    return net
