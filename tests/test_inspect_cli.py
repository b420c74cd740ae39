"""``kerascnn zoo info``, ``kerascnn summary`` and ``kerascnn visualize`` on real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.images import save_image


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_zoo_info_table_totals_and_training_estimate():
    result = run("zoo", "info", "vgg16")
    assert result.exit_code == 0, result.output
    assert "138,357,544" in result.output and "15.47 G" in result.output
    assert "forward activations per image" in result.output
    assert "training step, batch 1, adam" in result.output


def test_zoo_info_json_with_batch_size():
    result = run("zoo", "info", "gesture_cnn", "--batch-size", "4", "--optimizer", "sgd", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["batch_size"] == 4
    assert data["total_macs"] == sum(r["macs"] for r in data["layers"]) > 0
    assert data["total_activation_bytes"] == 4 * data["total_activations"]
    train = data["training"]
    assert train["optimizer"] == "sgd" and train["optimizer_state"] == 0
    parts = ("weights", "gradients", "optimizer_state", "activations")
    assert train["total"] == sum(train[k] for k in parts)
    one = json.loads(run("zoo", "info", "gesture_cnn", "--memory", "1GiB", "--json").output)
    assert data["total_macs"] == 4 * one["total_macs"]
    largest = one["max_batch_size"]["batch_size"]
    per_example = one["training"]["activations"]
    fixed = one["training"]["total"] - per_example
    assert fixed + largest * per_example <= 2**30 < fixed + (largest + 1) * per_example


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "gesture.keras"
    kerascnn.create_model("gesture_cnn", batch_norm=True).save(path)
    return path


def test_summary_of_a_saved_model(saved_model):
    result = run("summary", saved_model)
    assert result.exit_code == 0, result.output
    assert "block1_conv1_bn" in result.output and "training step" in result.output
    data = json.loads(run("summary", saved_model, "--json").output)
    zoo = json.loads(run("zoo", "info", "gesture_cnn", "--json").output)
    built = kerascnn.create_model("gesture_cnn", batch_norm=True)
    assert data["total_params"] == built.count_params()
    assert data["total_macs"] == zoo["total_macs"]  # batch norm adds no MACs


def test_summary_of_a_variable_size_model(tmp_path):
    import keras

    inp = keras.Input((None, None, 3))
    out = keras.layers.Conv2D(4, 3, name="conv")(inp)
    path = tmp_path / "free.keras"
    keras.Model(inp, out).save(path)
    result = run("summary", path)
    assert result.exit_code == 2 and "give --input-size H W" in result.output
    data = json.loads(run("summary", path, "--input-size", "10", "12", "--json").output)
    assert data["layers"][1]["output_shape"] == [8, 10, 4]
    assert data["total_macs"] == 8 * 10 * 4 * 27


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.keras", "no such file"),
        (b"not a zip", "broken.keras", "not a Keras archive"),
    ],
)
def test_summary_errors_are_one_line(tmp_path, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = run("summary", path)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    return save_image(tmp_path / "photo.png", rng.uniform(0, 255, (70, 90, 3)))


def test_visualize_commands_write_pngs(tmp_path, photo, saved_model):
    from kerascnn.interpret.visualize import features, filters

    model = kerascnn.create_model("gesture_cnn")
    cases = [
        (["filters", "gesture_cnn", "-o", tmp_path / "f.png"], filters(model)),
        (
            [
                "filters",
                "gesture_cnn",
                "--layer",
                "block2_conv2",
                "--max",
                "3",
                "-o",
                tmp_path / "g.png",
            ],
            filters(model, "block2_conv2", max_filters=3),
        ),
        (
            ["features", "gesture_cnn", photo, "--layer", "block1_conv1", "-o", tmp_path / "m.png"],
            features(model, photo, "block1_conv1"),
        ),
    ]
    for args, expected in cases:
        result = run("visualize", *args)
        assert result.exit_code == 0, result.output
        with Image.open(args[-1]) as img:
            assert img.format == "PNG" and img.size == expected.size
    cam = tmp_path / "cam.png"
    result = run("visualize", "gradcam", saved_model, photo, "--class", "2", "-o", cam)
    assert result.exit_code == 0, result.output
    with Image.open(cam) as img:
        assert img.width >= 90 and img.height > 70


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["filters", "gesture_cnn", "--layer", "fc1"], "not a 2-D convolution"),
        (["features", "gesture_cnn", "{photo}", "--layer", "nope"], "no layer 'nope'"),
        (["gradcam", "gesture_cnn", "missing.png"], "no such file"),
        (["gradcam", "gesture_cnn", "{photo}", "--class", "99"], "out of range"),
        (["filters", "vgg61"], "unknown model"),
    ],
)
def test_visualize_errors(tmp_path, photo, args, message):
    out = tmp_path / "out.png"
    result = run("visualize", *[a.format(photo=photo) for a in args], "-o", out)
    assert result.exit_code == 2, result.output
    assert message in result.output and not out.exists()
