"""Pictures of what a network learned and sees: filters, feature maps, Grad-CAM heatmaps.

Each is an RGB ``PIL.Image`` with a label on top and its tiles' boxes in ``info["tiles"]``;
images are [0, 255] pixels (a path, an ``H x W x 3`` array or a ``LoadedImage``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kerascnn.errors import UserError
from kerascnn.images import LoadedImage, load_image, resize

__all__ = ["PAD", "TILE", "conv_layers", "features", "filters", "gradcam", "gradcam_heatmap"]

TILE = 32  # minimum tile side in pixels; kernels and maps are enlarged by whole factors
PAD = 2  # pixels between tiles and around the grid
_BACKGROUND = (48, 48, 48)


def _kernel(layer: Any) -> Any:
    for attr in ("kernel", "depthwise_kernel"):
        weight = getattr(layer, attr, None)
        if weight is not None and len(weight.shape) == 4:
            return weight
    return None


def conv_layers(model: Any) -> list[Any]:
    """The layers of ``model`` with a 2-D convolution kernel, in order."""
    return [layer for layer in model.layers if _kernel(layer) is not None]


def _find_layer(model: Any, name: str) -> Any:
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


def _enlarge(tile: np.ndarray, side: int = TILE) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole factor so the tile is at least ``side`` high."""
    factor = max(1, math.ceil(side / max(tile.shape[:2])))
    return np.repeat(np.repeat(tile, factor, axis=0), factor, axis=1)


def _rgb(tile: np.ndarray) -> np.ndarray:
    return np.repeat(tile[..., None], 3, axis=-1) if tile.ndim == 2 else tile


def _grid(tiles: list[np.ndarray], columns: int, label: str) -> Image.Image:
    """Tiles (same size) in a grid under a text label; boxes in ``info['tiles']``."""
    font = ImageFont.load_default()
    text_h = font.getbbox("Ag")[3] + 2 * PAD
    th, tw = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    width = max(columns * (tw + PAD) + PAD, int(font.getlength(label)) + 2 * PAD)
    height = text_h + rows * (th + PAD) + PAD
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    ImageDraw.Draw(canvas).text((PAD, PAD), label, fill=(255, 255, 255), font=font)
    boxes = []
    for i, tile in enumerate(tiles):
        left = PAD + (i % columns) * (tw + PAD)
        top = text_h + (i // columns) * (th + PAD)
        canvas.paste(Image.fromarray(np.clip(_rgb(tile), 0, 255).astype(np.uint8)), (left, top))
        boxes.append((left, top, left + tw, top + th))
    canvas.info["tiles"] = boxes
    return canvas


def filters(
    model: Any, layer: str | None = None, *, max_filters: int = 64, max_channels: int = 16
) -> Image.Image:
    """A picture of a convolution's kernels, each filter scaled to [0, 255] by its min and max.

    A kernel over 3 input channels (the first layer) is one RGB tile per filter; deeper
    kernels are one grey tile per (filter, input channel): a row per filter.

    Args:
        model, layer: the model; its convolution (default: the first).
        max_filters, max_channels: the most filters and input channels shown.
    """
    import keras

    convs = conv_layers(model)
    if layer is None:
        if not convs:
            raise UserError(f"{model.name} has no 2-D convolution layer; use a convolutional model")
        target = convs[0]
    else:
        target = _find_layer(model, layer)
        if _kernel(target) is None:
            names = ", ".join(c.name for c in convs) or "none"
            raise UserError(f"layer {layer!r} is not a 2-D convolution; convolutions: {names}")
    kernel = keras.ops.convert_to_numpy(_kernel(target)).astype(np.float32)
    kh, kw, cin, cout = kernel.shape
    if _kernel(target) is getattr(target, "depthwise_kernel", None):
        kernel = kernel.reshape(kh, kw, 1, cin * cout)  # depthwise: one channel per output
        cin, cout = 1, kernel.shape[-1]
    shown = min(cout, max_filters)
    if cin == 3:
        tiles = [_enlarge(_normalise(kernel[..., f])) for f in range(shown)]
        columns = math.ceil(math.sqrt(shown))
        label = f"{target.name}: {shown} of {cout} filters, {kh}x{kw}x3 as RGB"
    else:
        channels = min(cin, max_channels)
        scaled = [_normalise(kernel[..., :channels, f]) for f in range(shown)]
        tiles = [_enlarge(each[..., c]) for each in scaled for c in range(channels)]
        columns = channels
        label = (
            f"{target.name}: filters 0-{shown - 1} of {cout} (rows) x input channels "
            f"0-{channels - 1} of {cin} (columns), {kh}x{kw}"
        )
    return _grid(tiles, columns, label)


def _pixels(image: Any) -> np.ndarray:
    if isinstance(image, LoadedImage):
        return image.pixels
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise UserError(
                f"image must be H x W x 3 pixels, got shape {image.shape}; give RGB pixels"
            )
        return image.astype(np.float32)
    return load_image(image).pixels


def _model_input(model: Any, pixels: np.ndarray, preprocess: Callable | None) -> np.ndarray:
    """Resize pixels to the model's fixed input size (if any) and make a batch of one."""
    height, width = model.inputs[0].shape[1:3]
    if height and width and pixels.shape[:2] != (height, width):
        pixels = resize(pixels, (height, width))
    batch = pixels[None].astype(np.float32)
    return np.asarray(preprocess(batch) if preprocess else batch, np.float32)


def features(
    model: Any, image: Any, layer: str, max: int = 64, *, preprocess: Callable | None = None
) -> Image.Image:
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
    tiles = [_enlarge(_normalise(maps[..., c])) for c in range(shown)]
    tiles.insert(0, resize(pixels, tiles[0].shape[:2]))
    label = (
        f"{target.name}: channels 0-{shown - 1} of {maps.shape[-1]}, "
        f"{maps.shape[0]}x{maps.shape[1]}; first tile: the input"
    )
    return _grid(tiles, math.ceil(math.sqrt(len(tiles))), label)


@contextlib.contextmanager
def _logits(model: Any) -> Iterator[None]:
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


def _last_feature_layer(model: Any) -> Any:
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
    model: Any,
    image: Any,
    class_index: int | None = None,
    *,
    layer: str | None = None,
    preprocess: Callable | None = None,
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

    def score(outputs: list[Any]) -> Any:
        return keras.ops.sum(outputs[0][:, class_index])

    with _logits(model):  # compiled and run inside: the logits' gradient
        _, grads = gradient_fn(head, score, precision="float32")(maps)
    cam = np.maximum((maps[0] * grads[0].mean(axis=(0, 1))).sum(axis=-1), 0.0)
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam), class_index, float(scores[class_index])


def _jet(t: np.ndarray) -> np.ndarray:
    """Blue (0) -> green -> red (1), the usual heatmap colours, as [0, 255] RGB."""
    channels = [np.clip(1.5 - np.abs(4 * t - c), 0, 1) for c in (3, 2, 1)]
    return np.stack(channels, axis=-1) * 255.0


def gradcam(
    model: Any,
    image: Any,
    class_index: int | None = None,
    *,
    layer: str | None = None,
    preprocess: Callable | None = None,
    opacity: float = 0.45,
) -> Image.Image:
    """The Grad-CAM heatmap blended over ``image`` at the image's own size, with a label.

    Args:
        model, image, class_index, layer, preprocess: as for :func:`gradcam_heatmap`.
        opacity: the heatmap's weight in the blend.
    """
    pixels = _pixels(image)
    cam, index, score = gradcam_heatmap(
        model, pixels, class_index, layer=layer, preprocess=preprocess
    )
    big = resize(cam[..., None].astype(np.float32), pixels.shape[:2])[..., 0]
    blended = (1 - opacity) * pixels + opacity * _jet(np.clip(big, 0, 1))
    name = layer or _last_feature_layer(model).name
    return _grid([blended], 1, f"Grad-CAM class {index} (output {score:.3f}) at {name}")
