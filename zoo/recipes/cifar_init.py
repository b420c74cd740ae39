"""How the CIFAR-10 recipe's model starts (:class:`WhitenedBuilder`): whitening filters from
the training images, and, as the airbench records, identity ("dirac") starting filters and
batch-norm layers without a learned scale.

All act on a built model before training and leave its architecture as it is, so the
trained weights load into the plain ``alexnet_cifar`` model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerascnn.zoo.recipes.cifar_data import patch_whitening, whitening_sample

__all__ = ["WhitenedBuilder", "builder_args", "fix_batch_norm_scale", "identity_init"]


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


def builder_args(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's ``model_args`` as builder keywords (JSON lists become tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in recipe["model_args"].items()}


class WhitenedBuilder:
    """``fit``'s model builder: the recipe's model, its whitening layer set to the
    PCA-whitening filters (``cifar_data.patch_whitening``) of ``whitening["patches"]``
    training images of ``folder``, drawn with the recipe's seed; computed once, here."""

    def __init__(self, recipe: dict[str, Any], folder: Any) -> None:
        from kerascnn.training.pydata import decode_images

        self.model, self.classes = recipe["model"], len(folder.class_names)
        self.recipe = recipe
        self.args, self.whitening = builder_args(recipe), None
        patch = self.args.get("whiten")
        if patch:
            train, spec = sorted(folder.files["train"]), recipe["whitening"]  # name order
            pick = whitening_sample(len(train), spec["patches"], recipe["seed"])
            paths = [str(folder.root / train[i][0]) for i in pick]
            images = decode_images(paths, folder.image_size)
            self.whitening = list(patch_whitening(images, patch, spec["eps"]))
            self.images = len(pick)

    def __call__(self) -> Any:
        import kerascnn

        model = kerascnn.create_model(self.model, classes=self.classes, **self.args)
        if self.whitening is not None:
            model.get_layer("whiten").set_weights(self.whitening)
        if self.recipe.get("identity_init"):
            identity_init(model)
        if self.recipe.get("fixed_bn_scale"):
            fix_batch_norm_scale(model)
        return model

    def __repr__(self) -> str:
        parts = [f"classes={self.classes}"]
        if self.whitening is not None:
            parts.append(f"whitening from {self.images} training images")
        if self.recipe.get("identity_init"):
            parts.append("identity start")
        if self.recipe.get("fixed_bn_scale"):
            parts.append("batch-norm scale fixed at 1")
        return f"{self.model}({', '.join(parts)})"
