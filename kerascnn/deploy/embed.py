"""The export's facts inside the artifact itself, so that a lone file describes itself:
ONNX ``metadata_props``, a zip of associated files appended to a ``.tflite`` file (as the
TFLite metadata tools pack them), ``assets.extra/`` of a SavedModel, OpenVINO ``rt_info``.

Each holds the same JSON document as the sidecar (``NAME.json``), under the key ``kerascnn``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascnn.errors import UserError

if TYPE_CHECKING:
    import onnx

__all__ = ["KEY", "embed", "read_embedded", "tensor_names"]

KEY = "kerascnn"
_FILE = "kerascnn.json"
_DIGEST = KEY + ".sha256"  # of an ONNX graph (nodes, weights): a flipped bit is an error


def _graph_digest(proto: onnx.ModelProto) -> str:
    return hashlib.sha256(proto.graph.SerializeToString()).hexdigest()


def _dumps(facts: dict[str, Any]) -> str:
    return json.dumps(facts, sort_keys=True)


def _onnx(path: Path, facts: dict[str, Any]) -> None:
    import onnx

    proto = onnx.load(str(path))
    kept = [p for p in proto.metadata_props if p.key not in (KEY, _DIGEST)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    proto.metadata_props.add(key=KEY, value=_dumps(facts))
    proto.metadata_props.add(key=_DIGEST, value=_graph_digest(proto))
    onnx.save(proto, str(path))


def _litert(path: Path, facts: dict[str, Any]) -> None:
    names = "\n".join(facts.get("classes") or []) + "\n"
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_FILE, _dumps(facts))  # appended after the flatbuffer
        archive.writestr("labels.txt", names)


def _savedmodel(path: Path, facts: dict[str, Any]) -> None:
    folder = path / "assets.extra"
    folder.mkdir(exist_ok=True)
    (folder / _FILE).write_text(_dumps(facts), encoding="utf-8")


def _openvino(path: Path, facts: dict[str, Any]) -> None:
    import openvino as ov

    xml = path / "model.xml"
    model = ov.Core().read_model(str(xml))
    model.set_rt_info(_dumps(facts), [KEY])  # its runtime_config: the compile_model options
    saved = path / "model.meta.xml"
    ov.save_model(model, str(saved), compress_to_fp16=False)
    saved.replace(xml)
    saved.with_suffix(".bin").replace(xml.with_suffix(".bin"))


_WRITERS = {"onnx": _onnx, "litert": _litert, "savedmodel": _savedmodel, "openvino": _openvino}


def embed(path: str | Path, fmt: str, facts: dict[str, Any]) -> None:
    """Write ``facts`` (JSON-serialisable) into the artifact at ``path``."""
    _WRITERS[fmt](Path(path), facts)


def _read_onnx(path: Path) -> str | None:
    try:
        import onnx
    except ImportError:  # onnxruntime alone reads it too
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(path), options, ["CPUExecutionProvider"])
        return session.get_modelmeta().custom_metadata_map.get(KEY)
    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    if _DIGEST in props and props[_DIGEST] != _graph_digest(proto):
        raise UserError(
            f"{path}: damaged (its graph or weights differ from those exported, sha256 "
            "mismatch); export it again (`kerascnn export ... --force`) or copy it whole"
        )
    return props.get(KEY)


def _read_litert(path: Path) -> str | None:
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        return archive.read(_FILE).decode("utf-8") if _FILE in archive.namelist() else None


def _read_savedmodel(path: Path) -> str | None:
    found = path / "assets.extra" / _FILE
    return found.read_text(encoding="utf-8") if found.is_file() else None


def _read_openvino(path: Path) -> str | None:
    import openvino as ov

    model = ov.Core().read_model(str(path / "model.xml"))
    return model.get_rt_info([KEY]).astype(str) if model.has_rt_info([KEY]) else None


_READERS = {
    "onnx": _read_onnx,
    "litert": _read_litert,
    "savedmodel": _read_savedmodel,
    "openvino": _read_openvino,
}


def read_embedded(path: str | Path, fmt: str) -> dict[str, Any] | None:
    """The facts inside the artifact at ``path``, or ``None`` (exported before they were);
    a damaged ONNX graph is a ``UserError`` (checked where onnx is installed)."""
    text = _READERS[fmt](Path(path))
    return None if text is None else json.loads(text)


def tensor_names(path: str | Path, fmt: str) -> tuple[str, str]:
    """``(input, output)`` tensor names in the artifact, as its runtime calls them."""
    path = Path(path)
    if fmt == "onnx":
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        return graph.input[0].name, graph.output[0].name
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        return interpreter.get_input_details()[0]["name"], interpreter.get_output_details()[0][
            "name"
        ]
    if fmt == "openvino":
        import openvino as ov

        model = ov.Core().read_model(str(path / "model.xml"))
        return model.inputs[0].get_any_name(), model.outputs[0].get_any_name()
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    inputs = serve.structured_input_signature[1]
    return next(iter(inputs)), next(iter(serve.structured_outputs))
