"""`kerascnn train` and `kerascnn evaluate` on real photos; fit's options; one-line errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from kerascnn.cli.main import cli
from tests.image_folders import make_image_folder


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def digits(data_dir: Path, tmp_path: Path) -> Path:
    """12 real photos per class from the sign-language digits (a copy: fast to train on)."""
    source = data_dir / "sign-language-digits" / "images"
    if not source.is_dir():
        pytest.skip(f"{source} not found")
    for cls in sorted(p for p in source.iterdir() if p.is_dir()):
        (tmp_path / "digits" / cls.name).mkdir(parents=True)
        for photo in sorted(cls.iterdir())[:12]:
            shutil.copy(photo, tmp_path / "digits" / cls.name / photo.name)
    return tmp_path / "digits"


def test_train_then_evaluate_a_zoo_model_from_the_command_line(digits: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = run(
        "train", "gesture_cnn", "--data", str(digits), "--epochs", "2", "--batch-size", "16",
        "--image-size", "32", "32", "--arg", "filters=[8,16]", "--arg", "batch_norm=true",
        "--validation-split", "0.25", "--output", str(out), "--no-precise-bn",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "global batch 16 = 16 per replica x 1" in result.output
    # model.keras is the last epoch's model (precise BN, on by default at 6 steps an
    # epoch, would re-estimate its batch-norm statistics: tests/test_precise_bn.py)
    assert json.loads((out / "args.json").read_text())["precise_bn"] is False
    for name in ("model.keras", "best.keras", "history.csv", "history.png", "split.json"):
        assert (out / name).is_file(), name
    assert list((out / "logs").rglob("events.out.tfevents.*"))
    with Image.open(out / "history.png") as plot:  # loss and accuracy side by side
        assert plot.format == "PNG" and min(plot.size) >= 400
        assert len(json.loads(plot.text["kerascnn:axes"])) == 2
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]

    result = run("evaluate", str(out / "model.keras"), "--data", str(digits),
                 "--split", "validation", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    split = json.loads((out / "split.json").read_text())
    assert report["count"] == split["counts"]["validation"] > 0
    assert report["class_names"] == [str(d) for d in range(10)]
    # the same images, model and split as the last epoch's validation in training
    assert report["accuracy"] == pytest.approx(float(rows[-1]["val_accuracy"]), abs=1e-6)
    assert sum(map(sum, report["confusion"])) == report["count"]

    table = run("evaluate", str(out), "--data", str(digits), "--split", "validation")
    assert table.exit_code == 0 and "confusion matrix" in table.output
    assert f"{report['count']} images" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "gesture_cnm", "--data", "{data}"], "unknown model 'gesture_cnm'"),
        (["train", "gesture_cnn", "--data", "{data}/nope"], "no such folder"),
        (["train", "gesture_cnn", "--data", "{data}", "--arg", "x"], "has no argument 'x'"),
        (["evaluate", "vgg16_bn", "--data", "{data}"], "needs trained weights"),
        (["evaluate", "gesture_cnn", "--data", "{data}"], "the model predicts 10 classes"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, args: list[str], message: str):
    data = make_image_folder(tmp_path / "d", classes=2, per_class=3, size=8)
    result = run(*(a.format(data=data) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("policy", "scaled"), [("float16", True), ("bfloat16", False)])
def test_mixed_precision(tmp_path: Path, policy: str, scaled: bool):
    import keras

    from kerascnn.training import engine as train

    data = make_image_folder(tmp_path / "d", classes=2, per_class=8, size=16)
    history = train.fit("gesture_cnn", data, epochs=1, batch_size=8, image_size=(16, 16),
                        model_args={"filters": (4,), "hidden": 8}, mixed_precision=policy,
                        verbose=0)  # fmt: skip
    model = history.model
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is scaled
    assert model.get_layer("block1_conv1").compute_dtype == policy
    assert model.get_layer("block1_conv1").variable_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert history.history["loss"][0] == history.history["loss"][0]  # not NaN
