"""evaluate pairs the data's class folders with the model's classes by name; folders that are
not the model's classes are refused before any prediction, unless --map-by-index pairs them by
position (same count only), which the table and the JSON then say."""

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
from kerascnn.saved import write_metadata
from kerascnn.training import feeds
from kerascnn.training.evaluate import evaluate
from kerascnn.training.run import RunFolder
from tests.image_folders import make_image_folder

PER_CLASS = 6


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def always(classes: int, index: int) -> keras.Model:
    """A model of 8x8 images that predicts output ``index`` whatever the image."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(classes, activation="softmax", kernel_initializer="zeros")(x)
    model = keras.Model(inputs, outputs)
    dense = model.layers[-1]
    dense.bias.assign(np.eye(classes, dtype="float32")[index] * 10)
    return model


def saved(path: Path, classes: list[str] | int, index: int) -> Path:
    """``path`` (.keras) predicting ``index``; a sidecar with ``classes`` when they are names."""
    count = classes if isinstance(classes, int) else len(classes)
    path.parent.mkdir(parents=True, exist_ok=True)
    always(count, index).save(path)
    if not isinstance(classes, int):
        write_metadata(path, classes)
    return path


def folder(root: Path, names: list[str]) -> Path:
    """Real image folders (tests/image_folders.py) named ``names``."""
    make_image_folder(root, classes=len(names), per_class=PER_CLASS, size=8)
    for k, name in enumerate(names):
        (root / f"c{k}").rename(root / name)
    return root


@pytest.fixture
def no_prediction(monkeypatch: pytest.MonkeyPatch):
    """Fail the test if evaluate reads a batch (a refusal must come first)."""

    def refuse(*args, **kwargs):
        raise AssertionError("evaluate read images for prediction")

    monkeypatch.setattr(feeds, "split_batches", refuse)


def test_same_names_in_another_order_are_paired_by_name(tmp_path: Path):
    model = saved(tmp_path / "net.keras", ["star", "circle", "square"], index=0)  # "star"
    data = folder(tmp_path / "shapes", ["circle", "square", "star"])
    report = evaluate(model, data)
    assert report.class_names == ["star", "circle", "square"]  # the model's order
    assert report.folder_class_names == ["circle", "square", "star"]
    assert report.mapped_by_index is False
    assert report.per_class == {"star": 1.0, "circle": 0.0, "square": 0.0}
    assert report.accuracy == pytest.approx(1 / 3)
    assert report.confusion[0] == [PER_CLASS, 0, 0]
    assert isinstance(report, kerascnn.EvalResult) and report.split == "all"
    assert report.as_dict()["skipped"] == [] and json.dumps(report.as_dict())
    with pytest.warns(DeprecationWarning, match=r"evaluate\(...\)\['accuracy'\].*result.accuracy"):
        assert report["accuracy"] == report.accuracy  # the dict of 0.1, one more release
    result = run("evaluate", str(model), "--data", str(data))
    assert result.exit_code == 0, result.output
    assert "accuracy 33.33% on the whole folder: 6/18 images" in result.output


def test_a_subset_of_the_classes_is_evaluated_by_name(tmp_path: Path):
    model = saved(tmp_path / "net.keras", ["a", "b", "c", "d", "e"], index=3)  # "d"
    data = folder(tmp_path / "some", ["b", "d"])
    report = evaluate(model, data)
    assert report.class_names == ["a", "b", "c", "d", "e"] and not report.mapped_by_index
    assert report.accuracy == 0.5 and report.count == 2 * PER_CLASS
    assert report.per_class == {"a": None, "b": 0.0, "c": None, "d": 1.0, "e": None}
    assert report.confusion[1] == [0, 0, 0, PER_CLASS, 0]
    result = run("evaluate", str(model), "--data", str(data))
    assert result.exit_code == 0, result.output
    assert "class folders for 2 of the model's 5 classes (b, d)" in result.output


def test_other_names_are_refused_before_any_prediction(tmp_path: Path, no_prediction):
    model = saved(tmp_path / "net.keras", [str(d) for d in range(10)], index=1)
    names = ["ankle_boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "sneaker",
             "trouser", "tshirt"]  # fmt: skip
    data = folder(tmp_path / "fashion", names)
    with pytest.raises(UserError) as error:
        evaluate(model, data)
    message = str(error.value)
    assert message.startswith(f"{data}: its class folders (ankle_boot, bag, ..., tshirt) ")
    assert "are not the model's 10 classes (0, 1, ..., 9); " in message
    assert "pass map_by_index=True to pair" in message and "\n" not in message
    result = run("evaluate", str(model), "--data", str(data))
    assert result.exit_code == 2  # the same line, naming the flag
    cli_message = message.replace("map_by_index=True", "--map-by-index")
    assert result.output.strip().splitlines() == [f"Error: {cli_message}"]


def test_map_by_index_pairs_by_position_and_says_so(tmp_path: Path):
    model = saved(tmp_path / "net.keras", ["0", "1", "2"], index=1)
    data = folder(tmp_path / "letters", ["x", "y", "z"])
    report = evaluate(model, data, map_by_index=True)
    assert report.mapped_by_index is True
    assert report.class_names == ["x", "y", "z"]  # the pairing's names: the folder's
    assert report.model_class_names == ["0", "1", "2"]
    assert report.per_class == {"x": 0.0, "y": 1.0, "z": 0.0}

    result = run("evaluate", str(model), "--data", str(data), "--map-by-index", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["mapped_by_index"] is True
    result = run("evaluate", str(model), "--data", str(data), "--map-by-index")
    assert result.exit_code == 0, result.output
    assert "classes paired by position (--map-by-index), not by name: 0 -> x, 1 -> y, 2 -> z" in (
        result.output
    )
    # matching names are paired by name with or without the flag, and the output says nothing
    same = folder(tmp_path / "digits", ["0", "1", "2"])
    assert evaluate(model, same, map_by_index=True).mapped_by_index is False
    result = run("evaluate", str(model), "--data", str(same), "--json")
    assert json.loads(result.output)["mapped_by_index"] is False


def test_some_other_names_are_refused_too(tmp_path: Path, no_prediction):
    model = saved(tmp_path / "net.keras", ["cat", "dog", "fox"], index=0)
    data = folder(tmp_path / "pets", ["cat", "dog", "owl"])
    with pytest.raises(UserError, match=r"its class folders \(owl\) are not among the model's 3 "):
        evaluate(model, data)


def test_a_different_count_cannot_be_paired_by_position(tmp_path: Path, no_prediction):
    model = saved(tmp_path / "net.keras", ["cat", "dog", "fox"], index=0)
    four = folder(tmp_path / "four", ["w", "x", "y", "z"])
    with pytest.raises(UserError) as error:
        evaluate(model, four)
    assert str(error.value).startswith(
        f"the model predicts 3 classes (cat, dog, fox) but {four} has 4 class folders, "
        "and w, x, y, z are not among them; "
    )
    assert "map_by_index" not in str(error.value)  # it could not help
    with pytest.raises(UserError, match="map_by_index=True cannot pair by position; "):
        evaluate(model, four, map_by_index=True)
    two = folder(tmp_path / "two", ["x", "y"])
    result = run("evaluate", str(model), "--data", str(two), "--map-by-index")
    assert result.exit_code == 2
    assert "with 3 class folders" in result.output and len(result.output.splitlines()) == 1
    assert "which --map-by-index cannot pair" in result.output


def test_the_names_come_from_a_run_folder_or_its_split(tmp_path: Path, no_prediction):
    data = folder(tmp_path / "other", ["p", "q"])
    run_dir = RunFolder(tmp_path / "run")
    run_dir.write_model(always(2, 0), ["left", "right"])  # model.keras + model.classes.json
    split_only = tmp_path / "split-only"
    saved(split_only / "model.keras", 2, index=0)  # no sidecar: split.json has the names
    RunFolder(split_only).write_split({"seed": 0, "validation_split": 0.2, "test_split": 0.0,
                                       "class_names": ["left", "right"]})  # fmt: skip
    for source in (run_dir.path, run_dir.path / "model.keras", split_only):
        with pytest.raises(UserError, match=r"are not the model's 2 classes \(left, right\)"):
            evaluate(source, data)


def test_a_model_without_names_pairs_outputs_in_order(tmp_path: Path):
    model = saved(tmp_path / "net.keras", 2, index=1)
    data = folder(tmp_path / "two", ["p", "q"])
    report = evaluate(model, data)
    assert report.model_class_names is None and report.mapped_by_index is False
    assert report.per_class == {"p": 0.0, "q": 1.0}
    three = folder(tmp_path / "three", ["p", "q", "r"])
    with pytest.raises(UserError, match="the model predicts 2 classes but .* has 3"):
        evaluate(model, three)


def test_a_published_model_refuses_another_data_set(tmp_path: Path, no_prediction):
    """The brief's case: gesture_cnn:sign-digits (classes 0..9) on fashion-like folders."""
    data = folder(tmp_path / "fashion", [f"item{k}" for k in range(10)])
    result = run("evaluate", "gesture_cnn:sign-digits", "--data", str(data))
    assert result.exit_code == 2
    assert "are not the model's 10 classes (0, 1, ..., 9); evaluate on a folder" in result.output
    assert len(result.output.splitlines()) == 1
