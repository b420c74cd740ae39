"""``bn_lr_mult``: batch-norm variables learn faster than the rest (airbench's 64x for
batch-norm biases) through a ``keras.optimizers.MultiOptimizer``, their weight decay per step
unchanged; the setting reaches ``args.json`` and a resumed run."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kerascnn.cli.main import cli
from kerascnn.errors import UserError
from kerascnn.training.settings import build_optimizer
from tests.image_folders import make_image_folder


def _net() -> keras.Model:
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def _step(mult: float, weight_decay: float | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The weights before and after one SGD step (no momentum) from the same start."""
    keras.utils.set_random_seed(1)
    model = _net()
    settings = {"optimizer": "sgd", "learning_rate": 0.01, "schedule": "constant", "epochs": 1,
                "warmup_epochs": 0, "weight_decay": weight_decay, "bn_lr_mult": mult}  # fmt: skip
    model.compile(optimizer=build_optimizer(settings, 10, model), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6, 6, 3)), rng.normal(size=(8, 2))
    before = [w.numpy() for w in model.trainable_weights]
    model.train_on_batch(x, y)
    return before, [w.numpy() for w in model.trainable_weights]


@pytest.mark.backend
def test_batch_norm_variables_take_steps_mult_times_as_long() -> None:
    names = [w.path for w in _net().trainable_weights]
    before, plain = _step(1.0, None)
    _, fast = _step(64.0, None)
    for name, b, p, f in zip(names, before, plain, fast, strict=True):
        moved, moved_fast = p - b, f - b
        assert np.abs(moved).max() > 0, name
        factor = 64.0 if name.startswith("bn/") else 1.0
        np.testing.assert_allclose(moved_fast, factor * moved, rtol=1e-3, atol=1e-7, err_msg=name)


def test_the_decay_per_step_stays_the_same() -> None:
    """Keras decays ``lr x weight_decay`` a step: the fast copy's decay is divided back."""
    model = _net()
    settings = {"optimizer": "sgd", "learning_rate": 0.5, "schedule": "constant", "epochs": 1,
                "warmup_epochs": 0, "weight_decay": 1e-3, "bn_lr_mult": 64}  # fmt: skip
    optimizer = build_optimizer(settings, 10, model)
    assert isinstance(optimizer, keras.optimizers.MultiOptimizer)
    slow, fast = sorted(optimizer.optimizers, key=lambda o: float(o.learning_rate))
    assert float(fast.learning_rate) == pytest.approx(32.0)
    assert float(slow.learning_rate) == pytest.approx(0.5)
    assert fast.weight_decay * float(fast.learning_rate) == pytest.approx(5e-4)
    assert slow.weight_decay * float(slow.learning_rate) == pytest.approx(5e-4)


def test_one_rate_without_batch_norm_or_model() -> None:
    settings = {"optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant", "epochs": 1,
                "warmup_epochs": 0, "weight_decay": None, "bn_lr_mult": 64}  # fmt: skip
    assert isinstance(build_optimizer(settings, 5), keras.optimizers.Adam)
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert isinstance(build_optimizer(settings, 5, dense), keras.optimizers.Adam)


@pytest.mark.backend
def test_a_run_records_the_multiplier_and_resumes_with_it(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "d", classes=3, per_class=12, size=12)
    args = ["train", "alexnet_cifar", "--data", str(data), "--output", str(tmp_path / "run"),
            "--image-size", "12", "12", "--batch-size", "6", "--optimizer", "sgd", "--lr", "0.01",
            "--bn-lr-mult", "64", "--augment", "none", "--arg", "filters=[4,8]",
            "--arg", 'norm="bn"', "--arg", "dense=[]"]  # fmt: skip
    first = CliRunner().invoke(cli, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    assert json.loads((tmp_path / "run" / "args.json").read_text())["bn_lr_mult"] == 64
    more = CliRunner().invoke(cli, [*args, "--epochs", "2", "--resume"])
    assert more.exit_code == 0, more.output
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=True)
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)
    assert int(model.optimizer.iterations) == 2 * 6  # batches of 6, 6 steps an epoch


def test_bad_multipliers_fail_first(tmp_path: Path) -> None:
    import kerascnn

    with pytest.raises(UserError, match=r"bn_lr_mult must be a positive number, got -1; e\.g\."):
        kerascnn.fit("alexnet_cifar", tmp_path / "nowhere", bn_lr_mult=-1)
    result = CliRunner().invoke(cli, ["train", "alexnet_cifar", "--data", str(tmp_path),
                                      "--bn-lr-mult", "0"])  # fmt: skip
    assert result.exit_code == 2 and "--bn-lr-mult" in result.output
    with pytest.raises(UserError, match="drop bn_lr_mult"):
        kerascnn.finetune("alexnet_cifar", tmp_path, bn_lr_mult=8)
    assert "--bn-lr-mult" not in CliRunner().invoke(cli, ["finetune", "--help"]).output
