"""``history.png``: loss and accuracy curves of a training run, drawn with Pillow."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kerascnn.atomic import atomic_open

__all__ = ["plot_history", "read_history"]

_COLOURS = {"train": (31, 119, 180), "val": (255, 127, 14)}
_PANEL = (480, 320)
_MARGIN = (56, 24, 16, 40)  # left, top, right, bottom


def read_history(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """The columns of a Keras ``CSVLogger`` file as float lists (``epoch`` included)."""
    columns: dict[str, list[float]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                try:
                    columns.setdefault(key, []).append(float(value))
                except (TypeError, ValueError):
                    columns.setdefault(key, []).append(float("nan"))
    return columns


def _panel(history: dict[str, list[float]], metric: str) -> Image.Image:
    img = Image.new("RGB", _PANEL, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, top, right, bottom = _MARGIN
    x0, y0, x1, y1 = left, top, _PANEL[0] - right, _PANEL[1] - bottom
    series = {
        name: history[key]
        for name, key in (("train", metric), ("val", f"val_{metric}"))
        if key in history
    }
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    values = [v for s in series.values() for v in s if math.isfinite(v)]
    draw.rectangle((x0, y0, x1, y1), outline="black")
    draw.text((x0, 4), metric, fill="black", font=font)
    if not values or not epochs:
        return img
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12 * max(1.0, abs(lo)):
        pad = max(0.5, abs(lo) * 0.01)
        lo, hi = lo - pad, hi + pad
    e_lo, e_hi = epochs[0], max(epochs[-1], epochs[0] + 1)

    def xy(epoch: int, value: float) -> tuple[float, float]:
        x = x0 + (epoch - e_lo) / (e_hi - e_lo) * (x1 - x0)
        return x, y1 - (value - lo) / (hi - lo) * (y1 - y0)

    for frac in (0.0, 0.5, 1.0):
        value = lo + frac * (hi - lo)
        y = xy(e_lo, value)[1]
        draw.line((x0 - 4, y, x0, y), fill="black")
        draw.text((2, y - 6), f"{value:.3g}", fill="black", font=font)
    for epoch in (e_lo, e_hi):
        x = xy(epoch, lo)[0]
        draw.text((x - 4, y1 + 4), str(epoch), fill="black", font=font)
    draw.text(((x0 + x1) // 2 - 12, y1 + 20), "epoch", fill="black", font=font)
    for i, (name, ys) in enumerate(series.items()):
        points = [xy(e, v) for e, v in zip(epochs, ys, strict=False) if math.isfinite(v)]
        colour = _COLOURS[name]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
        draw.text((x1 - 60, y0 + 6 + 14 * i), name, fill=colour, font=font)
    return img


def plot_history(
    history: dict[str, list[float]] | str | os.PathLike[str], path: str | os.PathLike[str]
) -> Path:
    """Draw loss (and accuracy, if recorded) per epoch side by side; write ``path`` atomically."""
    if not isinstance(history, dict):
        history = read_history(history)
    metrics = ["loss"] + [m for m in ("accuracy", "sparse_categorical_accuracy") if m in history]
    panels = [_panel(history, m) for m in metrics[:2]]
    canvas = Image.new("RGB", (_PANEL[0] * len(panels), _PANEL[1]), "white")
    for i, panel in enumerate(panels):
        canvas.paste(panel, (i * _PANEL[0], 0))
    path = Path(path)
    with atomic_open(path, "wb") as f:
        canvas.save(f, format="PNG")
    return path
