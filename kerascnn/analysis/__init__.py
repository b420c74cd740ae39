"""Looking inside a network: the per-layer table and the training-memory planner."""

from kerascnn.analysis.layer_table import LayerRow, LayerTable, dtype_size, layer_table
from kerascnn.analysis.memory import MemoryEstimate, max_batch_size, memory_estimate

__all__ = [
    "LayerRow",
    "LayerTable",
    "MemoryEstimate",
    "dtype_size",
    "layer_table",
    "max_batch_size",
    "memory_estimate",
]
