"""Per layer of a Keras model: output shape, activations, their bytes, parameters and MACs.

Nested models are expanded; custom layers are one row with 0 MACs. ``LayerRow.kept`` marks
the outputs a training step keeps for the backward pass (docs/inside.md, "Layer by layer").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kerascnn import compat
from kerascnn.errors import UserError

if TYPE_CHECKING:
    import keras

__all__ = ["LayerRow", "LayerTable", "dtype_size", "layer_table"]


@dataclass
class LayerRow:
    """One layer call: output shape (batch excluded), activations, bytes, parameters, MACs."""

    name: str
    type: str
    output_shape: tuple[int | None, ...]
    activations: int
    activation_bytes: int
    params: int
    macs: int
    kept: bool = False


@dataclass
class LayerTable:
    """The rows of ``layer_table`` and their totals (for ``batch_size`` examples)."""

    rows: list[LayerRow] = field(default_factory=list)
    batch_size: int = 1

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_activations(self) -> int:
        return sum(r.activations for r in self.rows)

    @property
    def total_activation_bytes(self) -> int:
        return sum(r.activation_bytes for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def kept_bytes(self) -> int:
        """Bytes of the outputs a training step keeps for the backward pass."""
        return sum(r.activation_bytes for r in self.rows if r.kept)

    @property
    def largest_bytes(self) -> int:
        """Bytes of the largest single output (a gradient of that size exists in backward)."""
        return max((r.activation_bytes for r in self.rows), default=0)


def dtype_size(dtype: str) -> int:
    """Bytes per value of a dtype name (``float32`` 4, ``bfloat16`` 2, ``bool`` 1)."""
    import keras

    name = keras.backend.standardize_dtype(dtype)
    bits = re.search(r"\d+", name)
    return max(1, int(bits.group()) // 8) if bits else 1


# layer types by what their gradient needs (by class name, so custom look-alikes count too)
_NEEDS_OUTPUT = {"ReLU", "ELU", "Softmax", "Dropout", "SpatialDropout2D", "MaxPooling2D"}
_VIEWS = {"Flatten", "Reshape"}  # outputs alias their input: no memory of their own
_NEEDS_NOTHING = {  # to compute their gradient (those in _NEEDS_OUTPUT need their output)
    *_VIEWS,
    *(_NEEDS_OUTPUT - {"MaxPooling2D"}),
    *("Activation", "InputLayer", "Rescaling", "Identity", "Add", "Subtract", "Concatenate"),
    *("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping2D"),
    *("AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"),
}


def _activation_kept(op: keras.Operation) -> bool:
    """Whether the layer's own output is needed for its gradient."""
    if type(op).__name__ in _NEEDS_OUTPUT:
        return True
    activation = getattr(op, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") != "linear"


def _values(spec: keras.KerasTensor, where: str) -> int:
    shape = tuple(spec.shape[1:])
    if any(d is None for d in shape):
        raise UserError(
            f"{where} has an output of unknown size {shape}; "
            "build the model with a fixed input shape (or pass input_shape=(H, W, C))",
            arguments={"input_shape=(H, W, C)": "input_shape"},
        )
    return math.prod(shape)


def _macs(op: keras.Operation, inputs: list[keras.KerasTensor], output_values: int) -> int:
    """Multiply-accumulates of one example through ``op`` (0 for non-linear-algebra layers)."""
    from keras import layers

    if isinstance(op, layers.SeparableConv1D | layers.SeparableConv2D):
        kernels = math.prod(op.depthwise_kernel.shape) + math.prod(op.pointwise_kernel.shape)
        return output_values // op.filters * kernels
    if isinstance(op, layers.DepthwiseConv1D | layers.DepthwiseConv2D):
        return output_values * math.prod(op.kernel.shape[:-2])
    if isinstance(op, layers.Conv1DTranspose | layers.Conv2DTranspose | layers.Conv3DTranspose):
        return math.prod(inputs[0].shape[1:]) * math.prod(op.kernel.shape[:-1])
    if isinstance(op, layers.Conv1D | layers.Conv2D | layers.Conv3D | layers.Dense):
        return output_values * math.prod(op.kernel.shape[:-1])
    return 0


class _Walker:
    """Propagates symbolic shapes through a model's graph, one row per layer call."""

    def __init__(self, batch_size: int, dtype: str | None) -> None:
        self.table = LayerTable(batch_size=batch_size)
        self.dtype = dtype
        self.seen: set[int] = set()
        self.producer: dict[int, LayerRow] = {}

    def row(
        self, op: keras.Operation, name: str, inputs: list[keras.KerasTensor], outputs: object
    ) -> None:
        import keras

        flat = keras.tree.flatten(outputs)
        values = sum(_values(o, f"layer {name!r}") for o in flat)
        size = dtype_size(self.dtype or flat[0].dtype)
        params = 0 if id(op) in self.seen else op.count_params() if op.built else 0
        self.seen.add(id(op))
        batch = self.table.batch_size
        row = LayerRow(
            name=name,
            type=type(op).__name__,
            output_shape=tuple(flat[0].shape[1:]) if len(flat) == 1 else (),
            activations=values * batch,
            activation_bytes=values * batch * size,
            params=params,
            macs=_macs(op, inputs, values) * batch,
            kept=_activation_kept(op),
        )
        if type(op).__name__ not in _NEEDS_NOTHING:  # unknown layers: assume they need inputs
            for x in inputs:
                if id(x) in self.producer:
                    self.producer[id(x)].kept = True
        alias = self.producer.get(id(inputs[0])) if inputs and row.type in _VIEWS else None
        for o in flat:
            self.producer[id(o)] = alias or row
        self.table.rows.append(row)

    def call(
        self, op: keras.Operation, prefix: str, args: tuple, kwargs: dict[str, object]
    ) -> object:
        import keras

        name = prefix + op.name
        if isinstance(op, keras.Sequential) and compat.sequential_graph(op) is not None:
            op = compat.sequential_graph(op)
        if compat.is_graph_model(op):
            inputs = compat.standardize_inputs(op, args[0] if args else kwargs.get("inputs"))
            return self.graph(op, inputs, name + "/")
        if isinstance(op, keras.Sequential):  # built without a known input
            x = args[0]
            for layer in op.layers:
                x = self.call(layer, name + "/", (x,), {})
            return x
        spec_inputs = [x for x in keras.tree.flatten((args, kwargs)) if hasattr(x, "shape")]
        outputs = op.compute_output_spec(*args, **kwargs)
        self.row(op, name, spec_inputs, outputs)
        return outputs

    def graph(self, model: keras.Model, inputs: object, prefix: str) -> object:
        def operation_fn(op: keras.Operation) -> Callable[..., object]:
            return lambda *args, **kwargs: self.call(op, prefix, args, kwargs)

        return compat.run_through_graph(model, inputs, operation_fn)


def layer_table(
    model: keras.Model,
    batch_size: int = 1,
    dtype: str | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
) -> LayerTable:
    """One row per layer of ``model`` (nested models expanded); see the module docstring.

    Args:
        model, batch_size: a built Keras model; the examples counted.
        dtype: bytes per activation from this dtype (default: each output's own dtype).
        input_shape: replaces the model's (no batch axis), e.g. built with ``(None, None, 3)``.
    """
    import keras

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}; e.g. 32")
    if not isinstance(model, keras.Model):
        raise UserError(f"expected a Keras model, got {type(model).__name__}; pass a keras.Model")
    try:
        model_inputs = list(model.inputs)
    except (AttributeError, ValueError):
        model_inputs = []
    if not model_inputs:
        raise UserError(f"model {model.name!r} is not built; call it once or give it an Input")
    if input_shape is not None:
        if len(model_inputs) != 1:
            raise UserError(
                f"{model.name} has {len(model_inputs)} inputs but input_shape fits one; "
                "leave input_shape=None"
            )
        shape = (None, *(int(d) for d in input_shape))
        specs = [keras.KerasTensor(shape, dtype=model_inputs[0].dtype)]
    else:
        specs = [keras.KerasTensor(x.shape, dtype=x.dtype) for x in model_inputs]
    walker = _Walker(batch_size, dtype)
    for x, spec in zip(model_inputs, specs, strict=True):
        layer = compat.history_operation(x)
        walker.row(layer, layer.name, [], spec)
    if isinstance(model, keras.Sequential):
        model = compat.sequential_graph(model)
    if not compat.is_graph_model(model):  # subclassed model: one opaque row
        walker.call(model, "", (specs[0] if len(specs) == 1 else specs,), {})
        return walker.table
    outputs = walker.graph(model, specs, "")
    for x in keras.tree.flatten(outputs):  # the loss needs the model's outputs
        if id(x) in walker.producer:
            walker.producer[id(x)].kept = True
    return walker.table
