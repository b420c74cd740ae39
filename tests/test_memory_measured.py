"""The training memory estimate against the peak memory TensorFlow measures on CPU."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from memory_estimate import run_case  # noqa: E402


@pytest.mark.parametrize(
    "case", ["gesture_cnn:64:64", pytest.param("alexnet_cifar:32:128", marks=pytest.mark.slow)]
)
def test_estimate_within_35_percent_of_measured_peak(case):
    """A real training step (TF executor, Adam), peak bytes from TF's BFC allocator on CPU."""
    result = run_case(case, jit=False)
    ratio = result["estimate"]["total"] / result["measured"]
    assert 0.65 <= ratio <= 1.35, result
