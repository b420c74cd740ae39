"""``history.png``: loss and accuracy curves of a training run, drawn with Pillow.

One panel per metric, side by side, each at least 400 pixels high; the legend sits above the
axes (beside the title), never over the curves. The boxes of the axes and of the legends go in
the PNG's text chunks ``kerascnn:axes`` and ``kerascnn:legend`` (JSON lists of
``[left, top, right, bottom]``).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from PIL import Image, ImageDraw

from kerascnn.canvas import MIN_SIDE, Face, font, save_picture

__all__ = ["plot_history", "read_history"]

_COLOURS = {"train": (31, 119, 180), "val": (255, 127, 14)}
_GRID = (225, 225, 225)
_PANEL = (600, MIN_SIDE + 20)
_MARGIN = (76, 48, 24, 60)  # left, top (title and legend), right, bottom (ticks, "epoch")

Box = tuple[int, int, int, int]


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


def _legend(draw: ImageDraw.ImageDraw, names: list[str], right: int, face: Face) -> Box:
    """Line samples and names, right-aligned to ``right`` in the title row; their box."""
    widths = [28 + int(face.getlength(name)) + 16 for name in names]
    x, top, bottom = right - sum(widths) + 16, 10, 34
    left = x
    for name, width in zip(names, widths, strict=True):
        draw.line((x, 22, x + 22, 22), fill=_COLOURS[name], width=3)
        draw.text((x + 28, 13), name, fill="black", font=face)
        x += width
    return (left, top, right, bottom)


def _ticks(lo: float, hi: float) -> list[float]:
    """Round values (steps of 1, 2 or 5 times a power of ten) from ``lo`` to ``hi``."""
    raw = (hi - lo) / 6
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step)
    return [k * step for k in range(first, math.floor(hi / step) + 1)]


def _panel(history: dict[str, list[float]], metric: str) -> tuple[Image.Image, Box, Box | None]:
    """One metric's panel; the boxes of its axes and its legend (in the panel)."""
    img = Image.new("RGB", _PANEL, "white")
    draw = ImageDraw.Draw(img)
    face = font(15)
    left, top, right, bottom = _MARGIN
    x0, y0, x1, y1 = left, top, _PANEL[0] - right, _PANEL[1] - bottom
    series = {
        name: history[key]
        for name, key in (("train", metric), ("val", f"val_{metric}"))
        if key in history
    }
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    values = [v for s in series.values() for v in s if math.isfinite(v)]
    draw.text((x0, 13), metric, fill="black", font=font(17))
    legend = _legend(draw, list(series), x1, face) if series else None
    if not values or not epochs:
        draw.rectangle((x0, y0, x1, y1), outline="black")
        return img, (x0, y0, x1, y1), legend
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12 * max(1.0, abs(lo)):
        pad = max(0.5, abs(lo) * 0.01)
        lo, hi = lo - pad, hi + pad
    lo, hi = lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo)  # the curves clear the frame
    e_lo, e_hi = epochs[0], max(epochs[-1], epochs[0] + 1)

    def xy(epoch: float, value: float) -> tuple[float, float]:
        x = x0 + 8 + (epoch - e_lo) / (e_hi - e_lo) * (x1 - x0 - 16)  # markers clear the frame
        return x, y1 - (value - lo) / (hi - lo) * (y1 - y0)

    for value in _ticks(lo, hi):
        y = xy(e_lo, value)[1]
        draw.line((x0 + 1, y, x1 - 1, y), fill=_GRID)
        draw.line((x0 - 5, y, x0, y), fill="black")
        text = f"{value:.4g}"
        draw.text((x0 - 8 - face.getlength(text), y - 9), text, fill="black", font=face)
    step = max(1, math.ceil((e_hi - e_lo) / 8))
    for epoch in range(e_lo, e_hi + 1, step):
        x = xy(epoch, lo)[0]
        draw.line((x, y1, x, y1 + 5), fill="black")
        draw.text((x - face.getlength(str(epoch)) / 2, y1 + 8), str(epoch), fill="black", font=face)
    draw.text(((x0 + x1) / 2 - 20, y1 + 32), "epoch", fill="black", font=face)
    draw.rectangle((x0, y0, x1, y1), outline="black")
    for name, ys in series.items():
        points = [xy(e, v) for e, v in zip(epochs, ys, strict=False) if math.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=_COLOURS[name], width=2)
        for px, py in points:
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=_COLOURS[name])
    return img, (x0, y0, x1, y1), legend


def plot_history(
    history: dict[str, list[float]] | str | os.PathLike[str], path: str | os.PathLike[str]
) -> Path:
    """Draw loss (and accuracy, if recorded) per epoch side by side; write ``path`` atomically."""
    if not isinstance(history, dict):
        history = read_history(history)
    metrics = ["loss"] + [m for m in ("accuracy", "sparse_categorical_accuracy") if m in history]
    canvas = Image.new("RGB", (_PANEL[0] * min(2, len(metrics)), _PANEL[1]), "white")
    axes: list[Box] = []
    legends: list[Box] = []
    for i, metric in enumerate(metrics[:2]):
        panel, frame, legend = _panel(history, metric)
        dx = i * _PANEL[0]
        canvas.paste(panel, (dx, 0))
        axes.append((frame[0] + dx, frame[1], frame[2] + dx, frame[3]))
        if legend:
            legends.append((legend[0] + dx, legend[1], legend[2] + dx, legend[3]))
    canvas.info.update(axes=axes, legend=legends)
    return save_picture(canvas, path)
