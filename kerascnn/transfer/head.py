"""Where a network's classifier starts, and replacing it with a new head."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import keras
from keras import layers

from kerascnn import compat
from kerascnn.errors import UserError

if TYPE_CHECKING:
    from kerascnn._typing import Tensor

__all__ = ["HEAD_PREFIX", "feature_layer_index", "find_feature_layer", "layer_index", "swap_head"]

# Layers that swap_head adds are named head_* plus the final "predictions".
HEAD_PREFIX = "head_"


def layer_index(model: keras.Model, ref: str | int, *, what: str = "layer") -> int:
    """The index in ``model.layers`` of a layer given by name or (possibly negative) index."""
    n = len(model.layers)
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise UserError(f"{what} must be a layer name or index, got {ref!r}; give a str or an int")
    if isinstance(ref, int):
        if not -n <= ref < n:
            raise UserError(
                f"{what} index {ref} is out of range: {model.name} has {n} layers; "
                f"use {-n}..{n - 1}"
            )
        return ref % n
    names = [layer.name for layer in model.layers]
    if ref in names:
        return names.index(ref)
    raise UserError(f"{model.name} has no layer {ref!r}; valid names: {', '.join(names)}")


def _inputs(model: keras.Model) -> keras.KerasTensor | list[keras.KerasTensor]:
    """The model's input tensor, or the list of them when there are several."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _graph_output(model: keras.Model, layer: keras.layers.Layer) -> keras.KerasTensor:
    """The output tensor of ``layer`` inside ``model``'s graph (also for nested models)."""
    if not model.inputs:
        raise UserError(f"{model.name} is not built; give it an Input or call build() first")
    # A nested model's own ``.output`` lives in its own graph; its call inside
    # ``model`` is one of its inbound nodes: take the one reachable from model.inputs.
    for node in reversed(compat.inbound_nodes(layer)):
        outputs = node.output_tensors
        if len(outputs) != 1:
            continue
        try:
            keras.Model(_inputs(model), outputs[0])
        except ValueError:
            continue
        return outputs[0]
    raise UserError(
        f"{model.name}: cannot take the output of layer {layer.name!r}; "
        "pick a layer of the outer model with one output"
    )


def _rank(model: keras.Model, layer: keras.layers.Layer) -> int:
    try:
        return len(_graph_output(model, layer).shape)
    except UserError:
        return -1


def find_feature_layer(model: keras.Model, feature_layer: str | int | None = None) -> str:
    """The name of the last feature layer, the one the classifier starts after: ``feature_layer``
    if given; else the zoo card's, if ``model.name`` is a zoo model that has that layer; else the
    last layer with a 4-D output (before ``Flatten``/global pooling/``Dense``)."""
    if feature_layer is not None:
        return model.layers[layer_index(model, feature_layer, what="feature_layer")].name
    from kerascnn.registry import get_model_card, list_models

    if model.name in list_models():
        name = get_model_card(model.name).feature_layer
        if name and any(layer.name == name for layer in model.layers):
            return name
    for layer in reversed(model.layers):
        if not isinstance(layer, keras.layers.InputLayer) and _rank(model, layer) == 4:
            return layer.name
    raise UserError(
        f"cannot find where the classifier of {model.name} starts: no layer has a 4-D "
        "(feature map) output; pass feature_layer=NAME"
    )


def feature_layer_index(model: keras.Model, feature_layer: str | int | None = None) -> int:
    """Index in ``model.layers`` of :func:`find_feature_layer`."""
    return layer_index(model, find_feature_layer(model, feature_layer))


def swap_head(
    model: keras.Model,
    classes: int,
    *,
    hidden: Sequence[int] = (),
    dropout: float = 0.5,
    pooling: str | None = None,
    activation: str | Callable[[Tensor], Tensor] | None = "softmax",
    feature_layer: str | int | None = None,
    copy: bool = False,
) -> keras.Model:
    """A new model: ``model`` up to its last feature layer, then a new classifier: ``head_flatten``,
    ``head_avg_pool`` or ``head_max_pool`` (4-D features), ``head_fc1``.., ``head_dropout``,
    ``predictions``.

    Args:
        model, classes: the model; the new number of classes (at least 2).
        hidden, dropout: widths of the head's ReLU layers; the dropout before ``predictions``.
        pooling, activation: ``None`` (flatten, as the original tops), ``"avg"`` or ``"max"``;
            the activation of ``predictions``.
        feature_layer: where the head starts, as for :func:`find_feature_layer`.
        copy: copy the backbone (default: its layers are shared with ``model``, same weights).
    """
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise UserError(f"classes must be an integer of at least 2, got {classes!r}; e.g. 10")
    if pooling not in (None, "avg", "max"):
        raise UserError(f"unknown pooling {pooling!r}; use None, 'avg' or 'max'")
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"dropout must be in [0, 1), got {dropout!r}; e.g. dropout=0.5")
    if any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in hidden):
        raise UserError(f"hidden must be positive integers, got {tuple(hidden)!r}; e.g. (256,)")
    if copy:
        model, original = keras.models.clone_model(model), model
        model.set_weights(original.get_weights())
    index = feature_layer_index(model, feature_layer)
    kept = {layer.name for layer in model.layers[: index + 1]}
    taken = kept & {"predictions", "head_flatten", "head_avg_pool", "head_max_pool", "head_dropout"}
    taken |= {n for n in kept if n.startswith(HEAD_PREFIX + "fc")}
    if taken:
        raise UserError(
            f"{model.name}: the backbone already has layers named {sorted(taken)}; "
            "pass feature_layer= to cut before them"
        )
    x = _graph_output(model, model.layers[index])
    if len(x.shape) == 4:
        if pooling is None:
            x = layers.Flatten(name="head_flatten")(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D(name="head_avg_pool")(x)
        else:
            x = layers.GlobalMaxPooling2D(name="head_max_pool")(x)
    elif len(x.shape) != 2:
        raise UserError(
            f"{model.name}: layer {model.layers[index].name!r} has a {len(x.shape)}-D output; "
            "the head needs 4-D feature maps or 2-D features"
        )
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", name=f"{HEAD_PREFIX}fc{i}")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{HEAD_PREFIX}dropout")(x)
    # The classifier in float32 even under mixed precision (softmax stability).
    outputs = layers.Dense(classes, activation=activation, name="predictions", dtype="float32")(x)
    return keras.Model(_inputs(model), outputs, name=model.name)
