"""Triton's binary tensor data extension of the v2 infer route (what ``tritonclient`` sends
by default): the JSON header, then the raw tensor bytes, in one body.

A request with the ``Inference-Header-Content-Length: N`` header carries its JSON document in
the first ``N`` bytes and each input's data after it, little-endian and row-major, sized by
the input's ``"parameters": {"binary_data_size": bytes}``. Outputs come back the same way
when the request asks (``binary_data`` on a requested output, or ``binary_data_output`` on
the request). NumPy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerascnn.deploy.protocols import RequestError, parse_json

if TYPE_CHECKING:
    import numpy as np

__all__ = ["HEADER", "split_body", "wants_binary", "with_binary_output"]

HEADER = "Inference-Header-Content-Length"


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """``(JSON document, binary tail)`` of a v2 infer body; no header: all JSON, no tail."""
    if header_length is None:
        return parse_json(body), b""
    try:
        size = int(header_length)
    except ValueError:
        size = -1
    if not 0 < size <= len(body):
        raise RequestError(
            400,
            f"{HEADER} {header_length!r} does not fit a {len(body)}-byte body; "
            "send the length of the JSON part in bytes",
        )
    return parse_json(body[:size]), body[size:]


def wants_binary(doc: dict) -> bool:
    """Whether the request asks for its outputs as binary data."""
    parameters = doc.get("parameters")
    if isinstance(parameters, dict) and parameters.get("binary_data_output") is True:
        return True
    outputs = doc.get("outputs") or []
    return any(
        isinstance(o, dict) and isinstance(o.get("parameters"), dict)
        and o["parameters"].get("binary_data") is True
        for o in outputs
    )  # fmt: skip


def with_binary_output(response: dict[str, Any], probs: np.ndarray) -> tuple[bytes, int]:
    """A v2 response's body in the extension's form (its one output, ``probs``, as FP32 bytes
    after the JSON) and the JSON part's length, for the ``Inference-Header-Content-Length``."""
    import json

    import numpy as np

    data = np.ascontiguousarray(probs, np.dtype("<f4")).tobytes()
    (output,) = response["outputs"]
    output.pop("data", None)
    output["parameters"] = {"binary_data_size": len(data)}
    head = json.dumps(response).encode()
    return head + data, len(head)
