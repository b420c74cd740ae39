"""The weights shipped inside the package: intact, loadable offline, as accurate as their card."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.training.data import split_of

EXAMPLES = Path(str(resources.files("kerascnn.zoo") / "examples"))


def _bundled():
    for name in kerascnn.list_models():
        for variant, card in kerascnn.get_model_card(name).weights.items():
            if card.bundled:
                yield name, variant, card


BUNDLED = list(_bundled())


def test_gesture_weights_are_bundled():
    assert ("gesture_cnn", "sign-digits") in [(n, v) for n, v, _ in BUNDLED]


@pytest.mark.parametrize(("name", "variant", "card"), BUNDLED, ids=lambda x: str(x)[:20])
def test_bundled_file_matches_its_card_and_loads_offline(name, variant, card, monkeypatch):
    path = Path(str(resources.files("kerascnn.zoo") / card.file))
    data = path.read_bytes()
    assert card.hash == "sha256:" + hashlib.sha256(data).hexdigest()
    assert card.size == len(data)
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    model = kerascnn.create_model(f"{name}:{variant}")
    assert model.output_shape == (None, len(card.classes))


def test_predict_reads_the_example_digits_offline(monkeypatch):
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    images = sorted(EXAMPLES.glob("sign_digit_*.jpg"))
    assert len(images) == 3
    result = CliRunner().invoke(
        cli, ["predict", "gesture_cnn:sign-digits", *map(str, images), "--top", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    for image, row in zip(images, rows, strict=True):
        assert row["predictions"][0]["label"] == image.stem[-1]
        assert row["predictions"][0]["probability"] > 0.9


def test_held_out_sample_stays_within_a_point_of_the_card(data_dir):
    card = kerascnn.get_model_card("gesture_cnn").weights["sign-digits"]
    root = data_dir / "sign-language-digits" / "images"
    split = card.split
    held_out = sorted(
        f"{p.parent.name}/{p.name}"
        for p in root.glob("*/*")
        if split_of(p.name, split["seed"], split["validation_split"], split["test_split"]) == "test"
    )
    assert len(held_out) == card.accuracy["test_images"]
    sample = held_out[::4][:100]  # a fixed sample of 100 held-out photos
    results = kerascnn.predict("gesture_cnn:sign-digits", [str(root / s) for s in sample], top=1)
    accuracy = 100 * np.mean(
        [r[0].label == s.split("/")[0] for s, r in zip(sample, results, strict=True)]
    )
    assert abs(accuracy - card.accuracy["top1"]) <= 1.0, accuracy
