"""Test-time augmentation (TTA): a model's probabilities averaged over views of each image.

- ``none``: the image alone.
- ``flip``: the mean of the probabilities of the image and of its horizontal mirror.
- ``flip+shift``: the mean over six views: the image, its mirror, and both of them translated
  by 1 pixel down-right and up-left (reflect-padded: the pixels that enter are the mirror of
  those beside the border, as the zoo's ``pad_mode="reflect"`` training translations), as in
  airbench's TTA (Jordan 2024, arXiv:2404.00498).

Probabilities are averaged, never logits (a model that outputs logits gets a softmax per view
first), so the result is again a distribution. The views are exact pixel gathers, which
commute with per-pixel preprocessing: taking them before or after it gives the same input.

Imports kerascnn's errors only, and NumPy when called: weight cards, the CLI and the runtimes
of exported artifacts use it without Keras; :mod:`kerascnn.layers.tta` computes the same views
inside a Keras model (``kerascnn.export(..., tta=)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerascnn.errors import UserError

__all__ = ["MODES", "SHIFT", "average", "check_mode", "describe", "resolve", "view_indices"]

MODES = ("none", "flip", "flip+shift")
SHIFT = 1  # pixels of the flip+shift translations, as airbench (2 px scored 0.16 lower)
# (mirrored, rows moved, columns moved) of each view: content moves down-right for +SHIFT
_VIEWS = {
    "none": ((False, 0, 0),),
    "flip": ((False, 0, 0), (True, 0, 0)),
    "flip+shift": (
        (False, 0, 0),
        (True, 0, 0),
        (False, SHIFT, SHIFT),
        (True, SHIFT, SHIFT),
        (False, -SHIFT, -SHIFT),
        (True, -SHIFT, -SHIFT),
    ),
}
_DESCRIPTIONS = {
    "none": "no test-time augmentation",
    "flip": "the mean of the probabilities of the image and its horizontal mirror",
    "flip+shift": f"the mean of the probabilities of 6 views: the image, its mirror, and both "
    f"translated by {SHIFT} px down-right and up-left (reflect-padded)",
}


def check_mode(tta: Any) -> str:
    """``tta`` if it names a mode of :data:`MODES`, else a one-line ``UserError``."""
    if tta not in MODES:
        raise UserError(f"unknown test-time augmentation {tta!r}; use one of {', '.join(MODES)}")
    return str(tta)


def resolve(tta: str | None, default: str | None) -> str:
    """The mode to use: ``tta`` when given (``"none"`` turns a default off), else ``default``
    (a weight card's ``tta``), else ``"none"``."""
    return check_mode(tta if tta is not None else default or "none")


def describe(mode: str) -> str:
    """What ``mode`` averages, in words."""
    return _DESCRIPTIONS[check_mode(mode)]


def _moved(size: int, shift: int) -> Any:
    """Source index of each output index when content moves by ``shift``, reflected at the
    borders (NumPy's ``"reflect"`` padding: the edge pixel itself is not repeated)."""
    import numpy as np

    index = np.arange(size) - shift
    index = np.abs(index)  # reflect below 0
    return np.where(index > size - 1, 2 * (size - 1) - index, index)


def view_indices(mode: str, size: tuple[int, int]) -> list[tuple[Any, Any]]:
    """``(rows, columns)`` of each view of an image of ``size`` (height, width): view ``v`` of
    ``x`` is ``x[rows][:, columns]``; ``None`` for an axis the view leaves as it is.

    Args:
        mode: one of :data:`MODES`.
        size: (height, width) of the images.
    """
    h, w = size
    if mode == "flip+shift" and min(h, w) <= SHIFT:
        raise UserError(
            f"{h}x{w} images are too small for {SHIFT}-pixel translations; use tta='flip'",
            arguments={"tta='flip'": "tta"},
        )
    found = []
    for mirrored, dy, dx in _VIEWS[check_mode(mode)]:
        rows = _moved(h, dy) if dy else None
        cols = _moved(w, dx) if dx else None
        if mirrored:
            cols = (cols if cols is not None else _moved(w, 0))[::-1].copy()
        found.append((rows, cols))
    return found


def average(run: Callable[[Any], Any], images: Any, mode: str) -> Any:
    """The mean of ``run``'s probabilities over the views of ``images`` (``mode``).

    Args:
        run: a batch of images (``N x H x W x C``, NHWC) -> ``N x classes`` probabilities.
        images: the batch, channels last.
        mode: one of :data:`MODES`; ``"none"`` calls ``run(images)`` once, as it is.
    """
    import numpy as np

    views = view_indices(mode, tuple(np.shape(images)[1:3]))
    if len(views) == 1:
        return run(images)
    images = np.asarray(images)
    outputs = []
    for rows, cols in views:
        x = images if rows is None else images[:, rows]
        x = x if cols is None else x[:, :, cols]
        outputs.append(np.asarray(run(np.ascontiguousarray(x)), np.float64))
    return np.mean(outputs, axis=0)
