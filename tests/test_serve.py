"""``kerascnn serve``: a real server (uvicorn, a subprocess on 127.0.0.1) serving a real ONNX
export of gesture_cnn:sign-digits and the same model through Keras, asked by real HTTP
clients: the three protocols agree, bad requests are one-line 4xx, 400 uploads from 32
clients all succeed, and the request log names route, status, model and milliseconds."""

from __future__ import annotations

import io
import json
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.serving import binary_infer, exported_onnx, multipart, serve

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")
pytest.importorskip("onnxruntime")

ONNX, KERAS = "gesture", "keras"


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory):
    return exported_onnx(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def server(onnx_path):
    args = [str(onnx_path), "gesture_cnn:sign-digits", "--name", ONNX, "--name", KERAS]
    args += ["--max-body-mb", "1", "--max-batch-request", "4", "--max-delay-ms", "20"]
    with serve(args) as running:
        yield running


@pytest.fixture(scope="module")
def photos():
    from kerascnn.deploy.exporter import example_photos

    return example_photos()


@pytest.fixture(scope="module")
def pixels(photos):
    """The example photos at 64x64 as uint8 RGB: what a PNG of them decodes to."""
    from kerascnn.images import prepare_images

    batch = prepare_images(photos, (64, 64))[1]
    return np.clip(np.round(batch), 0, 255).astype(np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG")
    return out.getvalue()


def _v2(data: np.ndarray, datatype: str = "UINT8", name: str = "pixels") -> dict:
    value = data.tolist() if datatype == "UINT8" else data.astype(np.float32).tolist()
    return {
        "inputs": [{"name": name, "shape": list(data.shape), "datatype": datatype, "data": value}]
    }


def _upload(server, data: bytes, filename: str = "x.png", query: str = f"?model={ONNX}&top=10"):
    body, headers = multipart({"file": (filename, data)})
    return server.request("POST", "/predict" + query, body, headers)


def _by_index(records: list) -> np.ndarray:
    return np.array([[p["probability"] for p in sorted(r["predictions"], key=lambda p: p["index"])]
                     for r in records])  # fmt: skip


def test_the_models_are_listed_with_their_inputs_and_outputs(server):
    assert server.request("GET", "/v2/health/live").status == 200
    assert server.request("GET", "/v2/health/ready").status == 200
    assert server.request("GET", "/v2/models").json() == {"models": [ONNX, KERAS]}
    meta = server.request("GET", f"/v2/models/{ONNX}").json()
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "pixels", "datatype": "UINT8", "shape": [-1, 64, 64, 3]}]
    [out] = meta["outputs"]
    assert out["datatype"] == "FP32" and out["shape"] == [-1, 10]
    keras_meta = server.request("GET", f"/v2/models/{KERAS}").json()
    assert keras_meta["platform"] == "keras" and keras_meta["inputs"][0]["datatype"] == "FP32"
    assert server.request("GET", f"/v2/models/{ONNX}/ready").status == 200
    page = server.request("GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(rb"(src|href)=[\"']?(https?:)?//", page.body)  # offline: no CDN


def test_the_three_routes_and_both_runtimes_agree(server, pixels):
    uploads = np.concatenate([_by_index(_upload(server, _png(p)).json()) for p in pixels])
    for name in (ONNX, KERAS):
        for datatype in ("UINT8", "FP32"):
            reply = server.request("POST", f"/v2/models/{name}/infer", _v2(pixels, datatype))
            assert reply.status == 200, reply.body
            [out] = reply.json()["outputs"]
            assert out["shape"] == [len(pixels), 10] and out["datatype"] == "FP32"
            v2 = np.array(out["data"]).reshape(out["shape"])
            np.testing.assert_allclose(v2, uploads, atol=1e-5)
        tf = server.request("POST", f"/v1/models/{name}:predict", {"instances": pixels.tolist()})
        assert tf.status == 200, tf.body
        np.testing.assert_allclose(np.array(tf.json()["predictions"]), uploads, atol=1e-5)
    assert uploads.argmax(1).tolist() == [2, 5, 9]  # the photos' digits (their file names)


def test_an_upload_gives_the_records_of_kerascnn_predict(server, onnx_path, photos):
    from kerascnn.cli.main import cli

    result = CliRunner().invoke(cli, ["predict", str(onnx_path), *photos, "--json"])
    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout)
    for photo, record in zip(photos, expected, strict=True):
        with open(photo, "rb") as f:
            data = f.read()
        raw = server.request("POST", f"/predict?model={ONNX}", data, {"Content-Type": "image/jpeg"})
        for reply in (_upload(server, data, "photo.jpg", f"?model={ONNX}"), raw):
            assert reply.status == 200, reply.body
            [got] = reply.json()
            assert [(p["label"], p["index"]) for p in got["predictions"]] == [
                (p["label"], p["index"]) for p in record["predictions"]
            ]
            np.testing.assert_allclose(
                [p["probability"] for p in got["predictions"]],
                [p["probability"] for p in record["predictions"]],
                atol=1e-5,
            )
        assert got["image"] == "upload"


def test_tritonclient_with_its_defaults_gets_what_json_gets(server, pixels):
    """Triton's own HTTP client sends and asks for binary tensors unless told otherwise."""
    http = pytest.importorskip("tritonclient.http")
    client = http.InferenceServerClient(f"{server.host}:{server.port}")
    assert client.is_server_ready() and client.is_model_ready(ONNX)
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    index = client.get_model_repository_index()
    assert index == [{"name": n, "version": "1", "state": "READY"} for n in sorted([ONNX, KERAS])]
    for name, datatype in ((ONNX, "UINT8"), (KERAS, "FP32")):
        output = client.get_model_metadata(name)["outputs"][0]["name"]
        data = pixels.astype(http.triton_to_np_dtype(datatype))
        tensor = http.InferInput("pixels", list(data.shape), datatype)
        tensor.set_data_from_numpy(data)  # binary_data=True by default
        result = client.infer(name, [tensor])  # no outputs named: all of them, as binary
        [described] = result.get_response()["outputs"]
        got = result.as_numpy(output)
        assert got.shape == (len(pixels), 10) and described["parameters"] == {
            "binary_data_size": got.nbytes
        }
        reply = server.request("POST", f"/v2/models/{name}/infer", _v2(pixels, datatype))
        np.testing.assert_allclose(got, np.reshape(reply.json()["outputs"][0]["data"], (-1, 10)))
        asked = http.InferRequestedOutput(output, binary_data=False)
        as_json = client.infer(name, [tensor], outputs=[asked]).get_response()["outputs"][0]
        np.testing.assert_allclose(np.reshape(as_json["data"], (-1, 10)), got)
    client.close()


def _bad_requests(pixels: np.ndarray, png: bytes) -> list:
    good = _v2(pixels[:1])
    binary, header = binary_infer(pixels[:1])
    wrong_dtype = {"inputs": [{**good["inputs"][0], "datatype": "INT64"}]}
    too_many = np.repeat(pixels[:1], 5, axis=0)
    return [
        ("non-image body", "/predict", b"this is not an image", {"Content-Type": "image/png"}),
        ("truncated PNG", "/predict", png[: len(png) // 2], {"Content-Type": "image/png"}),
        ("over --max-body-mb", "/predict", b"\xff" * (2**20 + 10), {}),
        ("malformed JSON", f"/v2/models/{ONNX}/infer", b'{"inputs": [', {}),
        ("wrong shape", f"/v2/models/{ONNX}/infer", _v2(pixels[:1, :32]), {}),
        ("wrong datatype", f"/v2/models/{ONNX}/infer", wrong_dtype, {}),
        ("wrong input name", f"/v2/models/{ONNX}/infer", _v2(pixels[:1], name="image"), {}),
        ("unknown model", "/v2/models/nope/infer", good, {}),
        ("binary data short", f"/v2/models/{ONNX}/infer", *binary_infer(pixels[:1], cut=1)),
        (
            "binary header past the body",
            f"/v2/models/{ONNX}/infer",
            binary,
            {**header, "Inference-Header-Content-Length": str(len(binary) + 1)},
        ),
        (
            "binary header not a number",
            f"/v2/models/{ONNX}/infer",
            binary,
            {**header, "Inference-Header-Content-Length": "many"},
        ),
        ("unknown model (TF)", "/v1/models/nope:predict", {"instances": [1]}, {}),
        ("too many instances", f"/v1/models/{ONNX}:predict", {"instances": too_many.tolist()}, {}),
        ("too many (v2)", f"/v2/models/{ONNX}/infer", _v2(too_many), {}),
        ("TF wrong shape", f"/v1/models/{ONNX}:predict", {"instances": [[1, 2, 3]]}, {}),
        ("TF no instances", f"/v1/models/{ONNX}:predict", {"rows": []}, {}),
        ("empty multipart", "/predict", *multipart({})),
        ("multipart without file", "/predict", *multipart({"image": ("a.png", png)})),
        ("empty file", "/predict", *multipart({"file": ("a.png", b"")})),
        ("unknown route", "/v3/models", None, {}),
    ]


def test_bad_requests_are_one_line_4xx_and_the_server_stays_ready(server, pixels):
    png = _png(pixels[0])
    for what, path, body, headers in _bad_requests(pixels, png):
        method = "GET" if body is None else "POST"
        reply = server.request(method, path, body, headers)
        assert 400 <= reply.status < 500, (what, reply.status, reply.body)
        assert reply.headers.get("content-type") == "application/json", what
        text = reply.body.decode()
        assert "\n" not in text.strip() and "Traceback" not in text, what
        assert re.fullmatch(r".+; .+", reply.json()["error"]), (what, text)
        assert server.request("GET", "/v2/health/ready").status == 200, what
    assert _upload(server, png).status == 200
    assert server.request("POST", f"/v2/models/{ONNX}/infer", _v2(pixels[:1])).status == 200
    assert (
        server.request("POST", f"/v2/models/{ONNX}/infer", *binary_infer(pixels[:1])).status == 200
    )
    assert not [line for line in server.log if "Traceback" in line]


def test_each_request_logs_route_status_model_and_milliseconds(server, pixels):
    server.request("POST", f"/v2/models/{ONNX}/infer", _v2(pixels[:1, :8]))
    server.request("POST", f"/v1/models/{KERAS}:predict", {"instances": pixels[:1].tolist()})
    assert server.request("GET", "/v2/health/ready").status == 200
    lines = list(server.log)
    pattern = r"POST /v2/models/\{name\}/infer 400 model=gesture \d+\.\d ms"
    assert any(re.search(pattern, line) for line in lines), lines[-5:]
    pattern = r"POST /v1/models/\{name\}:predict 200 model=keras \d+\.\d ms"
    assert any(re.search(pattern, line) for line in lines), lines[-5:]


def test_400_uploads_from_32_clients_all_succeed_in_batches(server, pixels):
    pngs = [_png(p) for p in pixels]
    before = server.request("GET", f"/v2/models/{ONNX}/stats").json()["model_stats"][0]
    with ThreadPoolExecutor(32) as pool:
        replies = list(pool.map(lambda i: _upload(server, pngs[i % len(pngs)]), range(400)))
    assert [r.status for r in replies] == [200] * 400
    tops = [r.json()[0]["predictions"][0]["index"] for r in replies]
    assert tops == [[2, 5, 9][i % 3] for i in range(400)]
    after = server.request("GET", f"/v2/models/{ONNX}/stats").json()["model_stats"][0]
    images = after["inference_count"] - before["inference_count"]
    passes = after["execution_count"] - before["execution_count"]
    assert images == 400 and passes < images  # concurrent uploads shared forward passes


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(server):
    import http.client

    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    chunks = (b"\xff" * 65536 for _ in range(24))  # 1.5 MB, no Content-Length
    headers = {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}
    try:
        conn.request("POST", f"/predict?model={ONNX}", body=chunks, headers=headers,
                     encode_chunked=True)  # fmt: skip
        response = conn.getresponse()
        status, body = response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):  # the server may close while we send
        pytest.skip("the connection closed before the answer could be read")
    finally:
        conn.close()
    assert status == 413 and "--max-body-mb" in json.loads(body)["error"]
    assert server.request("GET", "/v2/health/ready").status == 200
    assert not [line for line in server.log if "Traceback" in line]
    assert any(re.search(r"POST /predict 413 model=gesture", line) for line in server.log)
