"""``model.export`` per format (tf2onnx or jax2onnx for ONNX), int8 quantization through
the converters (LiteRT's ``TFLiteConverter``, onnxruntime's ``quantize_static``, NNCF), and
:func:`explain`, which turns a converter's failure into one line naming the op and the layer.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascnn.deploy.build import INPUT_NAME
from kerascnn.deploy.formats import FORMATS
from kerascnn.errors import UserError

if TYPE_CHECKING:
    import keras
    import numpy as np
    import onnx

__all__ = ["explain", "export_model", "nhwc_max_pools"]

_OP_PATTERNS = (
    r"'tf\.(\w+)' op is neither a custom op nor a flex op",
    r"No conversion rule found for operations: ([\w, ]+)",
    r"No Op registered for (\w+)",
    r"Tensorflow op \[[^\]:]+: (\w+)\] is not supported",
    r"Could not find an implementation for (\w+)",
)


def _layer_names(model: keras.layers.Layer) -> list[str]:
    names = []
    for layer in getattr(model, "layers", []):
        names += [layer.name, *_layer_names(layer)]
    return names


def _traced_scopes(model: keras.Model, ops: list[str]) -> list[str]:
    """Names of the TensorFlow ops of type ``ops`` in ``model``'s graph (TF backend only)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return []
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
    call = tf.function(lambda x: model(x, training=False), autograph=False)
    graph = call.get_concrete_function(spec).graph
    return [op.name for op in graph.get_operations() if op.type in ops]


def _named_layers(model: keras.Model, scopes: list[str]) -> list[str]:
    """The layers of ``model`` whose name scope (``model/layer_1/op``) is in ``scopes``."""
    return [
        name
        for name in _layer_names(model)
        if any(re.search(rf"(^|/){re.escape(name)}(_\d+)?/", s) for s in scopes)
    ]


def explain(exc: BaseException, fmt: str, source: str, model: keras.Model) -> UserError:
    """A converter's or runtime's failure as one line: the op, the layer and what to do.

    Args:
        exc, fmt: the failure, and the format being exported.
        source, model: what the user named, and the deployable Keras model (whose layer
            names are matched against the op's name scope).
    """
    text = str(exc)
    found = {op.strip() for p in _OP_PATTERNS for m in re.findall(p, text) for op in m.split(",")}
    ops = sorted(op for op in found if op)
    others = "savedmodel" if fmt != "savedmodel" else "onnx"
    if ops:
        named = _named_layers(model, re.findall(r"[\w.-]+(?:/[\w.-]+)+", text))
        if not named:  # OpenVINO names the op only: find it in the traced graph
            with contextlib.suppress(Exception):
                named = _named_layers(model, _traced_scopes(model, ops))
        where = f"layer {max(named, key=len)!r}" if named else "a layer"
        return UserError(
            f"{source}: {where} uses {', '.join(ops)}, which {fmt} cannot express; "
            f"export to {others} instead, or replace that layer"
        )
    first = (text.strip().splitlines() or [type(exc).__name__])[0][:300]
    return UserError(
        f"{fmt} export of {source} failed ({type(exc).__name__}: {first}); "
        f"try another format (e.g. {others})"
    )


def _constant(graph: onnx.GraphProto, name: str) -> list[int] | None:
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            return [int(v) for v in numpy_helper.to_array(init).ravel()]
    return None


def nhwc_max_pools(model: onnx.ModelProto) -> int:
    """Rewrite jax2onnx's ``Unsqueeze(0), Unsqueeze(1), MaxPool over N,H,W,C, Squeeze(0, 1)``
    (jax2onnx 0.17's max pooling, which onnxruntime cannot run) as ``Transpose, MaxPool over
    H,W, Transpose`` in place; returns how many were rewritten."""
    from onnx import helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    users: defaultdict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        kernel, strides = list(attrs.get("kernel_shape", [])), list(attrs.get("strides", [1] * 4))
        pads = list(attrs.get("pads", [0] * 8))
        if node.op_type != "MaxPool" or len(kernel) != 4:
            continue
        inner = producer.get(node.input[0])
        outer = producer.get(inner.input[0]) if inner is not None else None
        after = users.get(node.output[0], [])
        if inner is None or outer is None or len(after) != 1:  # (no inner: no outer)
            continue
        chain = (outer, inner, after[0])
        if (
            [n.op_type for n in chain] != ["Unsqueeze", "Unsqueeze", "Squeeze"]
            or any(len(n.input) < 2 for n in chain)  # axes as attributes: opset < 13
            or [_constant(graph, n.input[1]) for n in chain] != [[0], [1], [0, 1]]
            or [kernel[0], kernel[3], strides[0], strides[3]] != [1, 1, 1, 1]
            or any(pads[i] for i in (0, 3, 4, 7))
            or attrs.get("dilations", [1] * 4) != [1] * 4
            or len(users[inner.output[0]]) != 1
        ):
            continue
        x, y, tag = outer.input[0], after[0].output[0], node.name or node.output[0]
        replaced[id(node)] = [
            helper.make_node("Transpose", [x], [f"{tag}_nchw"], perm=[0, 3, 1, 2]),
            helper.make_node(
                "MaxPool",
                [f"{tag}_nchw"],
                [f"{tag}_pooled"],
                kernel_shape=kernel[1:3],
                strides=strides[1:3],
                pads=[pads[1], pads[2], pads[5], pads[6]],
            ),
            helper.make_node("Transpose", [f"{tag}_pooled"], [y], perm=[0, 2, 3, 1]),
        ]
        dropped |= {id(after[0]), id(inner)}
        if len(users[outer.output[0]]) == 1:
            dropped.add(id(outer))
    nodes = []
    for node in graph.node:
        nodes += replaced.get(id(node), [] if id(node) in dropped else [node])
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)


def _onnx(model: keras.Model, path: Path, signature: list[keras.InputSpec],
          opset: int | None) -> None:  # fmt: skip
    import keras
    import onnx

    if keras.backend.backend() == "tensorflow":
        from unittest import mock

        import tf2onnx.optimizer

        # no tf2onnx graph rewrites: with protobuf's upb backend each pass copies every weight
        # (15 GB and 85 s for AlexNet), and onnxruntime makes the same rewrites at load time
        with mock.patch.dict(tf2onnx.optimizer._get_optimizers(), clear=True):
            model.export(str(path), format="onnx", input_signature=signature, verbose=False,
                         opset_version=opset)  # fmt: skip
    else:  # jax2onnx spills tensors over 1 MB into PATH.data: make it one file again
        model.export(str(path), format="onnx", input_signature=signature, verbose=False,
                     opset_version=opset)  # fmt: skip
        proto = onnx.load(str(path))
        nhwc_max_pools(proto)
        if any(type(layer).__name__ == "TestTimeViews" for layer in model.layers):
            # jax2onnx marks the views' batch (views x N) with the input's symbolic N, which
            # onnxruntime trusts: drop the intermediate shapes, onnxruntime infers them
            del proto.graph.value_info[:]
        onnx.save(proto, str(path), save_as_external_data=False)
        path.with_name(path.name + ".data").unlink(missing_ok=True)
    onnx.checker.check_model(str(path))  # an op the format lacks fails here, not at load
    optimise_onnx(path)


def optimise_onnx(path: Path) -> None:
    """onnxruntime's basic (portable, standard-op) graph optimisations, saved in place: batch
    norm folded into the convolutions, constants folded, redundant transposes removed."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    optimised = path.with_name(path.name + ".opt")
    options.optimized_model_filepath = str(optimised)
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        optimised.replace(path)
    finally:
        optimised.unlink(missing_ok=True)


def _edge_nodes(path: Path) -> list[str]:
    """The names of the first convolution and the last matrix product: kept in float."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    first = next((n.name for n in nodes if n.op_type == "Conv"), None)
    last = next((n.name for n in reversed(nodes) if n.op_type in ("Gemm", "MatMul")), None)
    return [n for n in (first, last) if n]


def _onnx_int8(model_path: Path, path: Path, images: np.ndarray, keep_edges: bool = True) -> None:
    """onnxruntime's ``quant_pre_process``, then ``quantize_static``: QDQ, per-channel; the
    first and last layers stay float unless ``keep_edges`` is false."""
    from onnxruntime import quantization

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter({INPUT_NAME: images[i : i + 1]} for i in range(len(images)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    prepared = model_path.with_name(model_path.name.replace(".float.", ".prepared.", 1))
    quantization.quant_pre_process(str(model_path), str(prepared))  # folds BN, drops transposes
    quantization.quantize_static(
        str(prepared),
        str(path),
        Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        per_channel=True,
        nodes_to_exclude=_edge_nodes(prepared) if keep_edges else [],
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8,
    )


def _openvino_int8(xml: Path, images: np.ndarray, keep_edges: bool = True) -> None:
    """NNCF's post-training quantization of the IR at ``xml``, in place: int8 weights and
    activations, the first convolution and the last matrix product kept in float."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    ops = model.get_ordered_ops()
    edges = [next((o for o in ops if o.get_type_name() == "Convolution"), None)]
    edges.append(next((o for o in reversed(ops) if o.get_type_name() == "MatMul"), None))
    names = [o.get_friendly_name() for o in edges if o is not None] if keep_edges else []
    quantized = nncf.quantize(
        model,
        nncf.Dataset([images[i : i + 1] for i in range(len(images))]),
        subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(names=names, validate=False),
    )
    staged = xml.with_name("int8.xml")  # model.bin is memory-mapped: never write over it
    ov.save_model(quantized, str(staged))
    for suffix in (".bin", ".xml"):
        staged.with_suffix(suffix).replace(xml.with_suffix(suffix))


def _litert_options(quantize: str, images: np.ndarray | None) -> dict[str, Any]:
    import tensorflow as tf

    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops: the interpreter lacks them
    if quantize == "none":
        return {"target_spec": {"supported_ops": builtins}}
    if quantize == "float16":
        return {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]},
        }
    assert images is not None  # int8: the calibration batch
    return {
        "optimizations": [tf.lite.Optimize.DEFAULT],
        "representative_dataset": lambda: ([images[i : i + 1]] for i in range(len(images))),
        "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, *builtins]},
    }


def export_model(
    model: keras.Model, fmt: str, path: Path, quantize: str, images: np.ndarray | None,
    opset: int | None = None
) -> None:  # fmt: skip
    """Export the deployable ``model`` through ``model.export``.

    Args:
        model, fmt: the deployable Keras model; ``savedmodel``, ``onnx``, ``litert``...
        path: the file to write, or the (empty) folder for savedmodel and openvino.
        quantize, images: ``none``, ``float16`` or ``int8``; the calibration batch for
            int8 (as the model's input takes it), else ``None``.
        opset: the ONNX opset (default: the converter's).
    """
    import keras

    shape = (None, *model.input_shape[1:])
    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    signature = [keras.InputSpec(shape=shape, dtype=dtype, name=INPUT_NAME)]
    if fmt == "onnx" and quantize == "int8":
        assert images is not None  # int8: the calibration batch
        float_path = path.with_name(path.name.replace(".tmp.", ".float.tmp.", 1))
        try:
            _onnx(model, float_path, signature, opset)
            _onnx_int8(float_path, path, images)
        finally:
            float_path.unlink(missing_ok=True)
    elif fmt == "onnx":
        _onnx(model, path, signature, opset)
    else:
        model.export(
            str(path / "model.xml" if fmt == "openvino" else path),
            format=FORMATS[fmt].keras_format,
            input_signature=signature,
            verbose=False,
            **(_litert_options(quantize, images) if fmt == "litert" else {}),
        )
        if fmt == "openvino" and quantize == "int8":
            assert images is not None
            _openvino_int8(path / "model.xml", images)
