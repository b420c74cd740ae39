"""The preset layout (kerascnn.weights.preset): written from a zoo spec, a run folder and a
.keras file, read back by kerascnn.load, with its metadata and model card; damaged or newer
presets are refused in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import kerascnn
from kerascnn.errors import UserError
from kerascnn.publish import held_out_accuracy, push
from kerascnn.weights.preset import PRESET_FILES, sha256_file, write_preset
from tests.conftest import REPO
from tests.preset_runs import same_weights, tiny_run_fixture  # noqa: F401  (fixture)

EXAMPLES = sorted((REPO / "zoo" / "examples").glob("*.jpg"))
SECTIONS = ("What it is", "Classes", "Accuracy", "How to use", "How it was trained", "Limits")


def _front_matter(card: str) -> dict:
    import yaml

    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


@pytest.fixture(scope="module")
def sign_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("preset") / "signs"
    push("gesture_cnn:sign-digits", "hf://me/signs", local_dir=folder, upload=False)
    return folder


def test_zoo_spec_preset_layout_metadata_and_card(sign_preset: Path):
    assert sorted(p.name for p in sign_preset.iterdir()) == sorted(PRESET_FILES)
    meta = json.loads((sign_preset / "metadata.json").read_text())
    source = kerascnn.load("gesture_cnn:sign-digits")
    assert meta["architecture"] == "gesture_cnn" and meta["source"] == "gesture_cnn:sign-digits"
    assert meta["parameter_count"] == source.model.count_params()
    assert meta["weights_sha256"] == sha256_file(sign_preset / "model.weights.h5")
    assert meta["classes"] == list(source.classes) and meta["input_size"] == [64, 64, 3]
    assert meta["keras_version"] and meta["kerascnn_version"] == kerascnn.__version__
    assert meta["accuracy"]["top1"] == source.weights_card.accuracy["top1"]
    assert meta["accuracy"]["images"] == 427 and meta["accuracy"]["split"] == "test"
    assert meta["split"]["test_split"] == 0.2 and meta["training"]["description"]
    config = json.loads((sign_preset / "config.json").read_text())
    assert config["class_name"] == "Functional" and config["config"]["name"] == "gesture_cnn"
    card = (sign_preset / "README.md").read_text()
    front = _front_matter(card)
    assert front["library_name"] == "kerascnn" and front["license"] == "apache-2.0"
    assert "gesture_cnn" in front["tags"] and front["datasets"] == ["sign-language-digits"]
    assert front["metrics"] == ["accuracy"]
    headings = re.findall(r"^## (.+)$", card, flags=re.M)
    assert headings[: len(SECTIONS)] == list(SECTIONS)
    assert "**99.30% top-1** on the test split (427 images, 3 errors)" in card
    assert "kerascnn predict hf://me/signs photo.jpg" in card
    assert 'kerascnn.load("hf://me/signs")' in card


def test_zoo_spec_preset_loads_back_identically(sign_preset: Path):
    source = kerascnn.load("gesture_cnn:sign-digits")
    loaded = kerascnn.load(sign_preset)
    assert same_weights(source.model, loaded.model)
    assert loaded.classes == list(source.classes) and loaded.preprocessing == "none"
    assert loaded.preset["architecture"] == loaded.architecture_card.name == "gesture_cnn"
    a = kerascnn.predict(source, [str(p) for p in EXAMPLES], top=3)
    b = kerascnn.predict(loaded, [str(p) for p in EXAMPLES], top=3)
    assert [[p.as_dict() for p in r] for r in a] == [[p.as_dict() for p in r] for r in b]


def test_run_folder_preset_records_the_run(tiny_run: Path, tmp_path: Path):
    run = kerascnn.load(tiny_run)
    meta = write_preset(run, tmp_path / "p", accuracy=held_out_accuracy(run))
    args = json.loads((tiny_run / "args.json").read_text())
    split = json.loads((tiny_run / "split.json").read_text())
    assert meta["training"] == {k: v for k, v in args.items() if k != "data"}
    assert meta["architecture"] == "gesture_cnn" and str(args["data"]) not in json.dumps(meta)
    assert meta["split"]["counts"] == split["counts"] and meta["split"]["seed"] == split["seed"]
    assert set(meta["split"]["files_sha256"]) == {"train", "validation", "test"}
    assert meta["accuracy"]["split"] == "test"  # the run's data is still there: measured
    assert meta["accuracy"]["images"] == split["counts"]["test"] and "dataset" in meta
    back = kerascnn.load(tmp_path / "p")
    assert same_weights(run.model, back.model) and back.classes == run.classes
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    assert np.array_equal(run.model.predict(x, verbose=0), back.model.predict(x, verbose=0))


def test_accuracy_from_the_history_when_the_data_is_gone(tiny_run: Path, tmp_path: Path):
    import dataclasses

    run = kerascnn.load(tiny_run)
    gone = dataclasses.replace(run, split={**run.split, "root": str(tmp_path / "moved")})
    acc = held_out_accuracy(gone)
    history = (tiny_run / "history.csv").read_text().splitlines()
    val = float(history[-1].split(",")[history[0].split(",").index("val_accuracy")])
    assert acc["top1"] == round(100 * val, 2) and acc["split"] == "validation"
    assert acc["images"] == run.split["counts"]["validation"]


def test_accuracy_measured_on_the_runs_test_split(tiny_run: Path):
    run = kerascnn.load(tiny_run)
    data = json.loads((tiny_run / "split.json").read_text())["root"]
    acc = held_out_accuracy(run, data)
    split = json.loads((tiny_run / "split.json").read_text())
    assert acc["split"] == "test" and acc["images"] == split["counts"]["test"]
    assert acc["errors"] == round(acc["images"] * (1 - acc["top1"] / 100))


def test_keras_file_preset(tmp_path: Path):
    source = kerascnn.load("alexnet_cifar:cifar10")
    source.model.save(tmp_path / "net.keras")
    kerascnn.saved.write_metadata(tmp_path / "net.keras", list(source.classes))
    meta = push(tmp_path / "net.keras", "hf://me/net", local_dir=tmp_path / "p", upload=False)
    assert meta.metadata["classes"] == list(source.classes)
    assert same_weights(source.model, kerascnn.load(tmp_path / "p").model)


def test_random_weights_are_refused_unless_asked(tmp_path: Path):
    random = kerascnn.load("gesture_cnn", weights=None)  # a bare name: its published weights
    with pytest.raises(UserError, match="random weights.*allow_random=True"):
        push(random, "hf://me/r", local_dir=tmp_path / "p", upload=False)
    assert not (tmp_path / "p").exists()
    result = push(random, "hf://me/r", local_dir=tmp_path / "p", upload=False,
                  allow_random=True)  # fmt: skip
    assert result.metadata["random_weights"] and result.metadata["accuracy"] is None
    assert "**Its weights are random**" in (tmp_path / "p" / "README.md").read_text()


def _copy(preset: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(preset, dest)
    return dest


def test_damaged_weights_are_refused_before_loading(sign_preset: Path, tmp_path: Path):
    bad = _copy(sign_preset, tmp_path / "bad")
    data = bytearray((bad / "model.weights.h5").read_bytes())
    data[-100] ^= 0xFF
    (bad / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"has sha256 .* not the .* of its metadata.json") as e:
        kerascnn.load(bad)
    assert "\n" not in str(e.value)


def test_newer_preset_is_refused(sign_preset: Path, tmp_path: Path):
    new = _copy(sign_preset, tmp_path / "new")
    meta = json.loads((new / "metadata.json").read_text())
    meta.update(format_version=99, kerascnn_version="9.0.0")
    (new / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"kerascnn 9\.0\.0 \(preset format 99\), newer.*upgrade"):
        kerascnn.load(new)


def test_preset_folder_of_other_files_is_refused(tmp_path: Path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files.*--force"):
        push("gesture_cnn:sign-digits", "hf://me/r", local_dir=tmp_path / "p", upload=False)
