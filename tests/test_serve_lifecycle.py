"""``kerascnn serve``'s life: refused in one line before it starts (busy or wrong port,
unreadable model, clashing names), 503 until warm, SIGTERM lets a request in flight finish
and exits 0, and ONNX and LiteRT models are served without TensorFlow or Keras imported."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from tests.serving import exported, exported_onnx, request, serve

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")
pytest.importorskip("onnxruntime")

HEAVY = ("tensorflow", "keras", "jax", "torch")


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory):
    return exported_onnx(tmp_path_factory.getbasetemp())


def _cli(args: list[str]):
    from kerascnn.cli.main import cli

    return CliRunner().invoke(cli, ["serve", *args], prog_name="kerascnn")


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stdout == "" and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "; " in line, line
    return line


def test_a_busy_port_is_refused_in_one_line(onnx_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_error_line(_cli([str(onnx_path), "--port", str(port)]))
    assert f"port {port} on 127.0.0.1 is in use" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["{onnx}", "--port", "70000"], "70000 is not in the range 0<=x<=65535"),
        (["{onnx}", "--port", "0", "--host", "no-such-host.invalid"], "cannot resolve host"),
        (["{tmp}/notes.onnx", "--port", "0"], "not a readable onnx model"),
        (["{tmp}/missing.onnx", "--port", "0"], "no such file"),
        (["{onnx}", "{onnx}", "--port", "0"], "two models named 'gesture_cnn_sign-digits'"),
        (["{onnx}", "--name", "a", "--name", "b", "--port", "0"], "2 --name for 1 models"),
        (["{onnx}", "--name", "a/b", "--port", "0"], "does not fit in a URL"),
    ],
)
def test_a_bad_model_or_option_is_refused_before_the_server_starts(args, says, onnx_path, tmp_path):
    (tmp_path / "notes.onnx").write_text("not a model\n")
    args = [a.replace("{onnx}", str(onnx_path)).replace("{tmp}", str(tmp_path)) for a in args]
    assert says in _one_error_line(_cli(args))


def test_serve_help_imports_neither_tensorflow_nor_keras():
    script = (
        "import sys\nfrom kerascnn.cli.main import cli\n"
        "try:\n    cli.main(['serve', '--help'], prog_name='kerascnn')\n"
        "except SystemExit:\n    pass\n"
        f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout and "/v2/models/NAME/infer" in out.stdout, out.stdout


@pytest.mark.parametrize(
    "fmt",
    [
        "onnx",
        pytest.param("litert", marks=pytest.mark.slow),  # a LiteRT export takes ~15 s
    ],
)
def test_an_artifact_is_served_without_tensorflow_or_keras(fmt, tmp_path_factory):
    from kerascnn.deploy.exporter import example_photos

    if fmt == "litert":
        pytest.importorskip("ai_edge_litert")
    path = exported(tmp_path_factory.getbasetemp(), fmt)

    code = (
        "import atexit, sys\n"
        "def heavy():\n"
        f"    found = {{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})\n"
        "    print('HEAVY', sorted(found), file=sys.stderr, flush=True)\n"
        "atexit.register(heavy)\n"
        "from kerascnn.cli.main import main\nmain()\n"
    )
    with open(example_photos()[0], "rb") as f:
        photo = f.read()
    with serve([str(path)], code=code) as server:
        meta = server.request("GET", "/v2/models/gesture_cnn_sign-digits").json()
        assert meta["inputs"][0]["name"] == "pixels"
        reply = server.request("POST", "/predict", photo, {"Content-Type": "image/jpeg"})
        assert reply.status == 200 and reply.json()[0]["predictions"][0]["label"] == "2"
    assert server.process.returncode == 0
    assert "HEAVY []" in server.log, server.log[-5:]


def _connect_refused(host: str, port: int, limit: float = 10) -> bool:
    """Whether new connections are refused within ``limit`` seconds (the listener closed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_sigterm_finishes_the_request_in_flight_and_exits_0(onnx_path):
    pixels = np.full((1, 64, 64, 3), 128, np.uint8)
    doc = {"inputs": [{"name": "pixels", "shape": [1, 64, 64, 3], "datatype": "UINT8",
                       "data": pixels.reshape(-1).tolist()}]}  # fmt: skip
    body = json.dumps(doc).encode()
    with serve([str(onnx_path), "--name", "g"]) as server:
        held = socket.create_connection((server.host, server.port))
        head = (
            f"POST /v2/models/g/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        held.sendall(head + body[:100])  # the request is open: its body half sent
        assert server.request("GET", "/v2/health/ready").status == 200  # (read after it)
        os.kill(server.process.pid, signal.SIGTERM)
        assert _connect_refused(server.host, server.port), "still accepting after SIGTERM"
        held.sendall(body[100:])
        reply = b""
        with contextlib.suppress(OSError):
            while chunk := held.recv(65536):
                reply += chunk
        held.close()
        assert server.process.wait(timeout=10) == 0, server.log[-5:]
    status, _, payload = reply.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200"), reply[:300]
    [out] = json.loads(payload)["outputs"]
    assert out["shape"] == [1, 10] and abs(sum(out["data"]) - 1) < 1e-4
    assert not [line for line in server.log if "Traceback" in line], server.log


def test_ready_is_503_until_every_model_is_warm(onnx_path):
    import uvicorn

    from kerascnn.deploy.models import open_model
    from kerascnn.deploy.serve_app import create_app
    from kerascnn.deploy.server import bind

    warm, slow = threading.Event(), open_model(str(onnx_path), "slow")
    run = slow.run
    slow.run = lambda x: (warm.wait(60), run(x))[1]  # warm-up held back until the test says
    fast = open_model(str(onnx_path), "fast")
    sock = bind("127.0.0.1", 0)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_app([fast, slow]), log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        assert request(host, port, "GET", "/v2/health/ready").status == 503
        assert request(host, port, "GET", "/v2/health/live").status == 200
        assert request(host, port, "GET", "/v2/models/slow/ready").status == 503
        doc = {"inputs": [{"name": "pixels", "shape": [1, 64, 64, 3], "datatype": "UINT8",
                           "data": [0] * (64 * 64 * 3)}]}  # fmt: skip
        reply = request(host, port, "POST", "/v2/models/slow/infer", doc)
        assert reply.status == 503 and "not ready yet; retry" in reply.json()["error"]
        warm.set()
        deadline = time.monotonic() + 60
        while request(host, port, "GET", "/v2/health/ready").status != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.02)
        assert request(host, port, "POST", "/v2/models/slow/infer", doc).status == 200
    finally:
        warm.set()
        server.should_exit = True
        thread.join(30)
        sock.close()
