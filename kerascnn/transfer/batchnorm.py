"""Re-estimating batch-norm statistics on the new data before fine-tuning (AdaBN, Li et al.
2016): a backbone's moving statistics are those of the data it was trained on."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

import keras

from kerascnn.errors import UserError
from kerascnn.transfer.freezing import walk_layers

__all__ = ["adapt_batch_norm"]


def adapt_batch_norm(model: Any, data: Iterable[Any], *, max_batches: int | None = None) -> int:
    """Set every batch-norm layer's moving statistics to their average over ``data``.

    ``data`` yields image batches or ``(images, labels)`` pairs, preprocessed for ``model``,
    each run in training mode; ``trainable`` flags and momentum are left as they were.
    Returns the number of layers adapted (0 when ``data`` is empty).
    """
    whole = isinstance(max_batches, int) and not isinstance(max_batches, bool)
    if max_batches is not None and not (whole and max_batches >= 1):
        raise UserError(f"max_batches must be a positive integer or None, got {max_batches!r}")
    layers = [la for la in walk_layers(model) if isinstance(la, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    saved = [(layer, layer.momentum, layer.trainable) for layer in layers]
    seen = 0
    try:
        for layer in layers:
            layer.trainable = True  # frozen batch norm would run in inference mode
        for batch in islice(data, max_batches):
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in layers:  # running average: batch n gets weight 1/(n+1)
                layer.momentum = seen / (seen + 1)
            model(images, training=True)
            seen += 1
    finally:
        for layer, momentum, trainable in saved:
            layer.momentum, layer.trainable = momentum, trainable
    return len(layers) if seen else 0
