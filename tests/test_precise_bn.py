"""Precise BN: batch-norm statistics re-estimated before every validation, so the numbers the
engine logs are those of the files it saves (``model.keras``, ``best.keras``), on short runs
(a few dozen steps an epoch) and long ones, for every zoo model with batch norm."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kerascnn.cli.main import cli
from kerascnn.errors import UserError
from kerascnn.training import engine
from kerascnn.training.batchnorm import precise_bn_batches
from kerascnn.training.evaluate import evaluate
from tests.image_folders import make_image_folder

# zoo models with batch norm, made small; the big ones train a few steps only (slow)
SMALL = {
    "gesture_cnn": ["--arg", "filters=[4,8]", "--arg", "hidden=16", "--arg", "batch_norm=true"],
    "alexnet_cifar": ["--arg", "filters=[8,16]", "--arg", 'norm="bn"', "--arg", "dense=[16]"],
}
BIG = {"vgg16_bn": (32, []), "alexnet": (63, ["--arg", "batch_norm=true"])}


def _grey_levels(root: Path, per_class: int, size: int, seed: int = 0) -> Path:
    """Three classes told apart by brightness alone (grey 70, 120, 170, noise sd 12): with
    stale batch-norm statistics the boundaries shift and inference falls apart."""
    rng = np.random.default_rng(seed)
    for level in (70, 120, 170):
        (root / f"g{level}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(level, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"g{level}" / f"{i:03d}.png")
    return root


def _train(data: Path, out: Path, model: str, *flags: str) -> list[dict[str, str]]:
    args = ["train", model, "--data", str(data), "--output", str(out), "--augment", "none",
            "--lr", "0.01", "--optimizer", "adam", "--arg", "dropout=0", *flags]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with open(out / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _agree(run: Path, data: Path, history: list[dict[str, str]]) -> None:
    """The last logged val_accuracy is model.keras's score; best.keras scores what was logged
    for its epoch."""
    saved = evaluate(run, data, split="validation").accuracy
    assert abs(saved - float(history[-1]["val_accuracy"])) <= 0.01, (saved, history[-1])
    epoch = json.loads((run / "best.json").read_text())["epoch"]
    best = evaluate(run / "best.keras", data, split="validation").accuracy
    assert abs(best - float(history[epoch]["val_accuracy"])) <= 0.01, (best, history[epoch])


@pytest.mark.backend
@pytest.mark.parametrize("model", sorted(SMALL))
def test_short_run_logs_what_the_saved_files_score(model: str, tmp_path: Path) -> None:
    data = _grey_levels(tmp_path / "d", per_class=40, size=16)
    flags = ["--epochs", "3", "--batch-size", "4", "--image-size", "16", "16", *SMALL[model]]
    history = _train(data, tmp_path / "run", model, *flags)  # 24 steps an epoch
    _agree(tmp_path / "run", data, history)
    # the statistics fit the weights: inference on the training images does as well as the
    # last epoch's training (batch statistics, no augmentation, no dropout)
    train = evaluate(tmp_path / "run", data, split="train").accuracy
    assert train >= float(history[-1]["accuracy"]) - 0.05, (train, history[-1])


@pytest.mark.slow  # the short-run tests cover the same logging
@pytest.mark.backend
def test_long_run_logs_what_the_saved_files_score(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=4, per_class=250, size=8, seed=2)
    flags = ["--epochs", "2", "--batch-size", "4", "--image-size", "8", "8",
             "--save-freq", "100", *SMALL["gesture_cnn"]]  # fmt: skip
    history = _train(data, tmp_path / "run", "gesture_cnn", *flags)  # 200 steps an epoch
    assert len(history) == 2
    _agree(tmp_path / "run", data, history)


def test_without_precise_bn_the_lagging_averages_stay(tmp_path: Path) -> None:
    """The same short run with --no-precise-bn: the moving averages (momentum 0.99) still hold
    mostly their initial values, and inference on the training images falls far below training
    accuracy; precise BN is what closes that gap."""
    data = _grey_levels(tmp_path / "d", per_class=40, size=16)
    flags = ["--epochs", "3", "--batch-size", "4", "--image-size", "16", "16",
             *SMALL["gesture_cnn"], "--no-precise-bn"]  # fmt: skip
    history = _train(data, tmp_path / "run", "gesture_cnn", *flags)
    train = evaluate(tmp_path / "run", data, split="train").accuracy
    assert train < float(history[-1]["accuracy"]) - 0.2, (train, history[-1])
    assert json.loads((tmp_path / "run" / "args.json").read_text())["precise_bn"] is False


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(BIG))
def test_big_zoo_models_log_what_they_save(model: str, tmp_path: Path) -> None:
    size, extra = BIG[model]
    data = make_image_folder(tmp_path / "d", classes=2, per_class=12, size=size, seed=3)
    flags = ["--epochs", "1", "--batch-size", "4", "--image-size", str(size), str(size),
             "--lr", "1e-4", *extra]  # fmt: skip
    _agree(tmp_path / "run", data, _train(data, tmp_path / "run", model, *flags))


def test_precise_bn_uses_a_tenth_of_an_epoch() -> None:
    assert [precise_bn_batches(n) for n in (1, 3, 24, 50, 391, 10_000)] == [1, 1, 3, 5, 40, 200]


def test_auto_skips_a_model_without_batch_norm_and_true_needs_one(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=8)
    fit = {"epochs": 1, "batch_size": 4, "image_size": (8, 8), "validation_split": 0.0,
           "model_args": {"filters": (2,), "hidden": 4, "batch_norm": False}}  # fmt: skip
    engine.fit("gesture_cnn", data, output_dir=tmp_path / "o", verbose=0, **fit)
    with pytest.raises(UserError, match="no BatchNormalization layers; drop precise_bn=True"):
        engine.fit("gesture_cnn", data, precise_bn=True, verbose=0, **fit)
    with pytest.raises(UserError, match="precise_bn must be True, False or 'auto', got 'yes'"):
        engine.fit("gesture_cnn", data, precise_bn="yes", verbose=0, **fit)


@pytest.mark.backend
def test_a_variable_frozen_on_its_own_stays_frozen_through_a_run(tmp_path: Path) -> None:
    """Precise BN sets its layers trainable for a pass and back; Keras' ``layer.trainable``
    sets every variable's flag, which once unfroze a scale frozen alone: the next epoch's
    JAX step then had more trainable variables than its optimizer."""
    import keras

    def build() -> keras.Model:
        inputs = keras.Input((12, 12, 3))
        x = keras.layers.Conv2D(4, 3, name="conv")(keras.layers.Rescaling(1 / 255)(inputs))
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
        model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
        model.get_layer("bn").gamma.trainable = False
        return model

    data = _grey_levels(tmp_path / "d", per_class=12, size=12)
    result = engine.fit(build, data, image_size=(12, 12), epochs=2, batch_size=6,
                        optimizer="sgd", output_dir=tmp_path / "o", verbose=0)  # fmt: skip
    bn = result.model.get_layer("bn")
    assert not bn.gamma.trainable and bn.beta.trainable and bn.trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.gamma), 1.0)
    assert len(result.history["val_accuracy"]) == 2
