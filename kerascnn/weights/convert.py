"""Weights from other layouts into the zoo's Keras models: torchvision state dicts (``.pth``)
and legacy Keras ``.h5`` files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kerascnn.errors import UserError

if TYPE_CHECKING:
    import keras

__all__ = ["load_legacy_h5", "load_torch_state_dict", "torch_to_keras"]


def _torch_modules(state: dict[str, np.ndarray]) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    """Group ``features.0.weight``... by module, in order: [(prefix, kind, tensors)]."""
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        modules.setdefault(prefix, {})[leaf] = value
    out = []
    for prefix, tensors in modules.items():
        ndim = tensors["weight"].ndim if "weight" in tensors else 0
        kind = "bn" if "running_mean" in tensors else {4: "conv", 2: "dense"}.get(ndim)
        if kind:
            out.append((prefix, kind, tensors))
    return out


def _keras_kind(layer: keras.layers.Layer) -> str | None:
    from keras import layers

    kinds = {layers.Conv2D: "conv", layers.BatchNormalization: "bn", layers.Dense: "dense"}
    return next((kind for cls, kind in kinds.items() if isinstance(layer, cls)), None)


def _flatten_shape(model: keras.Model) -> tuple[int, ...] | None:
    """(H, W, C) entering the model's ``Flatten`` layer, if it has one after a 4-D tensor."""
    from keras import layers

    flat = [layer for layer in model.layers if isinstance(layer, layers.Flatten)]
    if len(flat) == 1 and len(flat[0].input.shape) == 4:
        return tuple(int(d) for d in flat[0].input.shape[1:])
    return None


def torch_to_keras(
    model: keras.Model, state: dict[str, np.ndarray], *, source: str = "file"
) -> None:
    """Set ``model``'s weights from a torchvision state dict, its modules matched in order with
    the layers that have weights: kernels OIHW -> HWIO, dense matrices transposed, the first
    dense layer after ``Flatten`` reordered from (C, H, W) to (H, W, C) inputs."""
    targets = [(layer, _keras_kind(layer)) for layer in model.layers if layer.weights]
    odd = next((layer.name for layer, kind in targets if kind is None), None)
    if odd is not None:
        raise UserError(
            f"{source}: cannot map torch weights onto layer {odd!r} of {model.name}; "
            "only Conv2D, BatchNormalization and Dense layers take them"
        )
    want = [kind for _, kind in targets]
    modules = _torch_modules(state)
    if "dense" not in want:  # include_top=False: skip the head
        modules = [m for m in modules if m[1] != "dense"]
    have = [kind for _, kind, _ in modules]
    if want != have:
        raise UserError(
            f"{source}: its layers ({have.count('conv')} conv, {have.count('bn')} batch norm, "
            f"{have.count('dense')} linear) do not match {model.name} ({want.count('conv')} "
            f"conv, {want.count('bn')} batch norm, {want.count('dense')} dense); "
            "give the weights of the same architecture"
        )
    flatten = _flatten_shape(model)  # None once past the first dense layer
    for (layer, kind), (prefix, _, t) in zip(targets, modules, strict=True):
        if kind == "conv":
            values = [t["weight"].transpose(2, 3, 1, 0)]
        elif kind == "bn":
            values = [t["weight"], t["bias"], t["running_mean"], t["running_var"]]
        else:
            weight = t["weight"]
            if flatten is not None:
                h, w, c = flatten
                if weight.shape[1] != h * w * c:
                    raise UserError(
                        f"{source}: {prefix}.weight takes {weight.shape[1]} inputs but "
                        f"{layer.name} takes {h}x{w}x{c}; build the model at the weights' "
                        "input size"
                    )
                weight = weight.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(-1, h * w * c)
            flatten = None
            values = [weight.T]
        if kind != "bn" and "bias" in t:
            values.append(t["bias"])
        got, expected = [v.shape for v in values], [tuple(v.shape) for v in layer.weights]
        if got != expected:
            raise UserError(
                f"{source}: {prefix} has shapes {got}, but {layer.name} needs {expected}; "
                "build the model to match (classes=, input_shape=) or with include_top=False"
            )
        layer.set_weights([np.ascontiguousarray(v, dtype=np.float32) for v in values])


def load_torch_state_dict(model: keras.Model, path: str | Path) -> None:
    """Read a ``.pth`` state dict safely (``kerascnn.weights.torch_reader``) and load it."""
    from kerascnn.weights.torch_reader import read_state_dict

    torch_to_keras(model, read_state_dict(path), source=str(path))


def load_legacy_h5(model: keras.Model, path: str | Path) -> None:
    """Load a legacy Keras ``.h5`` weights file by layer name (Keras' own loader), once every
    layer of the model is found in it; extra layers in the file (a full top) are skipped."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" not in f.attrs and "model_weights" in f:
                f = f["model_weights"]
            names = {
                n.decode() if isinstance(n, bytes) else str(n)
                for n in f.attrs.get("layer_names", [])
            }
    except OSError as exc:
        raise UserError(
            f"{path}: not a readable HDF5 weights file ({exc}); give a Keras .h5 weights file"
        ) from None
    if not names:
        raise UserError(f"{path}: no 'layer_names' attribute; not a legacy Keras .h5 weights file")
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in names]
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise UserError(
            f"{path}: has no weights for layer(s) {shown} of {model.name}; "
            "give the weights of the same architecture"
        )
    try:
        model.load_weights(str(path), by_name=True)
    except ValueError as exc:
        message = str(exc).splitlines()[0]
        raise UserError(
            f"{path}: does not fit {model.name}: {message}; build the model the weights came from"
        ) from None
