"""Type aliases for kerascnn's annotations, for type checkers only.

Modules import them under ``if TYPE_CHECKING:`` (with ``from __future__ import annotations``),
so nothing here is imported at run time and the aliases may name Keras, TensorFlow, JAX and
PyTorch types freely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping

    import jax
    import keras
    import numpy as np
    import tensorflow as tf
    import torch

__all__ = ["Logs", "Shape", "Tensor"]

#: What ``keras.ops`` take and give: a tensor of the active backend, a NumPy array, or a
#: symbolic ``KerasTensor`` (while a functional model is built).
Tensor: TypeAlias = "tf.Tensor | jax.Array | torch.Tensor | np.ndarray | keras.KerasTensor"
#: A Keras shape: one entry per axis, ``None`` where the size is unknown (the batch axis).
Shape: TypeAlias = "tuple[int | None, ...]"
#: A Keras callback's ``logs``: metric name -> its value (``None`` when Keras passes none).
Logs: TypeAlias = "Mapping[str, float] | None"
