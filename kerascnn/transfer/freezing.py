"""Freezing and unfreezing layers, and "blocks": groups of layers by name prefix. Frozen batch
norm runs in inference mode; :func:`unfreeze` keeps it frozen by default. Recompile after."""

from __future__ import annotations

import re

import keras

from kerascnn.errors import UserError
from kerascnn.training.batchnorm import walk_layers
from kerascnn.transfer.head import HEAD_PREFIX, feature_layer_index, layer_index

__all__ = ["block_of", "blocks", "freeze", "resolve_start", "unfreeze", "walk_layers"]

_TOP_BLOCKS = re.compile(r"top-(\d+)-blocks?")


def block_of(layer_name: str) -> str:
    """The block a layer belongs to: its name up to the first ``_`` (``block5_conv1`` ->
    ``block5``, ``conv5_block3_out`` -> ``conv5``, ``pool5`` -> ``pool5``); a first part
    without a digit takes the number after it (``block_16_project`` -> ``block_16``)."""
    parts = layer_name.split("_")
    if len(parts) > 1 and not any(c.isdigit() for c in parts[0]) and parts[1].isdigit():
        return f"{parts[0]}_{parts[1]}"
    return parts[0]


def _is_head(layer: keras.layers.Layer) -> bool:
    return layer.name.startswith(HEAD_PREFIX) or layer.name == "predictions"


def blocks(
    model: keras.Model, *, end: int | None = None
) -> list[tuple[str, list[keras.layers.Layer]]]:
    """The backbone's blocks with weights in order, as ``(name, layers)``. ``end``: the index of
    the last backbone layer (default: the last one not in a head made by ``swap_head``)."""
    if end is None:
        end = max((i for i, la in enumerate(model.layers) if not _is_head(la)), default=-1)
    found: dict[str, list[keras.layers.Layer]] = {}
    for layer in model.layers[: end + 1]:
        found.setdefault(block_of(layer.name), []).append(layer)
    return [(name, group) for name, group in found.items() if any(la.weights for la in group)]


def resolve_start(model: keras.Model, ref: str | int, *, end: int | None = None) -> int:
    """Index of the first layer to train: a layer name/index or ``"top-N-blocks"``."""
    match = _TOP_BLOCKS.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        return layer_index(model, ref, what="unfreeze")
    n = int(match.group(1))
    found = blocks(model, end=end)
    if not 1 <= n <= len(found):
        names = ", ".join(name for name, _ in found)
        raise UserError(
            f"{ref!r}: {model.name} has {len(found)} blocks with weights ({names}); "
            f"use top-1-blocks .. top-{len(found)}-blocks"
        )
    return model.layers.index(found[-n][1][0])  # the first layer of the n-th block from the top


def freeze(model: keras.Model, up_to: str | int | None = None) -> keras.Model:
    """Freeze ``model.layers`` up to and including ``up_to`` (a layer name or index; ``None``:
    the backbone, up to ``find_feature_layer``). Returns ``model``."""
    stop = feature_layer_index(model) if up_to is None else layer_index(model, up_to, what="up_to")
    for layer in model.layers[: stop + 1]:
        layer.trainable = False
    return model


def unfreeze(
    model: keras.Model, from_: str | int | None = None, *, keep_batchnorm_frozen: bool = True
) -> keras.Model:
    """Make layers trainable from ``from_`` (name, index or ``"top-N-blocks"``; ``None``: all) to
    the end; batch norm stays frozen unless ``keep_batchnorm_frozen=False``. Returns ``model``."""
    start = 0 if from_ is None else resolve_start(model, from_)
    for layer in model.layers[start:]:
        for sub in walk_layers(layer):  # outer layers first: their setter reaches the inner
            bn = isinstance(sub, keras.layers.BatchNormalization)
            sub.trainable = not (bn and keep_batchnorm_frozen)
    return model
