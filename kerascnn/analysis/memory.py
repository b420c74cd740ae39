"""Training memory planner: weights, gradients, optimizer slots and the activations the
backward pass keeps (docs/inside.md, "Training memory"); the framework and input pipeline
are not counted.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from kerascnn import compat
from kerascnn.analysis.layer_table import dtype_size, layer_table
from kerascnn.errors import UserError

if TYPE_CHECKING:
    import keras

__all__ = ["MemoryEstimate", "format_bytes", "max_batch_size", "memory_estimate", "parse_memory"]

# optimizer name -> slot variables per trainable weight
OPTIMIZER_SLOTS = {"sgd": 0, "adagrad": 1, "rmsprop": 1, "lion": 1}
OPTIMIZER_SLOTS |= dict.fromkeys(
    ("adam", "adamw", "nadam", "adamax", "adadelta", "ftrl", "lamb"), 2
)
MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


@dataclass
class MemoryEstimate:
    """Bytes a training step needs, by kind; ``total`` is their sum."""

    batch_size: int
    weights: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def as_dict(self) -> dict[str, int]:
        """The fields and the total (for JSON)."""
        return {**asdict(self), "total": self.total}


def parse_memory(memory: int | str) -> int:
    """``"16GiB"`` / ``"16 GB"`` / ``"512MiB"`` / ``17179869184`` -> bytes."""
    if isinstance(memory, int) and not isinstance(memory, bool):
        value = memory
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", str(memory), re.I)
        if not match:
            raise UserError(f"memory must be a size, got {memory!r}; e.g. 16GiB, 512MB or 1000000")
        number, unit, binary = match.groups()
        power = "bkmgt".index(unit.lower() or "b")
        value = int(float(number) * (1024 if binary else 1000) ** power)
    if value <= 0:
        raise UserError(f"memory must be positive, got {memory!r}; e.g. 16GiB")
    return value


def format_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _slots(optimizer: str | keras.optimizers.Optimizer) -> int:
    """Slot variables per trainable weight for an optimizer name or instance."""
    name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__
    key = name.lower().replace("_", "")
    if key not in OPTIMIZER_SLOTS:
        raise UserError(
            f"unknown optimizer {name!r}; the planner knows {', '.join(sorted(OPTIMIZER_SLOTS))}"
        )
    slots = OPTIMIZER_SLOTS[key]
    if isinstance(optimizer, str):
        return slots
    momentum = key in ("sgd", "rmsprop") and bool(getattr(optimizer, "momentum", 0))
    flags = ("amsgrad", "centered", "use_ema")
    return slots + momentum + sum(bool(getattr(optimizer, flag, False)) for flag in flags)


def memory_estimate(
    model: keras.Model,
    batch_size: int,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    mixed_precision: str | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
) -> MemoryEstimate:
    """Estimate the memory of one training step; see the module docstring for what is counted.

    Args:
        model, batch_size: the model and the examples per step.
        optimizer: a name (``"adam"``, ``"sgd"``, ...) or a Keras optimizer instance.
        mixed_precision: ``None`` (as built), ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        input_shape: as for ``layer_table``.
    """
    if mixed_precision not in (None, *MIXED_POLICIES):
        raise UserError(
            f"unknown mixed_precision {mixed_precision!r}; "
            "use None, 'mixed_float16' or 'mixed_bfloat16'"
        )
    slots = _slots(optimizer)
    dtype = "float16" if mixed_precision else None
    table = layer_table(model, batch_size, dtype, input_shape=input_shape)
    trainable = [(math.prod(v.shape), dtype_size(v.dtype)) for v in model.trainable_variables]
    weights = sum(math.prod(v.shape) * dtype_size(v.dtype) for v in model.variables)
    if mixed_precision or _built_mixed(model):
        weights += sum(n * 2 for n, _ in trainable)
    gradients = sum(n * size for n, size in trainable)
    return MemoryEstimate(
        batch_size=batch_size,
        weights=weights,
        gradients=gradients,
        optimizer_state=slots * gradients,
        activations=table.kept_bytes + 2 * table.largest_bytes,
    )


def _built_mixed(model: keras.Model) -> bool:
    """Whether the model was built under a mixed policy (16-bit compute, 32-bit weights)."""
    return any(
        getattr(getattr(layer, "dtype_policy", None), "name", None) in MIXED_POLICIES
        for layer in compat.flatten_layers(model)
    )


def max_batch_size(
    model: keras.Model,
    memory: int | str = "16GiB",
    optimizer: str | keras.optimizers.Optimizer = "adam",
    mixed_precision: str | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
) -> int:
    """The largest batch whose ``memory_estimate`` fits in ``memory``.

    Args:
        model, optimizer, mixed_precision, input_shape: as for :func:`memory_estimate`.
        memory: bytes, or a size such as ``"16GiB"``.
    """
    budget = parse_memory(memory)
    one = memory_estimate(model, 1, optimizer, mixed_precision, input_shape=input_shape)
    fixed = one.weights + one.gradients + one.optimizer_state
    if fixed + one.activations > budget:
        raise UserError(
            f"{model.name}: even a batch of 1 needs {format_bytes(fixed + one.activations)} "
            f"(weights, gradients and optimizer state {format_bytes(fixed)}), more than "
            f"{format_bytes(budget)}; use more memory, mixed precision or a smaller input"
        )
    return (budget - fixed) // one.activations
