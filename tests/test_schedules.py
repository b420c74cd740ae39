"""The triangular learning-rate schedule and the ``schedule="triangular"`` setting."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from kerascnn.errors import UserError
from kerascnn.training.schedules import Triangular
from kerascnn.training.settings import build_optimizer


def _rates(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_triangular_rises_linearly_then_falls_to_zero():
    rates = _rates(Triangular(0.4, 10, 50), [0, 5, 10, 30, 50, 60])
    np.testing.assert_allclose(rates, [0.0, 0.2, 0.4, 0.2, 0.0, 0.0], atol=1e-7)


def test_triangular_without_warmup_starts_at_its_peak():
    np.testing.assert_allclose(_rates(Triangular(1.0, 0, 4), [0, 1, 4]), [1.0, 0.75, 0.0])


def test_triangular_survives_an_optimizer_round_trip():
    optimizer = keras.optimizers.SGD(learning_rate=Triangular(0.2, 3, 9))
    again = keras.optimizers.SGD.from_config(optimizer.get_config())
    assert isinstance(again._learning_rate, Triangular)
    np.testing.assert_allclose(_rates(again._learning_rate, [3, 6]), [0.2, 0.1], rtol=1e-6)


def test_the_triangular_setting_builds_the_schedule_per_step():
    settings = {"optimizer": "sgd", "learning_rate": 0.1, "schedule": "triangular",
                "epochs": 4, "warmup_epochs": 1, "weight_decay": None}  # fmt: skip
    optimizer = build_optimizer(settings, steps_per_epoch=10)
    schedule = optimizer._learning_rate
    assert (schedule.warmup_steps, schedule.total_steps) == (10, 40)


def test_triangular_with_warmup_as_long_as_the_run_is_a_user_error():
    settings = {"optimizer": "sgd", "learning_rate": 0.1, "schedule": "triangular",
                "epochs": 2, "warmup_epochs": 2, "weight_decay": None}  # fmt: skip
    with pytest.raises(UserError, match="lower warmup_epochs"):
        build_optimizer(settings, steps_per_epoch=10)


def test_fit_refuses_that_schedule_before_reading_any_data(tmp_path):
    import kerascnn

    with pytest.raises(UserError, match=r"warmup_epochs \(2\) must be fewer than epochs \(2\)"):
        kerascnn.fit("alexnet_cifar", tmp_path / "not-read", schedule="triangular", epochs=2,
                     warmup_epochs=2)  # fmt: skip


def test_a_saved_model_with_the_schedule_reloads_after_import_kerascnn(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(Triangular(0.3, 2, 8)), "mse")
    model.save(tmp_path / "m.keras")
    code = (
        "import kerascnn, keras; m = keras.saving.load_model(r'%s');"
        "print(type(m.optimizer._learning_rate).__name__, m.optimizer._learning_rate.peak)"
    ) % (tmp_path / "m.keras")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Triangular", "0.3"]
