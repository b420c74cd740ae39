"""Every picture the package composes, as the real commands write it: at least 400 pixels on
its short side, and no caption, label or legend over the data (issue #28, item 4).

The boxes come from the PNG's own text chunks (``kerascnn:tiles``, ``kerascnn:text``,
``kerascnn:axes``, ``kerascnn:legend``); the pixels are checked against them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kerascnn.canvas import MIN_SIDE
from kerascnn.cli.main import cli
from kerascnn.training.plot import _COLOURS, plot_history

GESTURE = "gesture_cnn:sign-digits"
CIFAR = "alexnet_cifar:cifar10"
EXAMPLES = Path(__file__).resolve().parents[1] / "zoo" / "examples"


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _read(path: Path) -> tuple[np.ndarray, dict[str, list]]:
    """The pixels, and the boxes the PNG's ``kerascnn:`` chunks hold (JSON lists)."""
    with Image.open(path) as img:
        chunks = {k.split(":", 1)[1]: v for k, v in img.text.items() if k.startswith("kerascnn:")}
        boxes = {k: json.loads(v) for k, v in chunks.items() if v.startswith("[")}
        return np.asarray(img.convert("RGB")), boxes


def test_history_legend_sits_outside_the_curves(tmp_path):
    n = 12  # the accuracy curves end in the top-right corner, where a legend used to be
    history = {
        "epoch": [float(e) for e in range(n)],
        "loss": [2.3 * math.exp(-e / 3) for e in range(n)],
        "val_loss": [2.3 * math.exp(-e / 4) + 0.2 for e in range(n)],
        "accuracy": [1 - 0.9 * math.exp(-e / 2) for e in range(n)],
        "val_accuracy": [1 - 0.9 * math.exp(-e / 3) for e in range(n)],
    }
    pixels, boxes = _read(plot_history(history, tmp_path / "history.png"))
    assert min(pixels.shape[:2]) >= MIN_SIDE
    axes, legends = boxes["axes"], boxes["legend"]
    assert len(axes) == len(legends) == 2  # loss and accuracy, each with its legend
    assert not any(_overlap(legend, frame) for legend in legends for frame in axes)
    inside_axes = np.zeros(pixels.shape[:2], bool)
    inside_legend = np.zeros(pixels.shape[:2], bool)
    for (x0, y0, x1, y1), (l0, t0, l1, t1) in zip(axes, legends, strict=True):
        inside_axes[y0 : y1 + 1, x0 : x1 + 1] = True
        inside_legend[t0 : t1 + 1, l0 : l1 + 1] = True
    for colour in _COLOURS.values():
        drawn = (pixels == colour).all(axis=-1)
        assert not (drawn & ~inside_axes & ~inside_legend).any()  # curves only in the axes
        for x0, y0, x1, y1 in axes:  # each curve is drawn, and its key is in each legend
            assert drawn[y0:y1, x0:x1].sum() > 100
        for l0, t0, l1, t1 in legends:
            assert drawn[t0:t1, l0:l1].any()


@pytest.fixture(scope="module")
def small_digit(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "digit28.png"
    Image.open(EXAMPLES / "sign_digit_5.jpg").convert("RGB").resize((28, 28)).save(path)
    return path


CASES = {
    "filters": ["filters", GESTURE],
    "filters, deeper, 3": ["filters", GESTURE, "--layer", "block2_conv1", "--max", "3"],
    "filters, alexnet_cifar": ["filters", CIFAR],
    "features": ["features", GESTURE, "{photo}", "--layer", "block2_conv2_relu", "--max", "32"],
    "features, 4x4 maps": ["features", GESTURE, "{photo}", "--layer", "block4_pool", "--max", "5"],
    "gradcam, 28x28": ["gradcam", GESTURE, "{digit}"],
    "maximize": [
        "maximize",
        GESTURE,
        "--layer",
        "block2_conv2_relu",
        "--filters",
        "0-1",
        "--size",
        "16",
        "--steps",
        "1",
        "--octaves",
        "1",
        "--seed",
        "0",
    ],  # fmt: skip
}


@pytest.mark.parametrize("args", CASES.values(), ids=CASES)
def test_every_picture_is_large_with_text_off_the_data(tmp_path, small_digit, args):
    out = tmp_path / "picture.png"
    photo = EXAMPLES / "sign_digit_5.jpg"
    args = [a.format(photo=photo, digit=small_digit) for a in args]
    result = CliRunner().invoke(cli, ["--quiet", "visualize", *args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    pixels, boxes = _read(out)
    height, width = pixels.shape[:2]
    assert min(height, width) >= MIN_SIDE, (width, height)
    assert boxes["tiles"] and boxes["text"]
    for tile in boxes["tiles"]:
        assert 0 <= tile[0] < tile[2] <= width and 0 <= tile[1] < tile[3] <= height
        assert not [text for text in boxes["text"] if _overlap(text, tile)], tile
    if args[0] == "gradcam":  # a 28x28 image, each pixel a 15x15 square beside its overlay
        assert [(r - x, b - y) for x, y, r, b in boxes["tiles"]] == [(420, 420)] * 2


def test_filters_default_to_the_first_trainable_convolution(tmp_path):
    from kerascnn.interpret.visualize import conv_layers, filters
    from kerascnn.resolve import load

    model = load(CIFAR).model
    convs = conv_layers(model)
    assert not convs[0].trainable  # the fixed whitening the picture must not default to
    out = tmp_path / "filters.png"
    result = CliRunner().invoke(cli, ["visualize", "filters", CIFAR, "-o", str(out)])
    assert result.exit_code == 0, result.output
    pixels, boxes = _read(out)
    with Image.open(out) as img:
        chosen = model.get_layer(img.text["kerascnn:layer"])
    assert chosen.trainable and chosen.kernel.trainable
    assert chosen is next(c for c in convs if c.trainable)
    explicit = filters(model, chosen.name)  # the same kernels as asking for the layer by name
    assert boxes["tiles"] == [list(b) for b in explicit.info["tiles"]]
    drawn = np.asarray(explicit)
    assert all(np.array_equal(pixels[t:b, x:r], drawn[t:b, x:r]) for x, t, r, b in boxes["tiles"])
    fixed = filters(model, convs[0].name)  # --layer still picks any convolution
    assert fixed.info["layer"] == convs[0].name and min(fixed.size) >= MIN_SIDE
