"""A real, tiny run folder of ``kerascnn.fit`` (gesture_cnn at 16x16, one epoch, a test
split) for the preset and hub tests, and helpers to compare two models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.image_folders import make_image_folder

__all__ = ["same_weights", "tiny_run_fixture"]


@pytest.fixture(scope="module", name="tiny_run")
def tiny_run_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``(run folder, data folder)`` of a one-epoch training run."""
    from kerascnn.training import engine

    root = tmp_path_factory.mktemp("tiny_run")
    data = make_image_folder(root / "data", classes=3, per_class=12, size=16)
    engine.fit("gesture_cnn", data, output_dir=root / "run", epochs=1, batch_size=8,
               image_size=(16, 16), model_args={"filters": (4,), "hidden": 8},
               validation_split=0.25, test_split=0.25, verbose=0)  # fmt: skip
    yield root / "run"


def same_weights(a: object, b: object) -> bool:
    """Whether two Keras models hold identical weights (every array, bit for bit)."""
    wa, wb = a.get_weights(), b.get_weights()  # type: ignore[attr-defined]
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
