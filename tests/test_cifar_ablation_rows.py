"""benchmarks/cifar_ablation.py's rows follow the recipe: a trick the recipe uses gets a row
that switches it off, one it leaves out gets none (fast: nothing is trained)."""

from __future__ import annotations

import sys

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from cifar_ablation import rows  # noqa: E402

from kerascnn.zoo.recipes.alexnet_cifar_cifar10 import RECIPE, with_overrides  # noqa: E402


def test_activation_row_only_for_a_gelu_recipe() -> None:
    assert rows(RECIPE)["ReLU, not GELU"] is None  # the recipe's ReLU
    gelu = with_overrides(RECIPE, {"model_args": {"activation": "gelu"}})
    off = rows(gelu)["ReLU, not GELU"]
    assert off == {"model_args": {"activation": "relu"}}
    assert with_overrides(gelu, off)["model_args"] == {**RECIPE["model_args"], "activation": "relu"}


def test_each_row_changes_the_recipe() -> None:
    found = {name: o for name, o in rows(RECIPE).items() if o is not None}
    assert found.pop("recipe") == {}
    assert "no whitening" in found and "no label smoothing" in found
    for name, overrides in found.items():
        assert with_overrides(RECIPE, overrides) != RECIPE, name
