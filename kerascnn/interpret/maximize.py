"""Activation maximisation: DeepDream's gradient ascent, from grey noise, on one image per
filter, each climbing its filter's mean activation (the input the filter responds to most)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerascnn.errors import UserError
from kerascnn.images import resize
from kerascnn.interpret import ascent
from kerascnn.interpret.dream_model import load_dream_model

__all__ = ["filter_grid", "maximize_filters"]


def _objective(features: list[Any], onehot: Any) -> Any:
    """Sum over the batch of each image's own filter's mean activation."""
    means = keras.ops.mean(features[0], axis=(1, 2))  # (batch, channels)
    return keras.ops.sum(means * onehot)


def maximize_filters(
    model: str | Any,
    layer: str,
    filters: Sequence[int] = range(16),
    *,
    size: int = 128,
    octaves: int = 3,
    octave_scale: float = 1.4,
    seed: int | None = None,
    steps: int = 20,
    step_size: float = 0.05,
    jitter: int = 4,
    preprocessing: str | None = None,
    precision: str = "auto",
) -> np.ndarray:
    """Images (``len(filters) x size x size x 3``, pixels in [0, 255]) exciting each filter.

    Args:
        model, layer, filters: a zoo spec or a ``keras.Model``; the layer; its filters.
        size, seed: the images' side (the last octave's); the noise and jitter's random seed.
        octaves, octave_scale, steps, step_size, jitter, preprocessing, precision: deep_dream's.
    """
    loaded = load_dream_model(model, preprocessing)
    net, preprocessing, card = loaded.model, loaded.preprocessing, loaded.architecture_card
    extractor = ascent.feature_extractor(net, [layer])
    depth = extractor.outputs[0].shape[-1]
    filters = [int(f) for f in filters]
    if not filters or any(not 0 <= f < depth for f in filters):
        raise UserError(f"{layer} has filters 0..{depth - 1}, got {filters}; pick from that range")
    min_side = max(ascent.min_input_side(extractor), card.min_input_size if card else 1)
    if size < min_side:
        raise UserError(
            f"size must be at least {min_side} for {layer}, got {size}; e.g. size={min_side}"
        )
    fn = ascent.gradient_fn(extractor, _objective, preprocessing, precision)
    onehot = keras.ops.convert_to_tensor(np.eye(depth, dtype=np.float32)[filters])
    rng = np.random.default_rng(seed)
    sides = [round(size / octave_scale**i) for i in reversed(range(octaves))]
    sides = [s for s in sides if s >= min_side] or [size]
    batch = (128 + rng.normal(0, 8, (len(filters), sides[0], sides[0], 3))).astype(np.float32)
    for side in sides:
        if batch.shape[1] != side:
            batch = np.stack([resize(img, (side, side)) for img in batch])
        ascent.ascend(fn, batch, onehot, steps=steps, step_size=step_size, jitter=jitter, rng=rng)
    return batch


def filter_grid(
    images: np.ndarray, labels: Sequence[str] | None = None, *, columns: int | None = None
) -> np.ndarray:
    """Tile images (N x H x W x 3) into one RGB grid with 2-pixel gaps, each contrast-
    stretched (mean 128, 3 standard deviations to the edges), labels in the corner."""
    from PIL import Image, ImageDraw

    n, h, w = images.shape[:3]
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    gap = 2
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for i, img in enumerate(images):
        spread = max(float(img.std()), 1e-6)
        tile = np.clip(128 + (img - img.mean()) * (42.5 / spread), 0, 255).astype(np.uint8)
        r, c = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    if labels:
        canvas = Image.fromarray(grid)
        draw = ImageDraw.Draw(canvas)
        for i, label in enumerate(labels):
            r, c = divmod(i, columns)
            x, y = c * (w + gap) + 2, r * (h + gap) + 1
            draw.text((x + 1, y + 1), str(label), fill=(0, 0, 0))
            draw.text((x, y), str(label), fill=(255, 255, 255))
        grid = np.asarray(canvas)
    return grid
