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
    """Keras decays ``lr x weight_decay`` a step: with no gradient, one step shrinks the
    batch-norm and the other variables by the same factor."""
    keras.utils.set_random_seed(2)
    model = _net()
    for w in model.trainable_weights:  # beta starts at 0 and gamma at 1: make them differ
        w.assign(np.random.default_rng(3).uniform(0.5, 1.5, w.shape).astype("float32"))
    settings = {"optimizer": "sgd", "learning_rate": 0.5, "schedule": "constant", "epochs": 1,
                "warmup_epochs": 0, "weight_decay": 1e-2, "bn_lr_mult": 64}  # fmt: skip
    optimizer = build_optimizer(settings, 10, model)
    assert isinstance(optimizer, keras.optimizers.MultiOptimizer)
    before = [w.numpy() for w in model.trainable_weights]
    optimizer.apply([np.zeros(w.shape, "float32") for w in model.trainable_weights],
                    model.trainable_weights)  # fmt: skip
    for w, b in zip(model.trainable_weights, before, strict=True):
        np.testing.assert_allclose(w.numpy(), b * (1 - 0.5 * 1e-2), rtol=1e-6, err_msg=w.path)


def test_variables_excluded_from_decay_stay_excluded() -> None:
    model = _net()
    base = keras.optimizers.SGD(0.5, weight_decay=1e-2)
    base.exclude_from_weight_decay(var_names=["beta"])
    settings = {"optimizer": base, "bn_lr_mult": 8}
    optimizer = build_optimizer(settings, 10, model)
    beta = next(w for w in model.trainable_weights if w.path == "bn/beta")
    beta.assign(np.ones(beta.shape, "float32"))
    optimizer.apply([np.zeros(w.shape, "float32") for w in model.trainable_weights],
                    model.trainable_weights)  # fmt: skip
    np.testing.assert_array_equal(beta.numpy(), np.ones(beta.shape, "float32"))


def test_one_rate_without_batch_norm_or_model() -> None:
    settings = {"optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant", "epochs": 1,
                "warmup_epochs": 0, "weight_decay": None, "bn_lr_mult": 64}  # fmt: skip
    assert isinstance(build_optimizer(settings, 5), keras.optimizers.Adam)
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert isinstance(build_optimizer(settings, 5, dense), keras.optimizers.Adam)


def _train_args(tmp_path: Path, *more: str) -> list[str]:
    data = make_image_folder(tmp_path / "d", classes=3, per_class=12, size=12)
    return ["train", "alexnet_cifar", "--data", str(data), "--output", str(tmp_path / "run"),
            "--image-size", "12", "12", "--batch-size", "6", "--optimizer", "sgd", "--lr", "0.01",
            "--schedule", "triangular", "--warmup-epochs", "1", "--augment", "none",
            "--arg", "filters=[4,8]", "--arg", 'norm="bn"', "--arg", "dense=[]", *more]  # fmt: skip


@pytest.mark.backend
def test_a_run_records_the_multiplier_and_resumes_with_it(tmp_path: Path) -> None:
    args = _train_args(tmp_path, "--bn-lr-mult", "64")
    first = CliRunner().invoke(cli, [*args, "--epochs", "2"])
    assert first.exit_code == 0, first.output
    assert json.loads((tmp_path / "run" / "args.json").read_text())["bn_lr_mult"] == 64
    more = CliRunner().invoke(cli, [*args, "--epochs", "3", "--resume"])
    assert more.exit_code == 0, more.output
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=True)
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)
    # batches of 6, 6 steps an epoch: both rates' optimizers (and schedules) went on counting
    assert [int(o.iterations) for o in model.optimizer.optimizers] == [18, 18]


def test_runs_from_before_the_setting_resume(tmp_path: Path) -> None:
    """An ``args.json`` written before ``bn_lr_mult`` existed trained at one rate: resumable."""
    args = _train_args(tmp_path)
    assert CliRunner().invoke(cli, [*args, "--epochs", "2"]).exit_code == 0
    record = tmp_path / "run" / "args.json"
    old = json.loads(record.read_text())
    del old["bn_lr_mult"]
    record.write_text(json.dumps(old))
    more = CliRunner().invoke(cli, [*args, "--epochs", "3", "--resume"])
    assert more.exit_code == 0, more.output
    other = CliRunner().invoke(cli, [*args, "--epochs", "4", "--resume", "--bn-lr-mult", "8"])
    assert other.exit_code != 0 and "bn_lr_mult: 1.0 -> 8.0" in other.output


def test_bad_multipliers_fail_first(tmp_path: Path) -> None:
    import kerascnn

    for bad in (-1, 0, float("nan"), float("inf"), True, "64"):
        with pytest.raises(UserError, match=r"bn_lr_mult must be a number above 0, got .*; give"):
            kerascnn.fit("alexnet_cifar", tmp_path / "nowhere", bn_lr_mult=bad)
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())
    with pytest.raises(UserError, match="needs a plain Keras optimizer, got a LossScaleOptimizer"):
        build_optimizer({"optimizer": wrapped, "bn_lr_mult": np.float32(64)}, 1, _net())
    result = CliRunner().invoke(cli, ["train", "alexnet_cifar", "--data", str(tmp_path),
                                      "--bn-lr-mult", "0"])  # fmt: skip
    assert result.exit_code == 2 and "--bn-lr-mult" in result.output
    with pytest.raises(UserError, match="drop bn_lr_mult"):
        kerascnn.finetune("alexnet_cifar", tmp_path, bn_lr_mult=8)
    assert "--bn-lr-mult" not in CliRunner().invoke(cli, ["finetune", "--help"]).output
