"""``kerascnn dream`` and ``visualize maximize``: files in, files out, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.errors import WeightsUnavailableError

FAST = ["--model", "gesture_cnn", "--octaves", "1", "--steps", "1", "--seed", "0"]


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", "dream", *map(str, args)])


def photo(height=40, width=56, mode="RGB"):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    return img.convert(mode) if mode != "RGB" else img


def test_writes_image_dream_png_next_to_the_input_and_refuses_to_overwrite(tmp_path):
    src = tmp_path / "cat.jpg"
    photo().save(src)
    result = run(src, *FAST)
    assert result.exit_code == 0, result.output
    out = tmp_path / "cat_dream.png"
    with Image.open(out) as img:
        assert img.size == (56, 40) and img.mode == "RGB"
    before = out.read_bytes()
    again = run(src, *FAST, "--seed", "1")
    assert again.exit_code == 2 and "--force" in again.output
    assert out.read_bytes() == before
    assert run(src, *FAST, "--seed", "1", "--force").exit_code == 0
    assert out.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.jpg", "cat_dream.png"]


def test_a_bare_model_name_dreams_with_its_default_published_weights(tmp_path):
    """As in predict, visualize and finetune: ``gesture_cnn`` is ``gesture_cnn:sign-digits``."""
    src = tmp_path / "cat.png"
    photo().save(src)
    options = ["--octaves", "1", "--steps", "1", "--seed", "0"]
    bare = run(src, *options, "--model", "gesture_cnn", "-o", tmp_path / "bare.png")
    named = run(src, *options, "--model", "gesture_cnn:sign-digits", "-o", tmp_path / "named.png")
    assert bare.exit_code == named.exit_code == 0, bare.output + named.output
    assert "random weights" not in bare.output
    assert (tmp_path / "bare.png").read_bytes() == (tmp_path / "named.png").read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "size"),
    [
        ("grey.png", lambda: photo(mode="L"), (56, 40)),
        (
            "deep.png",
            lambda: Image.fromarray((np.arange(40 * 56).reshape(40, 56) * 29).astype(np.uint16)),
            (56, 40),
        ),  # noqa: E501
        ("photo.webp", lambda: photo(), (56, 40)),
        ("photo.bmp", lambda: photo(), (56, 40)),
    ],
)
def test_input_formats_keep_their_size(tmp_path, name, make, size):
    src = tmp_path / name
    make().save(src)
    result = run(src, *FAST, "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out.png") as img:
        assert img.size == size


def test_exif_rotation_and_alpha_are_kept(tmp_path):
    src = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: the 56x40 file shows as 40x56
    photo().save(src, exif=exif)
    assert run(src, *FAST).exit_code == 0
    with Image.open(tmp_path / "turned_dream.png") as img:
        assert img.size == (40, 56)
    rgba = photo(mode="RGBA")
    alpha = np.zeros((40, 56), np.uint8)
    alpha[:, 28:] = 255
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "cut.png")
    result = run(tmp_path / "cut.png", *FAST, "--max-side", "32", "--jitter", "2")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "cut_dream.png") as img:
        assert img.mode == "RGBA" and img.size == (56, 40)
        np.testing.assert_array_equal(np.asarray(img)[..., 3], alpha)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p.write_text("not an image"), "cannot read the image"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: Image.new("RGB", (1, 1)).save(p, format="PNG"), "at least 2 pixels"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, setup, message):
    src = tmp_path / "bad.png"
    setup(src)
    result = run(src, *FAST)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "bad_dream.png").exists()


def test_options_layers_channels_guide(tmp_path):
    photo().save(tmp_path / "a.png")
    photo(32, 32).save(tmp_path / "g.png")
    args = ["--layers", "block2_conv2_relu=1,block3_conv2_relu=0.5", "--channels", "0-3,7"]
    result = run(tmp_path / "a.png", *FAST, *args, "--guide", tmp_path / "g.png", "--tile-size", 0)
    assert result.exit_code == 0, result.output
    bad = run(tmp_path / "a.png", *FAST, "--layers", "nope=1", "--force")
    assert bad.exit_code == 2 and "no layer 'nope'" in bad.output
    bad = run(tmp_path / "a.png", *FAST, "--channels", "3-x", "--force")
    assert bad.exit_code == 2 and "bad channels" in bad.output


def test_a_saved_keras_model_dreams(tmp_path):
    kerascnn.create_model("gesture_cnn", filters=(8, 16), hidden=16).save(tmp_path / "m.keras")
    photo().save(tmp_path / "a.png")
    listed = run("--list-layers", "--model", tmp_path / "m.keras")
    assert listed.exit_code == 0 and "block2_conv2_relu" in listed.output
    assert "block3" not in listed.output
    result = run(tmp_path / "a.png", *FAST, "--model", tmp_path / "m.keras")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a_dream.png").is_file()


def test_list_layers_marks_the_defaults():
    result = run("--list-layers", "--model", "vgg16")
    assert result.exit_code == 0, result.output
    card_layers = kerascnn.get_model_card("vgg16").dream_layers
    for name in ("block1_conv1", "block5_pool", *card_layers):
        assert name in result.output
    assert result.output.count("│ * ") == len(card_layers)


def test_unavailable_weights_name_the_offline_models(tmp_path, monkeypatch):
    from kerascnn import registry

    def no_weights(weights=None, **kwargs):
        raise WeightsUnavailableError(
            f"vgg16: weights {weights!r} are not cached and cannot be downloaded"
        )

    monkeypatch.setitem(registry._registered, "vgg16", no_weights)
    photo().save(tmp_path / "a.png")
    result = run(tmp_path / "a.png")
    assert result.exit_code == 2
    assert "cannot be downloaded" in result.output and "dream offline:" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_maximize_writes_a_grid_of_distinct_filters(tmp_path):
    out = tmp_path / "grid.png"
    args = ["maximize", "gesture_cnn", "--layer", "block2_conv2_relu", "--filters", "0-3",
            "--size", "32", "--steps", "4", "--octaves", "1", "--seed", "0", "-o", out]  # fmt: skip
    args = ["--quiet", "visualize", *map(str, args)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 34 - 2, 2 * 34 - 2, 3)
    tiles = [grid[r : r + 32, c : c + 32] for r in (0, 34) for c in (0, 34)]
    assert all(np.abs(a.astype(int) - b).mean() > 5 for a in tiles for b in tiles if a is not b)
    bad = CliRunner().invoke(cli, [*args, "--filters", "40", "--force"])
    assert bad.exit_code == 2 and "filters 0..31" in bad.output


def test_maximized_images_excite_their_own_filter_most():
    import keras

    from kerascnn.interpret import ascent
    from kerascnn.interpret.maximize import maximize_filters

    keras.utils.set_random_seed(4)
    model = kerascnn.create_model("gesture_cnn")
    extractor = ascent.feature_extractor(model, ["block2_conv2_relu"])

    def activations(steps):
        images = maximize_filters(model, "block2_conv2_relu", range(6), size=32, octaves=1,
                                  steps=steps, seed=0, precision="float32")  # fmt: skip
        return keras.ops.convert_to_numpy(extractor([images])).mean(axis=(1, 2))[:, :6]

    start, end = activations(0), activations(20)  # same seed: the same starting noise
    alive = [f for f in range(6) if start[f, f] > 0]  # a ReLU silent everywhere has no gradient
    assert len(alive) >= 4
    for f in alive:
        assert end[f, f] > 1.5 * start[f, f]
        assert end[f, f] > np.delete(end[:, f], f).max()  # more than the other filters' images


@pytest.mark.parametrize("name", ["alexnet", "alexnet_cifar", "gesture_cnn", "vgg16", "vgg16_bn"])
def test_every_zoo_card_names_dream_layers_its_model_has(name):
    from kerascnn.interpret.dream import dream_layers, dreamable_layers

    card = kerascnn.get_model_card(name)
    model = kerascnn.create_model(name, include_top=False)
    assert set(card.dream_layers) <= set(dreamable_layers(model))
    assert dream_layers(model, card) == card.dream_layers
