"""AlexNet: the single-column "one weird trick" network and a small CIFAR-10 variant."""

from __future__ import annotations

from typing import Any

from keras import layers

from kerascnn.errors import UserError
from kerascnn.layers import AdaptiveAveragePooling, LocalResponseNormalization
from kerascnn.zoo._common import check_arguments, classifier, finish, model_input

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
) -> Any:
    """Convolution, then batch norm (optional), ReLU, then LRN (optional)."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if lrn:
        x = LocalResponseNormalization(name=f"{name}_lrn")(x)
    return x


def _check_flags(model: str, **flags: Any) -> None:
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise UserError(f"{model}: {key} must be True or False, got {value!r}")


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

    ``lrn=True`` adds the 2012 paper's local response normalisation after the
    first two convolutions; ``batch_norm=True`` adds batch norm after every one.
    The top average-pools the features to 6x6 whatever the input size.
    """
    shape, classes = check_arguments(
        model="alexnet",
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        default_shape=(224, 224, 3),
        min_size=63,
    )
    _check_flags("alexnet", lrn=lrn, batch_norm=batch_norm)
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"alexnet: dropout must be in [0, 1), got {dropout!r}")
    inputs = model_input(shape, input_tensor)
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
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return finish(inputs, x, name=name, model="alexnet", input_tensor=input_tensor, weights=weights)


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
) -> Any:
    """A small AlexNet-style network for 32x32 images, after cuda-convnet's CIFAR-10 nets.

    Each stage: ``convs_per_stage`` x (conv ``kernel_size`` -> norm -> ReLU),
    then max-pool 3/2. ``norm`` is ``"bn"``, ``"lrn"`` (cuda-convnet's
    response normalisation) or ``None``. Then ``dense`` hidden layers with
    dropout and the classifier.

    ``whiten=k`` (0: none) puts a fixed, non-trainable ``k x k`` "valid" convolution
    with ``2 * channels * k * k`` filters and a ReLU in front of the first stage, as in the
    airbench CIFAR-10 records: the training recipe sets its kernel to the PCA-whitening
    filters of the training images' patches (each eigenvector and its negative), so the
    model takes raw pixels in [0, 255]. The layer always computes in float32.

    ``global_pool`` (``"max"`` or ``"avg"``; default ``None``: flatten) reduces the last
    stage's map to one value per channel before the dense layers; the small fan-in keeps
    SGD at high learning rates from oscillating between classes. It shapes the top only:
    with ``include_top=False`` it is ignored (use ``pooling=``).
    """
    shape, classes = check_arguments(
        model="alexnet_cifar",
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        default_shape=(32, 32, 3),
        min_size=8,
    )
    if not filters or any(not isinstance(f, int) or f < 1 for f in filters):
        raise UserError(f"alexnet_cifar: filters must be positive integers, got {filters!r}")
    if any(not isinstance(d, int) or d < 1 for d in dense):
        raise UserError(f"alexnet_cifar: dense must be positive integers, got {dense!r}")
    if norm not in ("bn", "lrn", None):
        raise UserError(f"alexnet_cifar: norm must be 'bn', 'lrn' or None, got {norm!r}")
    if not isinstance(kernel_size, int) or kernel_size < 1:
        raise UserError(
            f"alexnet_cifar: kernel_size must be a positive integer, got {kernel_size!r}"
        )
    if not isinstance(convs_per_stage, int) or convs_per_stage < 1:
        raise UserError(
            f"alexnet_cifar: convs_per_stage must be a positive integer, got {convs_per_stage!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"alexnet_cifar: dropout must be in [0, 1), got {dropout!r}")
    if isinstance(whiten, bool) or not isinstance(whiten, int) or not 0 <= whiten < 8:
        raise UserError(f"alexnet_cifar: whiten must be a patch size in 0..7, got {whiten!r}")
    if global_pool not in ("max", "avg", None):
        raise UserError(
            f"alexnet_cifar: global_pool must be 'max', 'avg' or None, got {global_pool!r}"
        )
    inputs = model_input(shape, input_tensor)
    x = inputs
    if whiten:
        x = layers.Conv2D(
            2 * shape[2] * whiten * whiten,
            whiten,
            padding="valid",
            trainable=False,
            dtype="float32",  # raw pixels times large filters: 16-bit would cancel badly
            name="whiten",
        )(x)
        x = layers.ReLU(name="whiten_relu")(x)
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
            )
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"stage{s}_pool")(x)
    if include_top:
        if global_pool == "max":
            x = layers.GlobalMaxPooling2D(name="global_pool")(x)
        elif global_pool == "avg":
            x = layers.GlobalAveragePooling2D(name="global_pool")(x)
        else:
            x = layers.Flatten(name="flatten")(x)
        for i, units in enumerate(dense, start=1):
            x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    return finish(
        inputs, x, name=name, model="alexnet_cifar", input_tensor=input_tensor, weights=weights
    )
