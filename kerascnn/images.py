"""Reading and writing images: any common format, EXIF rotation, grey, alpha and 16-bit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kerascnn.atomic import atomic_open
from kerascnn.errors import UserError

__all__ = [
    "LoadedImage",
    "center_crop",
    "check_image_target",
    "load_image",
    "prepare_images",
    "resize",
    "save_image",
]

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


@dataclass
class LoadedImage:
    """An image as float32 RGB pixels in [0, 255] (``H x W x 3``), plus its alpha, if any."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    path: Path

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]


def load_image(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = None,
    min_side: int = 1,
) -> LoadedImage:
    """Read an image file (JPEG, PNG, BMP, WebP, ...) as RGB float32 in [0, 255].

    EXIF rotation applied; grey/palette to RGB; alpha kept aside; 16-bit scaled. ``size=(h, w)``
    resizes (bilinear). Missing, empty, non-image or < ``min_side`` files: ``UserError``.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise UserError(f"{path}: {what}; give an image file (JPEG, PNG, BMP, WebP)")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty, not an image; give a complete image file")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = "not an image Pillow can read" if isinstance(exc, UnidentifiedImageError) else exc
        raise UserError(
            f"{path}: cannot read the image ({reason}); give a JPEG, PNG, BMP or WebP file"
        ) from None
    if min(img.size) < min_side:
        raise UserError(
            f"{path}: the image is {img.size[0]}x{img.size[1]} pixels; "
            f"it needs at least {min_side} pixels on each side"
        )
    alpha = None
    if img.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(img, dtype=np.float32)
        peak = 65535.0 if grey.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
        pixels = np.repeat((grey * (255.0 / peak))[..., None], 3, axis=-1)
    else:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            alpha = np.asarray(rgba)[..., 3].copy()
            img = rgba.convert("RGB")
        elif img.mode != "RGB":
            img = img.convert("RGB")
        pixels = np.asarray(img, dtype=np.float32)
    if size is not None:
        pixels = resize(pixels, size)
        if alpha is not None:
            alpha = np.asarray(Image.fromarray(alpha).resize((size[1], size[0]), Image.BILINEAR))
    return LoadedImage(np.ascontiguousarray(pixels), alpha, path)


def resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float RGB pixels to (height, width) with bilinear filtering."""
    channels = [
        np.asarray(
            Image.fromarray(np.asarray(pixels[..., c], np.float32), mode="F").resize(
                (int(size[1]), int(size[0])), Image.BILINEAR
            )
        )
        for c in range(pixels.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def center_crop(pixels: np.ndarray, size: tuple[int, int], crop: float) -> np.ndarray:
    """The central region that torchvision's resize(side / crop) + center-crop(size) sees."""
    h, w = pixels.shape[:2]
    scale = (min(size) / crop) / min(h, w)
    ch, cw = min(h, round(size[0] / scale)), min(w, round(size[1] / scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def prepare_images(images: Any, size: tuple[int, int], crop: float | None = None) -> tuple:
    """Read image files (or take HxWx3 arrays) as ``(names, batch of RGB pixels at size)``.

    Args:
        images: a file path or HxWx3 array of RGB pixels in [0, 255], or a list of them.
        size: (height, width) of the batch.
        crop: the central share to keep first (torchvision's evaluation crop), or ``None``.
    """
    if isinstance(images, str | os.PathLike | np.ndarray):
        images = [images]
    names, batch = [], []
    for i, item in enumerate(images):
        if isinstance(item, np.ndarray):
            pixels, name = np.asarray(item, np.float32), f"array {i}"
            if pixels.ndim != 3 or pixels.shape[-1] != 3:
                raise UserError(
                    f"image {i}: expected an HxWx3 array, got shape {pixels.shape}; give RGB pixels"
                )
        else:
            pixels, name = load_image(item).pixels, str(item)
        if crop:
            pixels = center_crop(pixels, size, crop)
        batch.append(resize(pixels, size) if pixels.shape[:2] != size else pixels)
        names.append(name)
    if not batch:
        raise UserError("no images given; pass one or more image files")
    return names, np.stack(batch)


def check_image_target(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Before any work: ``path`` names a known image format and can be written."""
    from kerascnn.atomic import check_target

    path = Path(path)
    if path.suffix.lower() not in Image.registered_extensions():
        raise UserError(f"{path}: unknown image format {path.suffix!r}; use .png or .jpg")
    return check_target(path, force=force)


def save_image(
    path: str | os.PathLike[str], pixels: np.ndarray, alpha: np.ndarray | None = None
) -> Path:
    """Write RGB pixels in [0, 255] (and optional alpha) atomically; format from the suffix."""
    path = Path(path)
    rgb = np.clip(np.rint(np.asarray(pixels, np.float32)), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None and path.suffix.lower() in (".png", ".webp"):
        img.putalpha(Image.fromarray(np.asarray(alpha, np.uint8), "L"))
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown image format {path.suffix!r}; use .png or .jpg")
    with atomic_open(path, "wb") as f:
        img.save(f, format=fmt)
    return path
