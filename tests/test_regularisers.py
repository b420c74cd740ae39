"""Weight decay and label smoothing out of range fail before any work, in every trainer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import kerascnn
from kerascnn.errors import UserError
from kerascnn.training.settings import check_regularisers

BAD_DECAY = (-1e-3, math.nan, math.inf, True, "5e-4")
BAD_SMOOTHING = (-0.1, 1.0, 2, math.nan, "0.1")


def test_the_ranges() -> None:
    for decay in BAD_DECAY:
        with pytest.raises(UserError, match=r"weight_decay must be a number >= 0, got .*; e\.g\."):
            check_regularisers(decay, None)
    for smoothing in BAD_SMOOTHING:
        with pytest.raises(UserError, match=r"label_smoothing must be a number in \[0, 1\), got"):
            check_regularisers(None, smoothing)
    for decay, smoothing in ((None, None), (0, 0.0), (5e-3, 0.2), (1, 0.99)):
        check_regularisers(decay, smoothing)  # no error


@pytest.mark.parametrize("trainer", ["fit", "finetune"])
def test_trainers_refuse_them_before_reading_data(trainer: str, tmp_path: Path) -> None:
    train = getattr(kerascnn, trainer)
    out = tmp_path / "run"
    # the data folder does not exist: a data error would mean the check came too late
    with pytest.raises(UserError, match="weight_decay must be"):
        train("alexnet_cifar", tmp_path / "nowhere", weight_decay=-1.0, output_dir=out)
    with pytest.raises(UserError, match="label_smoothing must be"):
        train("alexnet_cifar", tmp_path / "nowhere", label_smoothing=1.0, output_dir=out)
    assert not out.exists()
