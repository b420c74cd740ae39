"""Pictures of what a network learned and sees: filters, feature maps, Grad-CAM heatmaps.

Each is an RGB ``PIL.Image`` laid out by :mod:`kerascnn.canvas`: at least 400
pixels on its short side, the caption above the tiles (never over them), the tiles' boxes in
``info["tiles"]`` and the layer drawn in ``info["layer"]``; images are [0, 255] pixels (a
path, an ``H x W x 3`` array or a ``LoadedImage``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from kerascnn.canvas import PAD, colour_key, compose, enlarge, jet, scale_for
from kerascnn.errors import UserError
from kerascnn.images import LoadedImage, load_image, resize

if TYPE_CHECKING:
    import keras

    from kerascnn._typing import Tensor
    from kerascnn.images import ImageInput

    Picture = ImageInput | LoadedImage  # pixels, an image file, or a loaded image
    Preprocess = Callable[[np.ndarray], np.ndarray]  # a batch of RGB pixels -> the model's input

__all__ = ["PAD", "TILE", "conv_layers", "features", "filters", "gradcam", "gradcam_heatmap"]

TILE = 32  # minimum tile side in pixels; kernels and maps are enlarged by whole factors


def _kernel(layer: keras.layers.Layer) -> keras.Variable | None:
    for attr in ("kernel", "depthwise_kernel"):
        weight = getattr(layer, attr, None)
        if weight is not None and len(weight.shape) == 4:
            return weight
    return None


def conv_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` with a 2-D convolution kernel, in order."""
    return [layer for layer in model.layers if _kernel(layer) is not None]


def _find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(name)
    except ValueError:
        names = ", ".join(layer.name for layer in model.layers[:40])
        raise UserError(f"{model.name} has no layer {name!r}; its layers: {names}") from None


def _normalise(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 255] by min and max (a constant array becomes mid-grey)."""
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.full(values.shape, 0.0 if high == 0 else 128.0, np.float32)
    return (values - low) * (255.0 / (high - low))


def _factor(height: int, width: int, rows: int, columns: int) -> float:
    """The enlargement of ``height x width`` tiles in a ``rows x columns`` grid: the picture
    reaches canvas.MIN_SIDE, and every tile at least TILE pixels."""
    return max(
        scale_for(rows * height, columns * width), float(math.ceil(TILE / max(height, width)))
    )


def _first_learned(model: keras.Model) -> tuple[keras.layers.Layer, list[keras.layers.Layer]]:
    """The first convolution whose kernel is trainable (the first of all if none is), and the
    fixed ones before it (a whitening or other preprocessing convolution)."""
    convs = conv_layers(model)
    if not convs:
        raise UserError(f"{model.name} has no 2-D convolution layer; use a convolutional model")
    learned = (c for c in convs if c.trainable and getattr(_kernel(c), "trainable", True))
    target = next(learned, convs[0])
    return target, convs[: convs.index(target)]


def filters(
    model: keras.Model, layer: str | None = None, *, max_filters: int = 64, max_channels: int = 16
) -> Image.Image:
    """A picture of a convolution's kernels, each filter scaled to [0, 255] by its min and max.

    A kernel over 3 input channels (the first layer) is one RGB tile per filter; deeper
    kernels are one grey tile per (filter, input channel): a row per filter.

    Args:
        model, layer: the model; its convolution (default: the first trainable one, after
            any fixed, non-trainable convolution such as alexnet_cifar's whitening).
        max_filters, max_channels: the most filters and input channels shown.
    """
    import keras

    skipped: list[keras.layers.Layer] = []
    if layer is None:
        target, skipped = _first_learned(model)
    else:
        target = _find_layer(model, layer)
        if _kernel(target) is None:
            names = ", ".join(c.name for c in conv_layers(model)) or "none"
            raise UserError(f"layer {layer!r} is not a 2-D convolution; convolutions: {names}")
    kernel = keras.ops.convert_to_numpy(_kernel(target)).astype(np.float32)
    kh, kw, cin, cout = kernel.shape
    if _kernel(target) is getattr(target, "depthwise_kernel", None):
        kernel = kernel.reshape(kh, kw, 1, cin * cout)  # depthwise: one channel per output
        cin, cout = 1, kernel.shape[-1]
    shown = min(cout, max_filters)
    name = target.name
    if skipped:
        fixed = ", ".join(c.name for c in skipped)
        name = f"{name} (first trainable convolution; fixed {fixed} skipped)"
    if cin == 3:
        tiles = [_normalise(kernel[..., f]) for f in range(shown)]
        columns = math.ceil(math.sqrt(shown))
        label = f"{name}: {shown} of {cout} filters, {kh}x{kw}x3 as RGB"
    else:
        channels = min(cin, max_channels)
        scaled = [_normalise(kernel[..., :channels, f]) for f in range(shown)]
        tiles = [each[..., c] for each in scaled for c in range(channels)]
        columns = channels
        label = (
            f"{name}: filters 0-{shown - 1} of {cout} (rows) x input channels "
            f"0-{channels - 1} of {cin} (columns), {kh}x{kw}"
        )
    factor = _factor(kh, kw, math.ceil(len(tiles) / columns), columns)
    labels = [str(f) for f in range(shown)] if cin == 3 else None
    picture = compose([enlarge(t, factor) for t in tiles], columns, label, labels=labels)
    picture.info["layer"] = target.name
    return picture


def _pixels(image: Picture) -> np.ndarray:
    if isinstance(image, LoadedImage):
        return image.pixels
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise UserError(
                f"image must be H x W x 3 pixels, got shape {image.shape}; give RGB pixels"
            )
        return image.astype(np.float32)
    return load_image(image).pixels


def _model_input(
    model: keras.Model, pixels: np.ndarray, preprocess: Preprocess | None
) -> np.ndarray:
    """Resize pixels to the model's fixed input size (if any) and make a batch of one."""
    height, width = model.inputs[0].shape[1:3]
    if height and width and pixels.shape[:2] != (height, width):
        pixels = resize(pixels, (height, width))
    batch = pixels[None].astype(np.float32)
    return np.asarray(preprocess(batch) if preprocess else batch, np.float32)


def features(model: keras.Model, image: Picture, layer: str, max: int = 64, *,
             preprocess: Preprocess | None = None) -> Image.Image:  # fmt: skip
    """The feature maps of ``layer`` for ``image``, each scaled to [0, 255] by its min and max.

    Args:
        model, image, layer: the model; pixels (see the module docstring); the layer.
        max: the most channels shown, after a first tile with the input.
        preprocess: maps pixels to the model's input (default: none).
    """
    import keras

    target = _find_layer(model, layer)
    if len(target.output.shape) != 4:
        raise UserError(
            f"layer {layer!r} has no feature maps (output {target.output.shape}); "
            "pick a convolution or pooling layer"
        )
    pixels = _pixels(image)
    x = _model_input(model, pixels, preprocess)
    maps = keras.ops.convert_to_numpy(keras.Model(model.input, target.output)(x))[0]
    shown = min(maps.shape[-1], max)
    columns = math.ceil(math.sqrt(shown + 1))
    factor = _factor(maps.shape[0], maps.shape[1], math.ceil((shown + 1) / columns), columns)
    tiles = [enlarge(_normalise(maps[..., c]), factor) for c in range(shown)]
    tiles.insert(0, resize(pixels, tiles[0].shape[:2]))
    label = (
        f"{target.name}: channels 0-{shown - 1} of {maps.shape[-1]}, "
        f"{maps.shape[0]}x{maps.shape[1]}; first tile: the input"
    )
    picture = compose(tiles, columns, label, labels=["input", *map(str, range(shown))])
    picture.info["layer"] = target.name
    return picture


@contextlib.contextmanager
def _logits(model: keras.Model) -> Iterator[None]:
    """Drop a final softmax while inside, so scores are the class logits (as in the paper)."""
    import keras

    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", "") != "softmax":
        yield
        return
    last.activation = keras.activations.linear
    try:
        yield
    finally:
        last.activation = activation


def _last_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The last layer with feature maps, before any pooling that follows it."""
    candidates = [
        layer
        for layer in model.layers
        if type(layer).__name__ != "InputLayer" and len(layer.output.shape) == 4
    ]
    if not candidates:
        raise UserError(f"{model.name} has no layer with feature maps for Grad-CAM; use a CNN")
    unpooled = (layer for layer in reversed(candidates) if "Pooling" not in type(layer).__name__)
    return next(unpooled, candidates[-1])


def gradcam_heatmap(
    model: keras.Model,
    image: Picture,
    class_index: int | None = None,
    *,
    layer: str | None = None,
    preprocess: Preprocess | None = None,
) -> tuple[np.ndarray, int, float]:
    """Grad-CAM (Selvaraju et al. 2017): ``(heatmap in [0, 1] at the layer's size, class, p)``.

    The maps of ``layer``, weighted by the mean gradient of the class's score (its logit if
    the model ends in softmax), summed and ReLU'd; ``p`` is the model's output for the class.

    Args:
        model, image, preprocess: as for :func:`features`.
        class_index: the class explained (default: the predicted one).
        layer: the feature maps (default: the last layer with maps).
    """
    import keras

    from kerascnn.interpret.ascent import gradient_fn

    target = _find_layer(model, layer) if layer else _last_feature_layer(model)
    x = _model_input(model, _pixels(image), preprocess)
    maps = keras.ops.convert_to_numpy(keras.Model(model.input, target.output)(x))
    scores = keras.ops.convert_to_numpy(model(x))[0]
    if class_index is None:
        class_index = int(np.argmax(scores))
    if not 0 <= class_index < scores.shape[-1]:
        raise UserError(
            f"class {class_index} is out of range: the model has {len(scores)} classes; "
            f"pick one in 0..{len(scores) - 1}"
        )
    head = keras.Model([target.output], model.output)

    def score(outputs: list[Tensor]) -> Tensor:
        return keras.ops.sum(outputs[0][:, class_index])

    with _logits(model):  # compiled and run inside: the logits' gradient
        _, grads = gradient_fn(head, score, precision="float32")(maps)
    cam = np.maximum((maps[0] * grads[0].mean(axis=(0, 1))).sum(axis=-1), 0.0)
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam), class_index, float(scores[class_index])


def gradcam(
    model: keras.Model,
    image: Picture,
    class_index: int | None = None,
    *,
    layer: str | None = None,
    preprocess: Preprocess | None = None,
    opacity: float = 0.45,
) -> Image.Image:
    """The image beside the Grad-CAM heatmap blended over it, under a caption, above a key.

    Both tiles are the image enlarged by a whole factor (each pixel a square) until the
    picture is canvas.MIN_SIDE pixels on its short side; a large image keeps its size (one
    whose two copies would pass canvas.MAX_SIDE pixels is shrunk to fit).

    Args:
        model, image, class_index, layer, preprocess: as for :func:`gradcam_heatmap`.
        opacity: the heatmap's weight in the blend.
    """
    pixels = _pixels(image)
    cam, index, score = gradcam_heatmap(
        model, pixels, class_index, layer=layer, preprocess=preprocess
    )
    shown = enlarge(pixels, scale_for(pixels.shape[0], 2 * pixels.shape[1]))
    big = resize(cam[..., None].astype(np.float32), shown.shape[:2])[..., 0]
    blended = (1 - opacity) * shown + opacity * jet(np.clip(big, 0, 1))
    name = layer or _last_feature_layer(model).name
    caption = (
        f"Grad-CAM of class {index} (output {score:.3f}) at {name}: "
        "the image, and where the evidence for the class lies"
    )
    key = colour_key(jet, "none", f"most evidence for class {index}")
    picture = compose([shown, blended], 2, caption, footer=key)
    picture.info["layer"] = name
    return picture
