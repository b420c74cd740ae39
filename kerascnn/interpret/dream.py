"""DeepDream (Mordvintsev et al., 2015): amplify what chosen layers see, octave by octave.

Gradients are taken tile by tile (``tile_size``), so any image size fits in bounded memory.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerascnn.errors import UserError
from kerascnn.images import load_image, resize
from kerascnn.interpret import ascent
from kerascnn.interpret.dream_model import (
    dream_layers,
    dreamable_layers,
    load_dream_model,
    model_first,
)

__all__ = ["deep_dream", "dream_layers", "dream_objective", "dreamable_layers", "load_dream_model"]

Channels = Sequence[int] | Mapping[str, Sequence[int]] | None
_GUIDE_POSITIONS = 2048  # guide feature vectors kept per layer


def _channel_lists(layers: Sequence[str], channels: Channels, extractor: Any) -> list[Any]:
    if channels is None:
        return [None] * len(layers)
    per_layer = channels if isinstance(channels, Mapping) else dict.fromkeys(layers, channels)
    if unknown := set(per_layer) - set(layers):
        raise UserError(
            f"channels given for {sorted(unknown)[0]!r}, which is not a dream layer; "
            f"give channels for {', '.join(layers)} only"
        )
    lists = []
    for name, out in zip(layers, extractor.outputs, strict=True):
        chosen = per_layer.get(name)
        if chosen is not None:
            chosen = [int(c) for c in chosen]
            depth = out.shape[-1]
            if not chosen or any(not 0 <= c < depth for c in chosen):
                raise UserError(
                    f"channels for {name} must be in 0..{depth - 1}, got {chosen}; "
                    "drop the others, or give None for all"
                )
        lists.append(chosen)
    return lists


def _objective(weights: Sequence[float], channels: Sequence[Any], guided: bool) -> Callable:
    """Weighted mean of squared activations, or (guided) of the best match with the guide's."""
    ops = keras.ops

    def objective(features: list[Any], *guides: Any) -> Any:
        total = 0.0
        for i, (act, weight, chosen) in enumerate(zip(features, weights, channels, strict=True)):
            if chosen is not None:
                act = ops.take(act, ops.convert_to_tensor(chosen, "int32"), axis=-1)
            if guided:  # the best dot product with the guide's features at each position
                flat = ops.reshape(act, (-1, act.shape[-1]))
                score = ops.max(ops.matmul(flat, ops.transpose(guides[i])), axis=1)
            total = total + weight * ops.mean(score if guided else ops.square(act))
        return total

    return objective


def _pixels(image: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(image, str | os.PathLike):
        loaded = load_image(Path(image), min_side=2)
        return loaded.pixels, loaded.alpha
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or min(arr.shape[:2]) < 2:
        raise UserError(
            f"image must be an HxW, HxWx3 or HxWx4 array of at least 2x2, got shape {arr.shape}; "
            "give RGB pixels or an image file"
        )
    alpha = arr[..., 3].copy() if arr.shape[-1] == 4 else None
    return np.asarray(arr[..., :3], np.float32), alpha  # read only: no copy needed


def _octave_sizes(size: tuple[int, int], octaves: int, scale: float, min_side: int) -> list:
    sizes = []
    for i in reversed(range(octaves)):
        h, w = (max(1, round(d / scale**i)) for d in size)
        if min(h, w) >= min_side and (h, w) not in sizes:
            sizes.append((h, w))
    if not sizes:
        raise UserError(
            f"the image is {size[1]}x{size[0]} pixels; this model needs at least "
            f"{min_side} pixels on each side"
        )
    return sizes


def _guide_features(extractor: Any, guide: Any, preprocessing: str, channels: list) -> list:
    pixels, _ = _pixels(guide)
    side = max(pixels.shape[:2])
    if side > 512:
        pixels = resize(pixels, tuple(round(d * 512 / side) for d in pixels.shape[:2]))
    x = ascent.preprocess(preprocessing, keras.ops.convert_to_tensor(pixels[None]))
    outputs = extractor([x], training=False)
    feats = []
    for out, chosen in zip(keras.tree.flatten(outputs), channels, strict=True):
        flat = keras.ops.convert_to_numpy(out).reshape(-1, out.shape[-1])
        if chosen is not None:
            flat = flat[:, chosen]
        keep = np.linspace(0, len(flat) - 1, min(len(flat), _GUIDE_POSITIONS)).astype(int)
        feats.append(keras.ops.convert_to_tensor(flat[keep]))
    return feats


def _check(octaves: int, octave_scale: float, steps: int, step_size: float, tile_size, jitter):
    if not isinstance(octaves, int) or octaves < 1:
        raise UserError(f"octaves must be a positive integer, got {octaves!r}; e.g. 4")
    if octave_scale < 1.0:
        raise UserError(f"octave_scale must be at least 1, got {octave_scale!r}; e.g. 1.4")
    if not isinstance(steps, int) or steps < 0:
        raise UserError(f"steps must be a non-negative integer, got {steps!r}; e.g. 20")
    if step_size <= 0:
        raise UserError(f"step_size must be positive, got {step_size!r}; e.g. 0.01")
    if tile_size is not None and tile_size < 0:
        raise UserError(f"tile_size must be positive, got {tile_size!r}; e.g. 512 (0: no tiles)")
    if jitter < 0:
        raise UserError(f"jitter must be 0 or more, got {jitter!r}; e.g. 32, or 0 for none")


# model -> {settings: (extractor, channels, gradient fn)}, dropped with the model
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _setup(model, layers, channels, guide, preprocessing, precision):
    loaded = load_dream_model(model, preprocessing)
    net, preprocessing = loaded.model, loaded.preprocessing
    layers = dict(layers) if layers else dream_layers(net, loaded.architecture_card)
    guided = guide is not None
    key = (repr(layers), repr(channels), guided, preprocessing, ascent.compute_precision(precision))
    compiled = _COMPILED.setdefault(net, {})
    if key not in compiled:
        extractor = ascent.feature_extractor(net, list(layers))
        chosen = _channel_lists(list(layers), channels, extractor)
        objective = _objective([float(w) for w in layers.values()], chosen, guided)
        fn = ascent.gradient_fn(extractor, objective, preprocessing, precision)
        compiled[key] = extractor, chosen, fn
    extractor, chosen, fn = compiled[key]
    guides = _guide_features(extractor, guide, preprocessing, chosen) if guided else []
    align = ascent.min_input_side(extractor)
    card_min = loaded.architecture_card.min_input_size if loaded.architecture_card else 1
    return fn, guides, align, max(align, card_min)


def dream_objective(
    model: Any,
    image: Any = None,
    layers: Mapping[str, float] | None = None,
    *,
    channels: Channels = None,
    guide: Any = None,
    tile_size: int | None = 512,
    preprocessing: str | None = None,
    precision: str = "auto",
) -> float:
    """The objective ``deep_dream`` maximises, evaluated on ``image`` at its own size.

    Args:
        model, image, layers, channels, guide, tile_size, preprocessing, precision: as deep_dream.
    """
    model, image = model_first(model, image, "dream_objective")
    fn, guides, align, min_side = _setup(model, layers, channels, guide, preprocessing, precision)
    pixels, _ = _pixels(image)
    return ascent.tiled_gradient(
        fn, pixels[None], tile_size, *guides, align=align, minimum=min_side
    )[0]


def deep_dream(
    model: Any,
    image: Any = None,
    layers: Mapping[str, float] | None = None,
    *,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps: int = 20,
    step_size: float = 0.01,
    tile_size: int | None = 512,
    jitter: int = 32,
    max_loss: float | None = None,
    channels: Channels = None,
    guide: Any = None,
    seed: int | None = None,
    progress: bool | Callable[[int, int, int, float], None] = True,
    preprocessing: str | None = None,
    precision: str = "auto",
) -> np.ndarray:
    """Dream on ``image`` with ``model``: an array of the image's height and width (RGB, plus its
    alpha; uint8 if it was).

    Args:
        model: anything :func:`kerascnn.load` takes (``"vgg16:imagenet"``; ``"gesture_cnn"``:
            its default published weights) or any Keras image model.
        image: a path, or an HxW/HxWx3/HxWx4 array of pixels in [0, 255].
        layers: name -> weight (default: the zoo card's ``dream_layers``).
        octaves, octave_scale: how many scales, and the ratio between two.
        steps, step_size, tile_size, jitter, max_loss: each octave's ascent, as ``ascent.ascend``.
        channels: channel indices to amplify (for every layer, or a name -> indices dict).
        guide, seed: an image whose features to dream toward; the jitter's random seed.
        progress: a rich progress bar, or a callable ``(octave, octaves, step, loss)``.
        preprocessing: overrides the model's (``"caffe"``, ``"torch"``, ``"tf"``, ``"none"``).
        precision: ``"auto"`` (bfloat16 where much faster), ``"float32"`` or ``"bfloat16"``.
    """
    model, image = model_first(model, image, "deep_dream")
    _check(octaves, octave_scale, steps, step_size, tile_size, jitter)
    pixels, alpha = _pixels(image)
    fn, guides, align, min_side = _setup(model, layers, channels, guide, preprocessing, precision)
    if isinstance(model, str):
        gc.collect()  # the model we built: only the layers up to the dream layers stay in memory
    sizes = _octave_sizes(pixels.shape[:2], octaves, octave_scale, min_side)
    rng = np.random.default_rng(seed)
    bar, report = _progress(progress, steps * len(sizes))
    with bar:
        detail = None
        for octave, size in enumerate(sizes):
            base = pixels if size == pixels.shape[:2] else resize(pixels, size)
            if detail is None:
                img = base[None].copy()
            else:  # the dream so far, upscaled, on the detail this octave's base brings back
                img = resize(detail, size)[None]
                img += base
                del detail
            ascent.ascend(
                fn,
                img,
                *guides,
                steps=steps,
                step_size=step_size,
                tile_size=tile_size,
                jitter=jitter,
                max_loss=max_loss,
                rng=rng,
                align=align,
                minimum=min_side,
                callback=lambda step, loss, o=octave, s=size: report(o, len(sizes), s, step, loss),
            )
            if octave + 1 < len(sizes):
                detail = img[0] - base
            del base
        out = np.clip(img[0], 0, 255, out=img[0])
    if alpha is not None:
        out = np.concatenate([out, alpha[..., None].astype(np.float32)], axis=-1)
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        return np.rint(out).astype(np.uint8)
    return out.astype(np.float32, copy=False)


def _progress(progress: Any, total: int) -> tuple[Any, Callable]:
    """A rich bar (a context manager) and its update function, or the caller's callable."""
    if callable(progress):
        return nullcontext(), lambda octave, n, size, step, loss: progress(octave, n, step, loss)
    if not progress:
        return nullcontext(), lambda *args: None
    import rich.progress as rp
    from rich.console import Console

    bar = rp.Progress(  # the spinner and the clock move even while one big step runs
        rp.SpinnerColumn(),
        rp.TextColumn("{task.description}"),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        rp.TextColumn("loss {task.fields[loss]:.4g}"),
        rp.TimeElapsedColumn(),
        rp.TextColumn("eta"),
        rp.TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task("dreaming", total=total, loss=float("nan"))

    def update(octave: int, n: int, size: tuple[int, int], step: int, loss: float) -> None:
        desc = f"octave {octave + 1}/{n} {size[1]}x{size[0]} step {step + 1}"
        bar.update(task, advance=1, description=desc, loss=loss)

    return bar, update
