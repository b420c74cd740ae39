"""Training defaults come from each model's card, and with them every zoo model learns."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest

import kerascnn
from kerascnn.training.config import TrainConfig
from kerascnn.training.settings import GENERIC, resolve_settings
from tests.image_folders import make_image_folder

ZOO = [m for m in kerascnn.list_models() if kerascnn.get_model_card(m).source == "kerascnn"]


def test_every_zoo_model_has_training_defaults():
    for name in ZOO:
        training = kerascnn.get_model_card(name).training
        assert {"epochs", "batch_size", "optimizer", "learning_rate", "schedule"} <= set(training)
        assert set(training) <= set(GENERIC), name


def test_a_flag_overrides_one_value_and_args_merge():
    config = TrainConfig(epochs=3, model_args={"filters": [8]})
    settings = resolve_settings("gesture_cnn", config)
    card = kerascnn.get_model_card("gesture_cnn").training
    assert settings["epochs"] == 3 and settings["optimizer"] == card["optimizer"]
    assert settings["model_args"] == {**card["model_args"], "filters": (8,)}
    assert (
        resolve_settings(kerascnn.create_model("gesture_cnn"), TrainConfig())["optimizer"] == "adam"
    )


# the big models take 15-25 s each on 2 CPUs: their own command, pytest -m slow
BIG = ("vgg16", "vgg16_bn", "alexnet_cifar")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in ZOO]
)
def test_loss_falls_with_the_card_defaults(name, tmp_path):
    tf = pytest.importorskip("tensorflow")  # noqa: F841 (the engine's tf.data pipeline)
    from kerascnn.training import engine

    card = kerascnn.get_model_card(name)
    side = max(card.min_input_size, 32)
    data = make_image_folder(tmp_path / "d", classes=2, per_class=8, size=side)
    small = card.params < 5_000_000  # a run folder of the big ones costs seconds of saving
    out = tmp_path / "run" if small else None
    history = engine.fit(
        name, data, epochs=6, image_size=(side, side), validation_split=0.0, output_dir=out,
        verbose=0,
    )  # fmt: skip
    losses = history.history["loss"]  # one step an epoch: SGD's first steps may overshoot
    assert min(losses[2:]) < losses[0], losses
    if small:
        args = json.loads((out / "args.json").read_text())
        assert args["optimizer"] == card.training["optimizer"] and args["epochs"] == 6


@pytest.mark.slow
def test_gesture_defaults_reach_97_percent_in_10_minutes(data_dir, tmp_path):
    """`kerascnn train gesture_cnn --data <sign-language-digits>` with nothing else."""
    images = data_dir / "sign-language-digits" / "images"
    env = {k: v for k, v in os.environ.items() if k != "KERASCNN_HOME"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", "--quiet", "train", "gesture_cnn",
         "--data", str(images), "--output", str(tmp_path / "run")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert float(rows[-1]["val_accuracy"]) >= 0.97 and seconds <= 600, (rows[-1], seconds)
