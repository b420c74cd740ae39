"""Helpers for the ``kerascnn serve`` tests and benchmark: a real server in a subprocess on a
free port of 127.0.0.1, and plain HTTP requests (``http.client``, multipart by hand)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Reply",
    "Server",
    "binary_infer",
    "exported",
    "exported_onnx",
    "multipart",
    "request",
    "serve",
    "wait_ready",
]

START = re.compile(r"on http://([\d.]+):(\d+) ")
EARLY_ANSWER_BYTES = 2**16  # larger raw bodies wait for an answer to their headers first


@dataclass
class Reply:
    """An HTTP answer: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Server:
    """A running ``kerascnn serve`` subprocess and the lines it printed on stderr."""

    process: subprocess.Popen
    host: str
    port: int
    log: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: Any = None, headers: Any = None) -> Reply:
        """One request on a new connection."""
        return request(self.host, self.port, method, path, body, headers)


def request(
    host: str, port: int, method: str, path: str, body: Any = None, headers: Any = None
) -> Reply:
    """One HTTP request on a new connection; a dict or list body is sent as JSON.

    Args:
        host: the server's address.
        port: its port.
        method: ``GET`` or ``POST``.
        path: the path and query.
        body: bytes, or a JSON-ready object.
        headers: extra headers.
    """
    headers = dict(headers or {})
    large = isinstance(body, bytes) and len(body) > EARLY_ANSWER_BYTES  # as the caller gave it
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        if large:
            _send_unless_answered(conn, method, path, body, headers)
        else:
            conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def _send_unless_answered(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes, headers: dict
) -> None:
    """Send the headers, then the body unless the server answers them within a second (as
    curl's ``Expect: 100-continue`` wait): a server refusing a body by its Content-Length
    answers and closes, and a body sent meanwhile would break the pipe before the answer is
    read."""
    import select

    conn.putrequest(method, path)
    for key, value in {**headers, "Content-Length": str(len(body))}.items():
        conn.putheader(key, value)
    conn.endheaders()
    assert conn.sock is not None
    answered, _, _ = select.select([conn.sock], [], [], 1.0)
    if not answered:
        conn.send(body)


def multipart(fields: dict[str, tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A ``multipart/form-data`` body of ``{field: (file name, bytes)}`` and its header."""
    boundary = "kerascnn-test-boundary-7f3a"
    parts = []
    for name, (filename, data) in fields.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def binary_infer(pixels: Any, datatype: str = "UINT8", cut: int = 0) -> tuple[bytes, dict]:
    """A v2 infer body of ``pixels`` in Triton's binary tensor form (the JSON header, then the
    raw tensor), ``cut`` bytes short of its data, and its headers."""
    raw = pixels.tobytes()
    tensor = {"name": "pixels", "shape": list(pixels.shape), "datatype": datatype}
    head = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]})
    headers = {"Inference-Header-Content-Length": str(len(head))}
    return head.encode() + raw[: len(raw) - cut], {
        **headers, "Content-Type": "application/octet-stream"
    }  # fmt: skip


def wait_ready(server: Server, limit: float = 120) -> None:
    """Poll ``/v2/health/ready`` until 200 (the server warms its models up first)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("the server exited:\n" + "\n".join(server.log))
        with contextlib.suppress(OSError):
            if server.request("GET", "/v2/health/ready").status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("the server never became ready:\n" + "\n".join(server.log))


def _pump(stream: Any, sink: list[str], lines: queue.Queue | None = None) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line.rstrip("\n"))
        if lines is not None:
            lines.put(line)


@contextlib.contextmanager
def serve(args: list[str], ready: bool = True, code: str | None = None) -> Iterator[Server]:
    """``kerascnn serve ARGS --port 0`` in a subprocess (``python -c CODE serve ...`` with
    ``code``); yields once it listens (with ``ready``: once warm); SIGTERM at the end."""
    start = ["-c", code] if code else ["-m", "kerascnn.cli"]
    command = [sys.executable, *start, "serve", *args, "--port", "0"]
    environment = {**os.environ, "KERASCNN_OFFLINE": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    out: queue.Queue = queue.Queue()
    log: list[str] = []
    printed: list[str] = []
    threading.Thread(target=_pump, args=(process.stdout, printed, out), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, log), daemon=True).start()
    try:
        line, deadline = "", time.monotonic() + 120
        while not (found := START.search(line)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise queue.Empty
            with contextlib.suppress(queue.Empty):
                line = out.get(timeout=0.5)
        server = Server(process, found[1], int(found[2]), log)
        if ready:
            wait_ready(server)
        yield server
    except queue.Empty:
        raise RuntimeError("the server printed no start line:\n" + "\n".join(log)) from None
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


def exported_onnx(base: Any) -> Any:
    """``gesture_cnn:sign-digits`` exported to ONNX (uint8 input) under ``base``, once per
    test session (the tests of several modules share it)."""
    return exported(base, "onnx")


def exported(base: Any, fmt: str) -> Any:
    """``gesture_cnn:sign-digits`` exported to ``fmt`` (``onnx``, ``litert``) under ``base``."""
    from pathlib import Path

    suffix = {"onnx": ".onnx", "litert": ".tflite"}[fmt]
    path = Path(base) / f"serve-{fmt}" / f"gesture{suffix}"
    if not path.is_file():
        from kerascnn.deploy.exporter import export

        path.parent.mkdir(exist_ok=True)
        export("gesture_cnn:sign-digits", fmt, path, force=True)
    return path
