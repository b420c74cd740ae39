"""Precise BN in ``kerascnn train``: with few steps an epoch, the final model's batch-norm
statistics are re-estimated on the training images (``--no-precise-bn``: not)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kerascnn.cli.main import cli
from kerascnn.errors import UserError
from kerascnn.training import engine
from kerascnn.training.data import image_folder
from kerascnn.training.evaluate import evaluate
from tests.image_folders import make_image_folder

# 48 training images in batches of 16: 3 steps an epoch, 9 in all. Batch norm's moving
# averages (momentum 0.99) then hold about 9% of the statistics the weights were trained with.
TRAIN = [
    "--epochs", "3", "--batch-size", "16", "--lr", "0.01", "--image-size", "16", "16",
    "--arg", "filters=[4,8]", "--arg", "hidden=16", "--arg", "dropout=0", "--arg",
    "batch_norm=true", "--augment", "none", "--validation-split", "0", "--seed", "1",
]  # fmt: skip


def _train(data: Path, out: Path, *flags: str):
    result = CliRunner().invoke(
        cli, ["train", "gesture_cnn", "--data", str(data), *TRAIN, "--output", str(out), *flags]
    )
    assert result.exit_code == 0, result.output
    return result.output, json.loads((out / "args.json").read_text())


def test_few_steps_re_estimate_batch_norm_and_score_at_least_as_well(tmp_path: Path):
    data = make_image_folder(tmp_path / "d", classes=3, per_class=16, size=16, seed=1)
    printed, args = _train(data, tmp_path / "precise")
    assert "precise BN: batch-norm statistics re-estimated on the 48 training images " \
           "(3 steps per epoch < 50)" in printed  # fmt: skip
    assert args["precise_bn"] is True
    plain_printed, plain_args = _train(data, tmp_path / "plain", "--no-precise-bn")
    assert "precise BN" not in plain_printed and plain_args["precise_bn"] is False

    precise = keras.saving.load_model(tmp_path / "precise" / "model.keras")
    plain = keras.saving.load_model(tmp_path / "plain" / "model.keras")
    # the same seed: the same weights; only the batch-norm statistics differ
    for a, b in zip(precise.weights, plain.weights, strict=True):
        moving = "moving_" in a.path
        assert np.array_equal(a.numpy(), b.numpy()) != moving, a.path
    # by construction: the moving mean is now the mean over the training images (one pass)
    folder = image_folder(data, (16, 16), 0.0, 1)
    conv = keras.Model(precise.inputs, precise.get_layer("block1_conv1").output)
    features = np.concatenate([conv.predict_on_batch(x) for x, _ in folder.dataset("train")])
    np.testing.assert_allclose(
        precise.get_layer("block1_conv1_bn").moving_mean.numpy(),
        features.mean(axis=(0, 1, 2)),
        rtol=1e-4,
        atol=1e-6,
    )
    # the weights fit the training images with batch statistics; with the statistics
    # re-estimated, inference does too, and scores at least as well as the lagging averages
    with open(tmp_path / "precise" / "history.csv", newline="") as f:
        assert float(list(csv.DictReader(f))[-1]["accuracy"]) == 1.0
    scores = {
        name: evaluate(tmp_path / name, data, split="train")["accuracy"]
        for name in ("precise", "plain")
    }
    assert scores["precise"] == 1.0 >= scores["plain"], scores
    # best.keras is the best epoch's model as training left it, in both runs
    best = [keras.saving.load_model(tmp_path / n / "best.keras") for n in ("precise", "plain")]
    for a, b in zip(best[0].weights, best[1].weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_auto_skips_a_model_without_batch_norm_and_true_needs_one(tmp_path: Path, capsys):
    data = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=8)
    fit = {"epochs": 1, "batch_size": 4, "image_size": (8, 8), "validation_split": 0.0,
           "model_args": {"filters": (2,), "hidden": 4, "batch_norm": False}}  # fmt: skip
    engine.fit("gesture_cnn", data, output_dir=tmp_path / "o", verbose=1, **fit)
    assert json.loads((tmp_path / "o" / "args.json").read_text())["precise_bn"] is False
    assert "precise BN" not in capsys.readouterr().out
    with pytest.raises(UserError, match="no BatchNormalization layers; drop precise_bn=True"):
        engine.fit("gesture_cnn", data, precise_bn=True, verbose=0, **fit)
    with pytest.raises(UserError, match="precise_bn must be True, False or 'auto', got 'yes'"):
        engine.fit("gesture_cnn", data, precise_bn="yes", verbose=0, **fit)
