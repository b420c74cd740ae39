"""Test-time augmentation inside a Keras model: :class:`TestTimeViews` stacks the views of
:mod:`kerascnn.tta` along the batch, :class:`MeanOfViews` averages the model's probabilities
over them, so an exported graph computes the TTA probabilities itself."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerascnn.tta import check_mode, view_indices

__all__ = ["MeanOfViews", "TestTimeViews", "view_count"]


def view_count(mode: str) -> int:
    """How many views ``mode`` averages over (1 for ``"none"``)."""
    return len(view_indices(mode, (8, 8)))


@keras.saving.register_keras_serializable(package="kerascnn")
class TestTimeViews(keras.layers.Layer):
    """``N x H x W x C`` images -> ``V*N x H x W x C``: the ``V`` views of ``mode`` (see
    :mod:`kerascnn.tta`), view after view: first the ``N`` images, then their mirrors, ...
    Each view is a gather of rows and columns with fixed indices (any format expresses it)."""

    def __init__(self, mode: str = "flip", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = check_mode(mode)

    def call(self, inputs: Any) -> Any:
        size = inputs.shape[1], inputs.shape[2]
        if None in size:
            raise ValueError("TestTimeViews needs a static input height and width")
        views = []
        for rows, cols in view_indices(self.mode, size):
            x = inputs if rows is None else ops.take(inputs, rows.astype("int32"), axis=1)
            views.append(x if cols is None else ops.take(x, cols.astype("int32"), axis=2))
        return views[0] if len(views) == 1 else ops.concatenate(views, axis=0)

    def compute_output_shape(self, input_shape: Any) -> Any:
        n = input_shape[0]
        return (None if n is None else n * view_count(self.mode), *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="kerascnn")
class MeanOfViews(keras.layers.Layer):
    """``[probabilities, images]`` -> ``N x classes``: the mean of the ``V*N x classes``
    probabilities of the views of :class:`TestTimeViews` per image (still a distribution);
    ``images``, the ``N`` images the views were taken of, give ``N`` (a batch size that is
    symbolic when exported: reshaped by it, not divided)."""

    def __init__(self, mode: str = "flip", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = check_mode(mode)

    def call(self, inputs: Any) -> Any:
        probs, images = inputs
        views = view_count(self.mode)
        if views == 1:
            return probs
        shape = (views, ops.shape(images)[0], probs.shape[-1])
        return ops.mean(ops.reshape(probs, shape), axis=0)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[1][0], input_shape[0][-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}
