"""Look inside a network: one row per layer with its output shape, activations and parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LayerRow", "LayerTable", "layer_table"]


@dataclass
class LayerRow:
    """One layer: its output shape (batch excluded), activation count and parameter count."""

    name: str
    type: str
    output_shape: tuple[int | None, ...]
    activations: int
    params: int


@dataclass
class LayerTable:
    """The rows of ``layer_table`` and their totals."""

    rows: list[LayerRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_activations(self) -> int:
        return sum(r.activations for r in self.rows)


def _shape(layer: Any) -> tuple[int | None, ...]:
    shape = layer.output.shape if hasattr(layer, "output") else layer.output_shape
    return tuple(shape[1:])


def layer_table(model: Any) -> LayerTable:
    """Per-layer output shape, activations (values per example) and parameters of ``model``."""
    table = LayerTable()
    for layer in model.layers:
        shape = _shape(layer)
        activations = math.prod(d for d in shape if d is not None) if shape else 0
        table.rows.append(
            LayerRow(layer.name, type(layer).__name__, shape, activations, layer.count_params())
        )
    return table
