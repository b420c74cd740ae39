"""VGG16 (Simonyan & Zisserman, 2014), layer for layer as ``keras.applications.VGG16``."""

from __future__ import annotations

from typing import Any

from keras import layers

from kerascnn.errors import UserError
from kerascnn.zoo._common import check_arguments, classifier, finish, model_input

__all__ = ["vgg16", "vgg16_bn"]

# (convolutions, filters) per block: configuration "D" of the paper.
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _vgg(
    model: str,
    blocks: tuple[tuple[int, int], ...],
    *,
    batch_norm: bool,
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: Any,
    pooling: str | None,
    classes: int | None,
    classifier_activation: Any,
    dropout: float,
    name: str,
) -> Any:
    shape, classes = check_arguments(
        model=model,
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        default_shape=(224, 224, 3),
        min_size=32,
    )
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"{model}: dropout must be in [0, 1), got {dropout!r}")
    inputs = model_input(shape, input_tensor)
    x = inputs
    for b, (convs, filters) in enumerate(blocks, start=1):
        for c in range(1, convs + 1):
            conv = f"block{b}_conv{c}"
            if batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", name=conv)(x)
                x = layers.BatchNormalization(epsilon=1e-5, name=f"{conv}_bn")(x)
                x = layers.ReLU(name=f"{conv}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc1", "fc2"):
            x = layers.Dense(4096, activation="relu", name=fc)(x)
            if dropout:
                x = layers.Dropout(dropout, name=f"{fc}_dropout")(x)
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return finish(inputs, x, name=name, model=model, input_tensor=input_tensor, weights=weights)


def vgg16(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "vgg16",
    *,
    dropout: float = 0.5,
) -> Any:
    """VGG16 with the layer names and weight order of ``keras.applications.VGG16``.

    ``dropout`` (0.5 in the paper) follows ``fc1`` and ``fc2``; it has no
    weights, so Keras' published VGG16 files load unchanged.
    """
    return _vgg(
        "vgg16",
        VGG16_BLOCKS,
        batch_norm=False,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
        name=name,
    )


def vgg16_bn(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "vgg16_bn",
    *,
    dropout: float = 0.5,
) -> Any:
    """VGG16 with batch normalisation after every convolution, as torchvision's ``vgg16_bn``."""
    return _vgg(
        "vgg16_bn",
        VGG16_BLOCKS,
        batch_norm=True,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
        name=name,
    )
