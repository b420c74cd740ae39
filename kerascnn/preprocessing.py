"""The pixel preprocessing modes, defined once: name, description, NumPy function, Keras layer.

Each is ``x[..., order] * scale + offset`` per channel (``keras.applications``' modes); cards,
the CLI's choices and ``--help`` read :data:`PREPROCESSING`. Cheap to import (no Keras).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kerascnn.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

    from kerascnn.layers.preprocessing import PixelAffine

__all__ = ["PREPROCESSING", "Preprocessing", "get_preprocessing", "preprocess"]

_MEAN = (0.485, 0.456, 0.406)  # ImageNet RGB mean and std, on [0, 1] pixels
_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR order, on [0, 255] pixels


@dataclass(frozen=True)
class Preprocessing:
    """One mode: ``input = pixels[..., ::-1 if bgr] * scale + offset`` (per channel)."""

    name: str
    description: str
    bgr: bool = False
    scale: tuple[float, ...] = (1.0, 1.0, 1.0)  # per channel (R, G, B)
    offset: tuple[float, ...] = (0.0, 0.0, 0.0)

    def __call__(self, pixels: ArrayLike) -> np.ndarray:
        """RGB pixels in [0, 255] (NumPy, ``...x3``) -> float32 model input."""
        import numpy as np

        x = np.asarray(pixels, np.float32)
        if self.name == "none":
            return x
        if self.bgr:
            x = x[..., ::-1]
        scale, offset = np.asarray(self.scale, np.float32), np.asarray(self.offset, np.float32)
        return (x * scale + offset).astype(np.float32)

    def layer(self, name: str | None = None) -> PixelAffine:
        """The same mapping as a Keras layer (saved with the model, exported with it)."""
        from kerascnn.layers.preprocessing import PixelAffine

        return PixelAffine(
            bgr=self.bgr, scale=self.scale, offset=self.offset, name=name or f"{self.name}_pixels"
        )


PREPROCESSING: dict[str, Preprocessing] = {
    p.name: p
    for p in (
        Preprocessing("none", "raw RGB pixels in [0, 255] (the model rescales them itself)"),
        Preprocessing(
            "caffe",
            "RGB to BGR, ImageNet mean subtracted (VGG16's Keras weights)",
            bgr=True,
            offset=tuple(-m for m in _CAFFE_MEAN),
        ),
        Preprocessing(
            "torch",
            "scaled to [0, 1], then ImageNet mean/std per channel (torchvision's weights)",
            scale=tuple(1 / (255 * s) for s in _STD),
            offset=tuple(-m / s for m, s in zip(_MEAN, _STD, strict=True)),
        ),
        Preprocessing(
            "tf",
            "scaled to [-1, 1] (Inception-style models)",
            scale=(1 / 127.5,) * 3,
            offset=(-1.0,) * 3,
        ),
    )
}


def get_preprocessing(name: str) -> Preprocessing:
    """The mode called ``name``; a one-line ``UserError`` naming the known ones."""
    if name not in PREPROCESSING:
        raise UserError(f"unknown preprocessing {name!r}; use one of: {', '.join(PREPROCESSING)}")
    return PREPROCESSING[name]


def preprocess(pixels: ArrayLike, mode: str) -> np.ndarray:
    """RGB pixels in [0, 255] -> model input under preprocessing ``mode``."""
    return get_preprocessing(mode)(pixels)
