"""``kerascnn.load``: one resolver for specs, files, run folders and models; one run folder."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.errors import UserError
from kerascnn.resolve import LoadedModel
from tests.image_folders import make_image_folder

pytestmark = pytest.mark.backend


def test_a_spec_brings_its_card_classes_and_preprocessing():
    loaded = kerascnn.load("gesture_cnn:sign-digits")
    assert isinstance(loaded, LoadedModel)
    assert loaded.weights_card.spec == "gesture_cnn:sign-digits" and loaded.weights_card.bundled
    assert loaded.classes == [str(d) for d in range(10)]
    assert loaded.preprocessing == "none" and loaded.input_size == (64, 64)
    assert loaded.split == {"seed": 0, "validation_split": 0.0, "test_split": 0.2}
    assert kerascnn.load(loaded) is loaded


def test_a_bare_name_takes_its_default_weights_and_weights_none_random_ones():
    default = kerascnn.load("gesture_cnn")
    assert default.weights_card.variant == "sign-digits" and default.pretrained
    fresh = kerascnn.load("gesture_cnn", weights=None)
    assert fresh.weights_card is None and not fresh.pretrained and fresh.classes is None
    assert not kerascnn.load("vgg16_bn", input_shape=(32, 32, 3)).pretrained  # none published


def test_the_old_load_arguments_and_card_names_still_work_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"default_weights=False.*weights=None"):
        assert not kerascnn.load("gesture_cnn", default_weights=False).pretrained
    with pytest.warns(DeprecationWarning, match=r"default_weights=True"):
        assert kerascnn.load("gesture_cnn", default_weights=True).pretrained
    with pytest.warns(DeprecationWarning, match=r"kerascnn.load\(source=...\)"):
        assert kerascnn.load(source="gesture_cnn:sign-digits").pretrained
    loaded = kerascnn.load("gesture_cnn:sign-digits")
    with pytest.warns(DeprecationWarning, match="use LoadedModel.weights_card"):
        assert loaded.card is loaded.weights_card
    with pytest.warns(DeprecationWarning, match="use LoadedModel.architecture_card"):
        assert loaded.model_card is loaded.architecture_card


def test_a_saved_file_and_its_folder_resolve_the_same(tmp_path: Path):
    source = kerascnn.load("alexnet_cifar:cifar10")
    source.model.save(tmp_path / "net.keras")
    kerascnn.saved.write_metadata(tmp_path / "net.keras", source.classes, "none")
    from_file = kerascnn.load(tmp_path / "net.keras")
    assert from_file.classes == source.classes and from_file.path == tmp_path / "net.keras"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        from_file.model.predict(x, verbose=0), source.model.predict(x, verbose=0), atol=1e-5
    )
    (tmp_path / "net.keras").rename(tmp_path / "model.keras")
    (tmp_path / "net.classes.json").rename(tmp_path / "model.classes.json")
    assert kerascnn.load(tmp_path).classes == source.classes


def test_a_keras_model_gets_its_registered_card():
    model = kerascnn.create_model("gesture_cnn")
    loaded = kerascnn.load(model, preprocessing="tf")
    assert loaded.model is model and loaded.architecture_card.name == "gesture_cnn"
    assert loaded.preprocessing == "tf" and loaded.weights_card is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("gesture_cnm", "unknown model 'gesture_cnm'; did you mean 'gesture_cnn'?"),
        ("gesture_cnn:nope", "no weights 'nope'; use one of: sign-digits"),
        ("runs/none/here", "no such file or folder"),
        (42, "cannot load a model from 42"),
    ],
)
def test_bad_sources_are_one_line_errors(source, message):
    with pytest.raises(UserError, match=message):
        kerascnn.load(source)


def test_files_that_are_not_models_say_so(tmp_path: Path):
    (tmp_path / "fake.keras").write_text("not a model")
    with pytest.raises(UserError, match="fake.keras: not a Keras archive"):
        kerascnn.load(tmp_path / "fake.keras")
    with pytest.raises(UserError, match="no model.keras or best.keras in this folder"):
        kerascnn.load(tmp_path)
    with pytest.raises(UserError, match="takes no builder arguments"):
        kerascnn.load(tmp_path / "fake.keras", include_top=False)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="training needs TensorFlow")
def test_one_run_folder_from_train_serves_predict_and_evaluate(tmp_path: Path):
    data = make_image_folder(tmp_path / "shapes", classes=3, per_class=8, size=16)
    for k, name in enumerate(("circle", "square", "star")):
        (data / f"c{k}").rename(data / name)
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(cli, [
        "train", "gesture_cnn", "--data", str(data), "--epochs", "1", "--batch-size", "8",
        "--image-size", "16", "16", "--arg", "filters=[4]", "--output", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("model.keras", "model.classes.json", "args.json", "split.json", "history.csv"):
        assert (out / name).is_file(), name
    assert json.loads((out / "args.json").read_text())["epochs"] == 1
    image = str(next((data / "star").iterdir()))
    for source in (str(out), str(out / "model.keras")):
        result = runner.invoke(cli, ["predict", source, image, "--json"])
        assert result.exit_code == 0, result.output
        labels = {p["label"] for p in json.loads(result.output)[0]["predictions"]}
        assert labels == {"circle", "square", "star"}
    result = runner.invoke(cli, ["evaluate", str(out), "--data", str(data), "--split", "all"])
    assert result.exit_code == 0, result.output
    assert "circle" in result.output and "star" in result.output
    # every command that takes a model takes the run folder and its model file alike
    for source in (str(out), str(out / "model.keras")):
        pictures = [
            ["summary", source],
            ["dream", image, "--model", source, "--steps", "1", "--octaves", "1", "--force",
             "-o", str(tmp_path / "dream.png")],
            ["visualize", "filters", source, "--force", "-o", str(tmp_path / "f.png")],
            ["visualize", "features", source, image, "--layer", "block1_conv1", "--force",
             "-o", str(tmp_path / "m.png")],
            ["visualize", "gradcam", source, image, "--force", "-o", str(tmp_path / "c.png")],
        ]  # fmt: skip
        for args in pictures:
            result = runner.invoke(cli, args)
            assert result.exit_code == 0, (args, result.output)
    assert keras.saving.load_model(out / "model.keras").output_shape == (None, 3)
