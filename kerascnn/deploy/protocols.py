"""The request and response bodies of ``kerascnn serve``: Open Inference Protocol v2 (Triton,
KServe, Seldon), TF Serving's REST ``:predict`` and image uploads. NumPy and Pillow only.

Every malformed request is a :class:`RequestError`: an HTTP status and one line,
``<problem>; <fix>``, which the server answers as ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kerascnn.errors import UserError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DATATYPES",
    "RequestError",
    "Signature",
    "decode_image",
    "parse_json",
    "parse_tf_predict",
    "parse_v2_infer",
    "tf_response",
    "v2_metadata",
    "v2_response",
]

DATATYPES = {"UINT8": "uint8", "FP32": "float32"}  # v2 datatype -> NumPy dtype


class RequestError(Exception):
    """A bad request: ``status`` (4xx) and a one-line ``<problem>; <fix>`` message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())


@dataclass(frozen=True)
class Signature:
    """What a served model takes and gives: ``[N, H, W, 3]`` pixels -> ``[N, classes]``."""

    input_name: str
    datatype: str  # "UINT8" or "FP32": what the model takes natively
    height: int
    width: int
    output_name: str
    classes: int

    @property
    def shape(self) -> list[int]:
        """The input's shape, ``-1`` for the batch."""
        return [-1, self.height, self.width, 3]


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; malformed or empty: a 400."""
    if not body.strip():
        raise RequestError(400, "the request body is empty; send a JSON document")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0][:120]
        raise RequestError(400, f"malformed JSON ({first}); send a valid JSON document") from None


def _pixels(
    data: object, shape: list[int] | None, datatype: str, sig: Signature, limit: int
) -> np.ndarray:
    """``data`` (nested or flat numbers) as ``N x H x W x 3`` float32 pixels, all checked."""
    import numpy as np

    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise RequestError(
            400, "the input data is not an array of numbers; send pixel values 0-255"
        ) from None
    if shape is not None:
        if array.size != int(np.prod(shape)):
            raise RequestError(
                400, f"{array.size} values for shape {shape}; send prod(shape) values"
            )
        array = array.reshape(shape)
    want = [sig.height, sig.width, 3]
    if array.ndim != 4 or list(array.shape[1:]) != want or len(array) == 0:
        got = list(array.shape) if shape is None else shape
        raise RequestError(
            400,
            f"input shape {got} does not fit the model; send [N, {sig.height}, "
            f"{sig.width}, 3] RGB pixels (N >= 1)",
        )
    if len(array) > limit:
        raise RequestError(
            400,
            f"{len(array)} instances in one request; send at most {limit} (--max-batch-request)",
        )
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise RequestError(400, "pixel values outside 0-255; send RGB values in [0, 255]")
    if datatype == "UINT8" and not (array == np.round(array)).all():
        raise RequestError(400, "UINT8 data with fractions; send whole numbers or use FP32")
    return array.astype(np.float32)


def _binary_data(tensor: dict, tail: bytes, datatype: str) -> np.ndarray:
    """The input's data sent after the JSON (Triton's binary tensor data extension)."""
    import numpy as np

    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        raise RequestError(400, 'the input has no "data"; send the pixels as a JSON array')
    if not isinstance(size, int) or isinstance(size, bool) or size != len(tail):
        raise RequestError(
            400,
            f"binary_data_size {size!r} but {len(tail)} bytes follow the JSON; "
            "send exactly the input's bytes after the JSON header",
        )
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if size % dtype.itemsize:
        raise RequestError(
            400, f"{size} bytes is not a whole number of {datatype} values; send the raw tensor"
        )
    return np.frombuffer(tail, dtype)


def parse_v2_infer(
    doc: object, sig: Signature, limit: int, tail: bytes = b""
) -> tuple[np.ndarray, object]:
    """``(pixels, request id)`` of an Open Inference Protocol v2 infer request.

    Args:
        doc: the request's JSON document.
        sig: the model's signature (input name, datatype, size).
        limit: most instances in one request (``--max-batch-request``).
        tail: the bytes after the JSON part, where the input's data is with Triton's binary
            tensor data extension (``binary_tensors.split_body``).
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise RequestError(400, 'no "inputs" list in the request; send {"inputs": [{...}]}')
    inputs = doc["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError(400, f"{len(inputs)} inputs; send exactly one, {sig.input_name!r}")
    tensor = inputs[0]
    if tensor.get("name") != sig.input_name:
        raise RequestError(
            400, f"unknown input {tensor.get('name')!r}; the model's input is {sig.input_name!r}"
        )
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise RequestError(
            400, f"datatype {datatype!r} is not served; send {sig.datatype} or FP32 pixels"
        )
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise RequestError(400, f"shape {shape!r} is not a list of integers; send [N, H, W, 3]")
    if "data" in tensor and tail:
        raise RequestError(400, 'both "data" and binary data after the JSON; send one of them')
    for wanted in doc.get("outputs") or []:
        name = wanted.get("name") if isinstance(wanted, dict) else wanted
        if name != sig.output_name:
            raise RequestError(
                400, f"unknown output {name!r}; the model's output is {sig.output_name!r}"
            )
    data = tensor["data"] if "data" in tensor else _binary_data(tensor, tail, datatype)
    return _pixels(data, shape, datatype, sig, limit), doc.get("id")


def parse_tf_predict(doc: object, sig: Signature, limit: int) -> np.ndarray:
    """The pixels of a TF Serving ``:predict`` request: ``{"instances": [HxWx3, ...]}``
    (each instance may also be ``{"<input name>": HxWx3}``) or ``{"inputs": NxHxWx3}``."""
    if not isinstance(doc, dict) or ("instances" in doc) == ("inputs" in doc):
        raise RequestError(
            400, 'the request needs "instances" (or "inputs"); send {"instances": [HxWx3 arrays]}'
        )
    if "inputs" in doc:
        data = doc["inputs"]
        data = data.get(sig.input_name, data) if isinstance(data, dict) else data
    else:
        data = doc["instances"]
        if not isinstance(data, list):
            raise RequestError(400, '"instances" is not a list; send a list of HxWx3 arrays')
        if data and all(isinstance(item, dict) for item in data):
            if any(set(item) != {sig.input_name} for item in data):
                raise RequestError(
                    400,
                    f"instances name an unknown input; the model's input is {sig.input_name!r}",
                )
            data = [item[sig.input_name] for item in data]
    return _pixels(data, None, "FP32", sig, limit)


def v2_metadata(name: str, sig: Signature, platform: str) -> dict[str, Any]:
    """The v2 model metadata: its inputs and outputs with names, datatypes and shapes."""
    return {
        "name": name,
        "versions": ["1"],
        "platform": platform,
        "inputs": [{"name": sig.input_name, "datatype": sig.datatype, "shape": sig.shape}],
        "outputs": [{"name": sig.output_name, "datatype": "FP32", "shape": [-1, sig.classes]}],
    }


def v2_response(name: str, sig: Signature, probs: np.ndarray, request_id: object) -> dict[str, Any]:
    """A v2 infer response: the probabilities as a flat FP32 tensor ``[N, classes]``.

    Args:
        name: the model's name.
        sig: its signature (the output's name).
        probs: ``N x classes`` probabilities.
        request_id: the request's ``id``, echoed when given.
    """
    out = {
        "name": sig.output_name,
        "datatype": "FP32",
        "shape": [len(probs), sig.classes],
        "data": [float(v) for v in probs.reshape(-1)],
    }
    doc: dict[str, Any] = {"model_name": name, "model_version": "1", "outputs": [out]}
    if request_id is not None:
        doc["id"] = request_id
    return doc


def tf_response(probs: np.ndarray) -> dict[str, Any]:
    """A TF Serving ``:predict`` response: ``{"predictions": [[p, ...], ...]}``."""
    return {"predictions": [[float(v) for v in row] for row in probs]}


def decode_image(data: bytes, name: str) -> np.ndarray:
    """The RGB pixels of an uploaded image, read as ``kerascnn predict`` reads a file
    (:func:`kerascnn.images.load_image`: EXIF rotation, grey, alpha, 16-bit); else a 400."""
    from kerascnn.images import load_image

    if not data:
        raise RequestError(400, "the upload is empty; send an image (JPEG, PNG, BMP, WebP)")
    fd, path = tempfile.mkstemp(prefix="kerascnn-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return load_image(path).pixels
    except UserError as exc:
        raise RequestError(400, str(exc).replace(path, name)) from None
    finally:
        os.unlink(path)
