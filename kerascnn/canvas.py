"""How the package lays out the pictures it composes (filters, feature maps, Grad-CAM,
activation maximisation, ``history.png``): at least :data:`MIN_SIDE` pixels on the short
side, and every caption, label and colour key in a margin, never over the data.

Tiles are enlarged by whole factors (nearest neighbour: each weight or map value stays one
visible square). The boxes of the tiles and of the text go in ``picture.info`` and, through
:func:`save_picture`, into a PNG's text chunks (``kerascnn:tiles``, ``kerascnn:text``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from kerascnn.atomic import atomic_open
from kerascnn.errors import UserError

__all__ = [
    "MIN_SIDE",
    "colour_key",
    "compose",
    "enlarge",
    "font",
    "jet",
    "save_picture",
    "scale_for",
    "wrap",
]

MIN_SIDE = 400  # the short side of every composed picture, in pixels
MAX_SIDE = 4096  # whole-factor enlargement stops before the long side passes this
FONT_SIZE = 16
PAD = 2  # pixels between tiles and around the grid
MARGIN = 8  # pixels around text
BACKGROUND = (48, 48, 48)
FOREGROUND = (255, 255, 255)

Box = tuple[int, int, int, int]
#: A font as Pillow loads it: FreeType's, or the bitmap one when Pillow lacks FreeType.
Face: TypeAlias = "ImageFont.FreeTypeFont | ImageFont.ImageFont"


def font(size: int = FONT_SIZE) -> Face:
    """Pillow's bundled font at ``size`` pixels (its small bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1, or built without FreeType
        return ImageFont.load_default()


def line_step(face: Face) -> int:
    """The distance between two lines of text in ``face``."""
    return int(face.getbbox("Ag")[3]) + 4  # whole pixels (a FreeType box is int here anyway)


def wrap(text: str, face: Face, width: int) -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` pixels wide (a longer word
    gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def scale_for(height: int, width: int) -> float:
    """The factor that brings a ``height x width`` grid to :data:`MIN_SIDE` on its short side:
    a whole number (at most what keeps the long side within :data:`MAX_SIDE`), or below 1
    when the long side is already over :data:`MAX_SIDE`."""
    short, long = min(height, width), max(height, width)
    if long > MAX_SIDE:
        return MAX_SIDE / long
    wanted = math.ceil(MIN_SIDE / max(short, 1))
    return float(max(1, min(wanted, MAX_SIDE // max(long, 1))))


def enlarge(tile: np.ndarray, factor: float) -> np.ndarray:
    """``tile`` (H x W or H x W x C) scaled by ``factor``: nearest neighbour for a whole
    factor, bilinear below 1."""
    if factor >= 1:
        whole = int(factor)
        return np.repeat(np.repeat(tile, whole, axis=0), whole, axis=1)
    from kerascnn.images import resize

    size = (max(1, round(tile.shape[0] * factor)), max(1, round(tile.shape[1] * factor)))
    return resize(tile if tile.ndim == 3 else tile[..., None], size).reshape(*size, *tile.shape[2:])


def _rgb(tile: np.ndarray) -> Image.Image:
    tile = np.repeat(tile[..., None], 3, axis=-1) if tile.ndim == 2 else tile
    return Image.fromarray(np.clip(np.rint(tile), 0, 255).astype(np.uint8), "RGB")


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], lines: list[str], face: Face) -> Box:
    """Draw lines from ``xy`` down; return the box they cover."""
    x, y = xy
    step = line_step(face)
    for i, line in enumerate(lines):
        draw.text((x, y + i * step), line, fill=FOREGROUND, font=face)
    right = max((draw.textbbox((x, y), line, font=face)[2] for line in lines), default=x)
    return (x, y, int(right), y + len(lines) * step)


def compose(
    tiles: Sequence[np.ndarray],
    columns: int,
    caption: str,
    *,
    labels: Sequence[str] | None = None,
    footer: Image.Image | None = None,
) -> Image.Image:
    """Tiles of one size in a grid under a wrapped caption, on a canvas of at least
    :data:`MIN_SIDE` x :data:`MIN_SIDE`.

    Args:
        tiles, columns: ``H x W`` (grey) or ``H x W x 3`` pixels in [0, 255]; per row.
        caption: the text above the grid.
        labels: one short text per tile, in a band above it.
        footer: a picture (a colour key) centred under the grid.

    Returns:
        The RGB picture; ``info["tiles"]`` and ``info["text"]`` hold the boxes
        (left, top, right, bottom) of the tiles and of every text.
    """
    face = font()
    step = line_step(face)
    th, tw = tiles[0].shape[:2]
    band = step if labels else 0
    rows = math.ceil(len(tiles) / columns)
    grid_w = columns * (tw + PAD) + PAD
    grid_h = rows * (band + th + PAD) + PAD
    width = max(grid_w, MIN_SIDE)
    lines = wrap(caption, face, width - 2 * MARGIN)
    top = 2 * MARGIN + len(lines) * step
    below = footer.height + 2 * MARGIN if footer is not None else 0
    height = max(top + grid_h + below, MIN_SIDE)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    texts = [_text(draw, (MARGIN, MARGIN), lines, face)]
    left0 = (width - grid_w) // 2 + PAD
    boxes: list[Box] = []
    for i, tile in enumerate(tiles):
        left = left0 + (i % columns) * (tw + PAD)
        y = top + PAD + (i // columns) * (band + th + PAD) + band
        canvas.paste(_rgb(tile), (left, y))
        boxes.append((left, y, left + tw, y + th))
        if labels:
            texts.append(_text(draw, (left, y - band), [str(labels[i])], face))
    if footer is not None:
        x, y = (width - footer.width) // 2, top + grid_h + MARGIN
        canvas.paste(footer, (x, y))
        texts.append((x, y, x + footer.width, y + footer.height))
    canvas.info.update(tiles=boxes, text=texts, caption=caption)
    return canvas


def jet(t: np.ndarray) -> np.ndarray:
    """Blue (0) -> green -> red (1), the usual heatmap colours, as [0, 255] RGB."""
    channels = [np.clip(1.5 - np.abs(4 * t - c), 0, 1) for c in (3, 2, 1)]
    return np.stack(channels, axis=-1) * 255.0


def colour_key(colours: Callable[[np.ndarray], np.ndarray], low: str, high: str) -> Image.Image:
    """A horizontal colour bar from 0 to 1 between the texts ``low`` and ``high``."""
    face = font()
    step = line_step(face)
    bar = np.linspace(0.0, 1.0, 256)[None, :].repeat(step - 4, axis=0)
    strip = _rgb(colours(bar))
    low_w, high_w = int(face.getlength(low)), int(face.getlength(high))
    key = Image.new("RGB", (low_w + strip.width + high_w + 4 * MARGIN, step), BACKGROUND)
    key.paste(strip, (low_w + 2 * MARGIN, 2))
    draw = ImageDraw.Draw(key)
    draw.text((0, 0), low, fill=FOREGROUND, font=face)
    draw.text((key.width - high_w, 0), high, fill=FOREGROUND, font=face)
    return key


def save_picture(picture: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write ``picture`` atomically (format from the suffix); a PNG keeps the caption and the
    boxes of ``picture.info`` as text chunks ``kerascnn:<key>``."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown image format {path.suffix!r}; use .png or .jpg")
    options: dict[str, Any] = {}
    if fmt == "PNG":
        chunks = PngImagePlugin.PngInfo()
        for key, value in picture.info.items():
            if isinstance(value, str | list | dict):
                text = value if isinstance(value, str) else json.dumps(value)
                chunks.add_text(f"kerascnn:{key}", text)
        options["pnginfo"] = chunks
    with atomic_open(path, "wb") as f:
        picture.convert("RGB").save(f, format=fmt, **options)
    return path
