"""Image reading: formats, grey, alpha, 16-bit, EXIF rotation, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kerascnn.errors import UserError
from kerascnn.images import load_image, save_image


def _rgb(h=20, w=30):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], -1).astype("uint8")


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".jpg"])
def test_formats_read_as_rgb_float(tmp_path, suffix):
    path = tmp_path / f"img{suffix}"
    kwargs = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(_rgb()).save(path, **kwargs)
    img = load_image(path)
    assert img.pixels.shape == (20, 30, 3) and img.pixels.dtype == np.float32
    assert img.alpha is None
    tol = 12 if suffix == ".jpg" else 0
    assert np.abs(img.pixels - _rgb()).max() <= tol


def test_grey_rgba_and_16_bit(tmp_path):
    Image.fromarray(_rgb()[..., 0]).save(tmp_path / "grey.png")
    grey = load_image(tmp_path / "grey.png").pixels
    assert grey.shape == (20, 30, 3) and np.array_equal(grey[..., 0], grey[..., 2])

    rgba = np.dstack([_rgb(), np.full((20, 30), 77, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    img = load_image(tmp_path / "rgba.png")
    assert img.pixels.shape == (20, 30, 3) and np.all(img.alpha == 77)

    deep = (np.arange(600, dtype=np.uint16).reshape(20, 30) * 100).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    pixels = load_image(tmp_path / "deep.png").pixels
    np.testing.assert_allclose(pixels[..., 0], deep * (255 / 65535), atol=0.01)


def test_exif_rotation_is_applied(tmp_path):
    img = Image.fromarray(_rgb(20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").pixels.shape == (30, 20, 3)


def test_resize_on_load(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", size=(8, 9)).pixels.shape == (8, 9, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"this is not an image", "cannot read the image")],
)
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as err:
        load_image(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_and_too_small(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_image(tmp_path / "missing.png")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(UserError, match="1x1"):
        load_image(tmp_path / "dot.png", min_side=2)


def test_save_round_trip_keeps_alpha_and_leaves_no_temp_file(tmp_path):
    alpha = np.full((20, 30), 200, np.uint8)
    save_image(tmp_path / "out.png", _rgb().astype("float32"), alpha)
    img = load_image(tmp_path / "out.png")
    assert np.array_equal(img.pixels, _rgb()) and np.all(img.alpha == 200)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert (tmp_path / "out.png").stat().st_mode & 0o044  # readable by others, not 0600
