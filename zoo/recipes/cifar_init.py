"""Training-time set-up of the CIFAR-10 recipe's model, as the airbench records do it:
identity ("dirac") starting filters and batch-norm layers without a learned scale.

Both act on a built model before training and leave its architecture as it is, so the
trained weights load into the plain ``alexnet_cifar`` model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fix_batch_norm_scale", "identity_init"]


def identity_init(model: Any, skip: tuple[str, ...] = ("whiten",)) -> int:
    """Start each 2-D convolution of ``model`` (but those named in ``skip``) with its first
    ``min(inputs, filters)`` filters as identities: filter ``i`` passes input channel ``i``
    through its kernel's centre, so the stacked convolutions begin near the identity map.
    The other filters keep their random start. Returns the number of layers changed."""
    import keras

    changed = 0
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D) or layer.name in skip:
            continue
        kernel = keras.ops.convert_to_numpy(layer.kernel).copy()
        height, width, inputs, filters = kernel.shape
        first = min(inputs, filters)
        kernel[:, :, :, :first] = 0.0
        kernel[height // 2, width // 2, np.arange(first), np.arange(first)] = 1.0
        layer.kernel.assign(kernel)
        changed += 1
    return changed


def _ones(value: Any) -> Any:
    """A variable constraint that puts every value back to 1."""
    import keras

    return keras.ops.ones(value.shape, dtype=value.dtype)


def fix_batch_norm_scale(model: Any) -> int:
    """Set each batch-norm layer's scale (gamma) to 1 and keep it there: a constraint puts it
    back to 1 after every optimizer step, on every backend; the shift (beta) still learns.
    Returns the number of layers changed."""
    import keras

    changed = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.scale:
            layer.gamma.assign(np.ones(layer.gamma.shape, "float32"))
            layer.gamma.constraint = _ones
            changed += 1
    return changed
