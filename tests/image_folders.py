"""Small real image folders (PNG and JPEG files) for the data and training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_image_folder(
    root: Path, classes: int = 3, per_class: int = 20, size: int = 24, seed: int = 0
) -> Path:
    """``root/c<k>/img_<i>.{png,jpg}``: class k is a bright square at a class-specific place."""
    rng = np.random.default_rng(seed)
    for k in range(classes):
        folder = root / f"c{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            q = size // 3
            r, c = divmod(k % 9, 3)
            pixels[r * q : (r + 1) * q, c * q : (c + 1) * q, k % 3] = 230
            suffix = ".png" if i % 2 else ".jpg"
            Image.fromarray(pixels).save(folder / f"img_{i:03d}{suffix}", quality=95)
    return root
