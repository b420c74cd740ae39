"""VGG16 (Simonyan & Zisserman, 2014), layer for layer as ``keras.applications.VGG16``."""

from __future__ import annotations

from typing import Any

from keras import layers

from kerascnn.zoo._common import Arguments, check_arguments, classifier, finish, model_input

__all__ = ["vgg16", "vgg16_bn"]

# (convolutions, filters) per block: configuration "D" of the paper.
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _vgg(args: Arguments, *, batch_norm: bool, dropout: float) -> Any:
    inputs = model_input(args)
    x = inputs
    for b, (convs, filters) in enumerate(VGG16_BLOCKS, start=1):
        for c in range(1, convs + 1):
            conv = f"block{b}_conv{c}"
            if batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", name=conv)(x)
                x = layers.BatchNormalization(epsilon=1e-5, name=f"{conv}_bn")(x)
                x = layers.ReLU(name=f"{conv}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    if args.include_top:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc1", "fc2"):
            x = layers.Dense(4096, activation="relu", name=fc)(x)
            if dropout:
                x = layers.Dropout(dropout, name=f"{fc}_dropout")(x)
    return finish(args, inputs, classifier(x, args))


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

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as ``keras.applications.VGG16``; ``weights`` may
            be a variant (``"imagenet"``), whose classes ``classes=None`` then takes.
        dropout: after ``fc1`` and ``fc2`` (0.5 in the paper); it has no weights, so
            Keras' published VGG16 files load unchanged.
    """
    return _vgg(check_arguments("vgg16", locals()), batch_norm=False, dropout=dropout)


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
    """VGG16 with batch normalisation after every convolution, as torchvision's ``vgg16_bn``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as :func:`vgg16`.
        dropout: after ``fc1`` and ``fc2``, as :func:`vgg16`.
    """
    return _vgg(check_arguments("vgg16_bn", locals()), batch_norm=True, dropout=dropout)
