"""AlexNet: the single-column "one weird trick" network and a small CIFAR-10 variant."""

from __future__ import annotations

from typing import Any

from keras import layers

from kerascnn.errors import UserError
from kerascnn.layers import AdaptiveAveragePooling, LocalResponseNormalization
from kerascnn.zoo._common import (
    check_arguments,
    check_choice,
    check_flags,
    check_size_lists,
    check_sizes,
    classifier,
    finish,
    model_input,
)

__all__ = ["alexnet", "alexnet_cifar"]

# (filters, kernel, stride, padding, max-pool after) per conv layer, as torchvision's
# AlexNet (Krizhevsky 2014, "One weird trick for parallelizing CNNs").
ALEXNET_CONVS = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)


def _conv_unit(
    x: Any,
    filters: int,
    kernel: int,
    stride: int,
    *,
    name: str,
    padding: str = "same",
    batch_norm: bool = False,
    lrn: bool = False,
    activation: str = "relu",
) -> Any:
    """Convolution, then batch norm (optional), the activation, then LRN (optional)."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    if activation == "relu":
        x = layers.ReLU(name=f"{name}_relu")(x)
    else:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    if lrn:
        x = LocalResponseNormalization(name=f"{name}_lrn")(x)
    return x


def alexnet(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "alexnet",
    *,
    lrn: bool = False,
    batch_norm: bool = False,
    dropout: float = 0.5,
) -> Any:
    """Single-column AlexNet, the variant torchvision ships (61,100,840 parameters).

    The top average-pools the features to 6x6 whatever the input size.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: ``keras.applications``'s, as :mod:`kerascnn.zoo.vgg`.
        lrn: the 2012 paper's local response normalisation after the first two convolutions.
        batch_norm: batch norm after every convolution.
        dropout: before ``fc1`` and ``fc2``.
    """
    args = check_arguments("alexnet", locals())
    check_flags("alexnet", lrn=lrn, batch_norm=batch_norm)
    inputs = model_input(args)
    x = inputs
    for i, (filters, kernel, stride, pad, pool) in enumerate(ALEXNET_CONVS, start=1):
        if stride > 1:  # torchvision pads 2 then convolves "valid"; "same" would differ
            x = layers.ZeroPadding2D(pad, name=f"conv{i}_pad")(x)
        x = _conv_unit(
            x,
            filters,
            kernel,
            stride,
            name=f"conv{i}",
            padding="valid" if stride > 1 else "same",
            batch_norm=batch_norm,
            lrn=lrn and i <= 2,
        )
        if pool:
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    if include_top:
        x = AdaptiveAveragePooling((6, 6), name="avgpool")(x)
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc1", "fc2"):
            if dropout:
                x = layers.Dropout(dropout, name=f"{fc}_dropout")(x)
            x = layers.Dense(4096, activation="relu", name=fc)(x)
    return finish(args, inputs, classifier(x, args))


def _whitening(x: Any, patch: int, channels: int) -> Any:
    """The fixed ``patch x patch`` "valid" convolution (2 filters per PCA direction) and ReLU."""
    x = layers.Conv2D(
        2 * channels * patch * patch,
        patch,
        padding="valid",
        trainable=False,
        dtype="float32",  # raw pixels times large filters: 16-bit would cancel badly
        name="whiten",
    )(x)
    return layers.ReLU(name="whiten_relu")(x)


def _cifar_top(x: Any, global_pool: str | None, dense: tuple[int, ...]) -> Any:
    """Global pooling or flatten, then the hidden dense layers."""
    if global_pool == "max":
        x = layers.GlobalMaxPooling2D(name="global_pool")(x)
    elif global_pool == "avg":
        x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
    return x


def alexnet_cifar(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "alexnet_cifar",
    *,
    filters: tuple[int, ...] = (64, 128, 256),
    kernel_size: int = 5,
    convs_per_stage: int = 1,
    norm: str = "bn",
    dense: tuple[int, ...] = (256,),
    dropout: float = 0.5,
    whiten: int = 0,
    global_pool: str | None = None,
    early_pool: bool = False,
    activation: str = "relu",
    head_scale: float = 1.0,
) -> Any:
    """A small AlexNet-style network for 32x32 images, after cuda-convnet's CIFAR-10 nets.

    Each stage: ``convs_per_stage`` x (conv ``kernel_size`` -> norm -> ReLU), then
    max-pool 3/2; then the ``dense`` hidden layers, dropout and the classifier.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: ``keras.applications``'s, as :mod:`kerascnn.zoo.vgg`.
        filters, kernel_size, convs_per_stage: the stages' widths, kernel and depth.
        norm: ``"bn"``, ``"lrn"`` (cuda-convnet's response normalisation) or ``None``.
        dense, dropout: hidden layer widths; dropout before the classifier.
        whiten: ``k`` (0: none) puts a fixed, non-trainable ``k x k`` "valid" convolution
            with ``2 * channels * k * k`` filters and a ReLU in front, as in the airbench
            CIFAR-10 records: the recipe sets it to the PCA-whitening filters of the training
            patches (each eigenvector and its negative), so the model takes raw pixels in
            [0, 255]. The layer always computes in float32.
        global_pool: ``"max"`` or ``"avg"`` (``None``: flatten) reduces the last stage to one
            value per channel before the dense layers; the small fan-in keeps SGD at high
            learning rates from oscillating. Ignored with ``include_top=False``.
        early_pool: max-pool after each stage's first convolution instead of its last, as
            airbench's conv groups do: the later convolutions run at a quarter of the pixels.
            The pools are then named ``stageS_conv1_pool``, and a stage ends at its last ReLU.
        activation: the convolutions' ``"relu"`` (layers ``..._relu``) or ``"gelu"``
            (``..._gelu``, as airbench).
        head_scale: multiplies the classifier's input (a ``Rescaling`` layer ``head_scale``
            when not 1): with it the classifier's weights learn ``head_scale**2`` as fast as
            the rest, as airbench's 1/9 scale of the logits.
    """
    args = check_arguments("alexnet_cifar", locals())
    check_size_lists("alexnet_cifar", filters=filters)
    check_size_lists("alexnet_cifar", allow_empty=True, dense=dense)
    check_choice("alexnet_cifar", "norm", norm, ("bn", "lrn", None))
    check_sizes("alexnet_cifar", kernel_size=kernel_size, convs_per_stage=convs_per_stage)
    if isinstance(whiten, bool) or not isinstance(whiten, int) or not 0 <= whiten < 8:
        raise UserError(
            f"alexnet_cifar: whiten must be a patch size in 0..7, got {whiten!r}; "
            "e.g. 3, or 0 for none"
        )
    check_choice("alexnet_cifar", "global_pool", global_pool, ("max", "avg", None))
    check_flags("alexnet_cifar", early_pool=early_pool)
    check_choice("alexnet_cifar", "activation", activation, ("relu", "gelu"))
    if isinstance(head_scale, bool) or not isinstance(head_scale, (int, float)) or head_scale <= 0:
        raise UserError(
            f"alexnet_cifar: head_scale must be a positive number, got {head_scale!r}; e.g. 1/9"
        )
    inputs = model_input(args)
    x = _whitening(inputs, whiten, args.shape[2]) if whiten else inputs
    pool_after, pool = (1, "conv1_pool") if early_pool else (convs_per_stage, "pool")
    for s, width in enumerate(filters, start=1):
        for c in range(1, convs_per_stage + 1):
            x = _conv_unit(
                x,
                width,
                kernel_size,
                1,
                name=f"stage{s}_conv{c}",
                batch_norm=norm == "bn",
                lrn=norm == "lrn" and c == convs_per_stage,
                activation=activation,
            )
            if c == pool_after:
                x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"stage{s}_{pool}")(x)
    if include_top:
        x = _cifar_top(x, global_pool, dense)
        if head_scale != 1:
            x = layers.Rescaling(head_scale, name="head_scale")(x)
    return finish(args, inputs, classifier(x, args, dropout=dropout))
