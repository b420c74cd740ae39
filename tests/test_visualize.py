"""Filter, feature-map and Grad-CAM pictures (also on JAX: no TensorFlow here)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.canvas import MIN_SIDE
from kerascnn.errors import UserError
from kerascnn.interpret.visualize import PAD, TILE, features, filters, gradcam, gradcam_heatmap

pytestmark = pytest.mark.backend


def _tiles(picture):
    pixels = np.asarray(picture)
    return [pixels[top:bottom, left:right] for left, top, right, bottom in picture.info["tiles"]]


def _all_differ(tiles):
    flat = [t.tobytes() for t in tiles]
    return len(set(flat)) == len(flat)


def test_first_layer_filters_are_rgb_tiles():
    model = kerascnn.create_model("gesture_cnn")
    picture = filters(model)
    tiles = _tiles(picture)
    assert len(tiles) == 16  # block1_conv1 has 16 filters over RGB
    side = 3 * -(-MIN_SIDE // 12)  # 4 x 4 grid of 3x3 kernels: enlarged by a whole factor
    assert all(t.shape == (side, side, 3) for t in tiles)
    assert picture.width == 4 * (side + PAD) + PAD and picture.height > picture.width
    f = side // 3  # each kernel weight one f x f square (nearest neighbour)
    assert all(np.array_equal(t, np.repeat(np.repeat(t[::f, ::f], f, 0), f, 1)) for t in tiles)
    assert _all_differ(tiles)
    assert any(not np.array_equal(t[..., 0], t[..., 1]) for t in tiles)  # colour, not grey


def test_deeper_filters_are_grey_rows():
    model = kerascnn.create_model("gesture_cnn")
    picture = filters(model, "block2_conv1", max_filters=5, max_channels=4)
    tiles = _tiles(picture)
    assert len(tiles) == 5 * 4
    assert all(np.array_equal(t[..., 0], t[..., 2]) for t in tiles)  # grey
    assert _all_differ(tiles)
    boxes = picture.info["tiles"]
    assert boxes[3][1] == boxes[0][1] and boxes[4][1] > boxes[0][1]  # one filter per row
    with pytest.raises(UserError, match="not a 2-D convolution"):
        filters(model, "fc1")
    with pytest.raises(UserError, match="no layer"):
        filters(model, "nope")


def test_feature_maps_grid_starts_with_the_input():
    model = kerascnn.create_model("gesture_cnn")
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (80, 50, 3)).astype(np.float32)
    picture = features(model, image, "block2_conv1", max=10)
    tiles = _tiles(picture)
    assert len(tiles) == 11
    side = 32 * -(-MIN_SIDE // (3 * 32))  # 3 rows of 32x32 maps, enlarged by a whole factor
    assert all(t.shape == (side, side, 3) for t in tiles) and side >= TILE
    assert not np.array_equal(tiles[0][..., 0], tiles[0][..., 1])  # the input, in colour
    assert _all_differ(tiles[1:])
    with pytest.raises(UserError, match="no feature maps"):
        features(model, image, "fc1")


def _quadrant_model():
    """Class 0 = "red somewhere", class 1 = "green somewhere", by hand-set weights."""
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="detect")(inp)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inp, out)
    detect = np.zeros((3, 3, 3, 2), np.float32)
    detect[1, 1, :, 0] = (1.0, -1.0, -1.0)  # red minus the rest
    detect[1, 1, :, 1] = (-1.0, 1.0, -1.0)  # green minus the rest
    model.get_layer("detect").set_weights([detect, np.zeros(2, np.float32)])
    feats = np.zeros((3, 3, 2, 2), np.float32)
    feats[:, :, 0, 0] = feats[:, :, 1, 1] = 1.0 / 9
    model.get_layer("features").set_weights([feats, np.zeros(2, np.float32)])
    head = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)
    model.get_layer("predictions").set_weights([head, np.zeros(2, np.float32)])
    return model


def _scene():
    image = np.full((32, 32, 3), 100.0, np.float32)
    image[3:11, 4:12] = (250, 0, 0)  # red patch, top-left quadrant
    image[18:30, 20:30] = (0, 250, 0)  # bigger green patch, bottom-right quadrant
    return image


@pytest.mark.parametrize(("class_index", "quadrant"), [(0, (0, 0)), (1, (1, 1)), (None, (1, 1))])
def test_gradcam_highlights_the_region_that_drives_the_class(class_index, quadrant):
    cam, index, _ = gradcam_heatmap(_quadrant_model(), _scene(), class_index)
    assert index == (1 if class_index is None else class_index)  # green patch is bigger
    h, w = cam.shape
    top, left = quadrant[0] * h // 2, quadrant[1] * w // 2
    inside = cam[top : top + h // 2, left : left + w // 2].sum()
    assert inside > 0.9 * cam.sum() > 0
    peak = np.unravel_index(np.argmax(cam), cam.shape)
    assert (peak[0] >= h // 2, peak[1] >= w // 2) == (bool(quadrant[0]), bool(quadrant[1]))


def test_gradcam_picture_is_the_image_beside_its_overlay():
    model = kerascnn.create_model("gesture_cnn")
    image = np.random.default_rng(1).uniform(0, 255, (90, 120, 3)).astype(np.float32)
    picture = gradcam(model, image, 3)
    plain, overlay = _tiles(picture)
    f = -(-MIN_SIDE // 90)  # each pixel an f x f square: the short side reaches MIN_SIDE
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    assert np.array_equal(plain, np.repeat(np.repeat(pixels, f, 0), f, 1))
    assert overlay.shape == plain.shape and not np.array_equal(overlay, plain)
    with pytest.raises(UserError, match="out of range"):
        gradcam(model, image, 10)


def test_visualize_mistakes_are_caught_before_keras_loads(tmp_path):
    """Bad output and model names fail in a process that has not imported Keras yet."""
    import subprocess
    import sys

    taken = tmp_path / "taken.png"
    taken.write_bytes(b"x")
    commands = [
        ["filters", "gesture_cnn", "-o", str(taken)],
        [
            "features",
            "gesture_cnn",
            str(taken),
            "--layer",
            "block1_conv1",
            "-o",
            str(tmp_path / "x"),
        ],
    ]
    script = (
        "import sys\nfrom click.testing import CliRunner\nfrom kerascnn.cli.main import cli\n"
        f"for args in {commands!r}:\n"
        "    result = CliRunner().invoke(cli, ['visualize', *args])\n"
        "    print(result.exit_code, result.output.strip())\n"
        "print('KERAS', 'keras' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("2 Error: ") and "exists; pass --force" in lines[0], out.stdout
    assert lines[1].startswith("2 Error: ") and "cannot read the image" in lines[1], out.stdout
    assert lines[-1] == "KERAS False False", out.stdout
