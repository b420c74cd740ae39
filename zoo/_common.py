"""Argument checks and the classifier head shared by the zoo's builders.

A builder's first line is ``args = check_arguments(model, locals())``: its
``keras.applications`` arguments (and ``dropout``) are checked once here, and the
default input shape and minimum size come from the model's card (``zoo/*.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from kerascnn.errors import UserError

__all__ = [
    "Arguments",
    "check_arguments",
    "check_choice",
    "check_flags",
    "check_size_lists",
    "check_sizes",
    "classifier",
    "finish",
    "model_input",
]


@dataclass(frozen=True)
class Arguments:
    """A builder's checked ``keras.applications`` arguments."""

    model: str
    shape: tuple[int, int, int]
    classes: int
    include_top: bool
    weights: str | None
    input_tensor: Any
    pooling: str | None
    classifier_activation: Any
    name: str


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _alternatives(choices: tuple[Any, ...]) -> str:
    """``(None, "avg", "max")`` -> ``"None, 'avg' or 'max'"``."""
    return ", ".join(map(repr, choices[:-1])) + f" or {choices[-1]!r}"


def check_choice(model: str, key: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise unless ``value`` is one of ``choices``.

    Args:
        model, key: the model and argument named in the error.
        value, choices: the value given and the ones allowed.
    """
    if value not in choices:
        raise UserError(f"{model}: unknown {key} {value!r}; use {_alternatives(choices)}")


def check_flags(model: str, **flags: Any) -> None:
    """Raise unless every flag is ``True`` or ``False``."""
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise UserError(f"{model}: {key} must be True or False, got {value!r}; e.g. {key}=True")


def check_sizes(model: str, **sizes: Any) -> None:
    """Raise unless every size (``hidden``, ``kernel_size``, ...) is a positive integer."""
    for key, value in sizes.items():
        if not _positive_int(value):
            raise UserError(
                f"{model}: {key} must be a positive integer, got {value!r}; "
                f"leave {key} out for the default"
            )


def check_size_lists(model: str, *, allow_empty: bool = False, **lists: Any) -> None:
    """Raise unless every list (``filters``, ``dense``) holds positive integers only.

    It may be empty only with ``allow_empty``.
    """
    for key, value in lists.items():
        listed = isinstance(value, tuple | list)
        if not listed or (not value and not allow_empty) or not all(map(_positive_int, value)):
            raise UserError(
                f"{model}: {key} must be positive integers, got {value!r}; "
                f"leave {key} out for the default"
            )


def _input_shape(model: str, input_shape: Any, default: Any, min_size: int) -> tuple[int, ...]:
    if input_shape is None:
        return tuple(default)
    wrong = (
        f"{model}: input_shape must be (height, width, channels), got {input_shape!r}; "
        f"e.g. {tuple(default)}"
    )
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise UserError(wrong) from None
    if len(shape) != 3 or shape[2] < 1:
        raise UserError(wrong)
    if shape[0] < min_size or shape[1] < min_size:
        raise UserError(
            f"{model}: input_shape {input_shape!r} is too small; "
            f"height and width must be at least {min_size}"
        )
    return shape


def check_arguments(
    model: str, args: Mapping[str, Any], *, min_size: int | None = None
) -> Arguments:
    """Check a builder's arguments (its ``locals()``); return them as :class:`Arguments`.

    ``classes=None`` means the classes of the ``weights`` variant, else the card's.
    ``min_size`` overrides the card's ``min_input_size`` where the architecture varies.
    """
    check_flags(model, include_top=args["include_top"])
    check_choice(model, "pooling", args["pooling"], (None, "avg", "max"))
    weights, classes, activation = args["weights"], args["classes"], args["classifier_activation"]
    if weights is not None and not isinstance(weights, str):
        raise UserError(
            f"{model}: weights must be None, a variant name or a file, got {weights!r}; "
            "e.g. weights=None"
        )
    if classes is not None and not _positive_int(classes):
        raise UserError(f"{model}: classes must be a positive integer, got {classes!r}; e.g. 10")
    if not (activation is None or isinstance(activation, str) or callable(activation)):
        raise UserError(
            f"{model}: classifier_activation must be None, a name or a callable, "
            f"got {activation!r}; e.g. 'softmax'"
        )
    if not 0.0 <= args.get("dropout", 0.0) < 1.0:
        raise UserError(f"{model}: dropout must be in [0, 1), got {args['dropout']!r}; e.g. 0.5")
    if keras.config.image_data_format() != "channels_last":
        raise UserError(
            f"{model}: the zoo's models are channels_last; "
            "set keras.config.set_image_data_format('channels_last')"
        )
    from kerascnn.builder import resolve_classes
    from kerascnn.registry import get_model_card

    card = get_model_card(model)
    min_size = card.min_input_size if min_size is None else min_size
    return Arguments(
        model=model,
        shape=_input_shape(model, args["input_shape"], card.input_shape, min_size),
        classes=resolve_classes(model, weights, args["include_top"], classes),
        include_top=args["include_top"],
        weights=weights,
        input_tensor=args["input_tensor"],
        pooling=args["pooling"],
        classifier_activation=activation,
        name=args["name"],
    )


def model_input(args: Arguments) -> Any:
    """The model's input: a new ``Input`` or the caller's tensor."""
    if args.input_tensor is None:
        return keras.Input(shape=args.shape)
    if not keras.utils.is_keras_tensor(args.input_tensor):
        return keras.Input(tensor=args.input_tensor, shape=args.shape)
    return args.input_tensor


def classifier(x: Any, args: Arguments, *, dropout: float = 0.0) -> Any:
    """Either the final ``predictions`` layer (with optional dropout) or feature pooling."""
    if args.include_top:
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        return layers.Dense(
            args.classes, activation=args.classifier_activation, name="predictions"
        )(x)
    if args.pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if args.pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish(args: Arguments, inputs: Any, outputs: Any) -> Any:
    """Wrap the graph in a ``keras.Model`` named ``args.name``; load ``args.weights``."""
    if args.input_tensor is not None:
        inputs = keras.utils.get_source_inputs(args.input_tensor)
    net = keras.Model(inputs, outputs, name=args.name)
    if args.weights is not None:
        from kerascnn import builder

        builder.load_into(net, args.model, args.weights)
    return net
