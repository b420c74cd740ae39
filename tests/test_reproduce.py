"""``kerascnn zoo reproduce``: a recipe reruns through the training engine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.zoo.recipes import RECIPES, get_recipe


def test_every_bundled_weight_has_a_recipe():
    for name in kerascnn.list_models():
        for variant, card in kerascnn.get_model_card(name).weights.items():
            if card.bundled:
                assert f"{name}:{variant}" in RECIPES
                recipe = get_recipe(f"{name}:{variant}")

                def weighted(args):  # dropout has no weights: recipes may train without it
                    return {
                        k: tuple(v) if isinstance(v, list) else v
                        for k, v in args.items()
                        if k != "dropout"
                    }

                assert weighted(recipe["model_args"]) == weighted(card.model_args)


def _digits(root, per_class=8):
    rng = np.random.default_rng(0)
    for digit in range(10):
        folder = root / str(digit)
        folder.mkdir(parents=True)
        for i in range(per_class):  # each class its own colour, so a short run can learn it
            base = np.full((64, 64, 3), (digit * 25, 255 - digit * 25, (digit * 70) % 255))
            noisy = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype("uint8")
            Image.fromarray(noisy).save(folder / f"img_{digit}_{i}.jpg")


def test_reproduce_runs_the_recipe_and_reports_it_beside_the_card(tmp_path, monkeypatch):
    from kerascnn.zoo.recipes import gesture_cnn_sign_digits as recipe

    monkeypatch.setitem(recipe.RECIPE, "epochs", 1)
    _digits(tmp_path / "data")
    out = tmp_path / "run"
    args = ["zoo", "reproduce", "gesture_cnn:sign-digits", "--data", str(tmp_path / "data")]
    result = CliRunner().invoke(cli, [*args, "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output[result.output.index("{") :])
    assert row["card_accuracy"] == 99.3 and row["card_test_images"] == 427
    assert row["test_images"] > 0 and 0.0 <= row["test_accuracy"] <= 1.0
    weights = out / "gesture_cnn_sign_digits.weights.h5"
    assert weights.is_file()
    model = kerascnn.create_model("gesture_cnn", weights=str(weights), batch_norm=True, hidden=64)
    assert model.output_shape == (None, 10)
    assert (out / "split.json").is_file()
    # run again: the finished run's result, not a second training (nor an error)
    before = weights.stat().st_mtime_ns
    again = CliRunner().invoke(cli, [*args, "--output", str(out)])
    assert again.exit_code == 0, again.output
    assert f"test accuracy {100 * row['test_accuracy']:.2f}%" in again.output
    assert "the recipe already ran in" in again.output and "another --output" in again.output
    assert weights.stat().st_mtime_ns == before


def test_result_json_keeps_overrides_as_json(tmp_path, monkeypatch):
    """A changed recipe is saved as the entries that differ, readable JSON (was a repr)."""
    import types

    from kerascnn.zoo import recipes

    published = {"epochs": 20, "bn_lr_mult": 1.0, "model_args": {"filters": [64]}}

    def run(data, output_dir, recipe=None, **kwargs):
        return {"accuracy": 0.9, "count": 10}

    fake = types.SimpleNamespace(RECIPE=published, run=run)
    monkeypatch.setattr(recipes, "_module", lambda spec: fake)
    changed = {**published, "epochs": 24, "bn_lr_mult": 64, "warmup_epochs": 6}
    printed = recipes.reproduce("x:y", tmp_path, tmp_path, recipe=changed, cache=tmp_path / "c")
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["overrides"]["recipe"] == {"epochs": 24, "bn_lr_mult": 64, "warmup_epochs": 6}
    assert saved["overrides"]["cache"] == repr(tmp_path / "c")  # not JSON: its repr
    assert saved["accuracy"] == printed["accuracy"] == 0.9


def test_reproduce_mistakes_are_one_line():
    result = CliRunner().invoke(cli, ["zoo", "reproduce", "vgg16:imagenet", "--data", "."])
    assert result.exit_code == 2 and "no recipe for 'vgg16:imagenet'" in result.output
    result = CliRunner().invoke(
        cli, ["zoo", "reproduce", "gesture_cnn:sign-digits", "--data", "/nonexistent"]
    )
    assert result.exit_code == 2 and "no such data" in result.output


@pytest.mark.slow
def test_full_gesture_recipe_reaches_the_card(data_dir, tmp_path):
    from kerascnn.zoo.recipes import reproduce

    result = reproduce(
        "gesture_cnn:sign-digits", data_dir / "sign-language-digits" / "images", tmp_path
    )
    assert result["count"] == 427
    assert result["accuracy"] >= 0.99
