"""``kerascnn serve`` under load: requests/s and p50/p99 latency at concurrency 1, 8 and 32,
with dynamic batching on and off, in one run, on 127.0.0.1.

    python benchmarks/serve.py [--model M ...] [--requests 400] [--route infer]

Serves gesture_cnn:sign-digits exported to ONNX (onnxruntime) and the same zoo spec
through Keras (TensorFlow) unless --model names others. Starts the server twice per model
(``--max-batch 32 --max-delay-ms 0`` or as given, then ``--max-batch 1``: each request its
own forward pass) and sends the same bounded load to each: ``--requests`` requests per concurrency
level, each client on one keep-alive connection. The route is the v2 infer (a JSON UINT8
tensor of one 64x64 photo), a TF Serving ``:predict`` or an upload (``/predict``, a JPEG).
Prints one row per (concurrency, batching) and the throughput ratio at each concurrency.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.serving import exported_onnx, serve  # noqa: E402

LEVELS = (1, 8, 32)


def _payload(route: str, name: str) -> tuple[str, bytes, dict]:
    from kerascnn.deploy.exporter import example_photos
    from kerascnn.predict import prepare_images

    photo = example_photos()[0]
    if route == "upload":
        return f"/predict?model={name}", Path(photo).read_bytes(), {"Content-Type": "image/jpeg"}
    pixels = np.round(prepare_images([photo], (64, 64))[1]).astype(np.uint8)
    if route == "tf":
        body = {"instances": pixels.tolist()}
        return f"/v1/models/{name}:predict", json.dumps(body).encode(), {}
    tensor = {"name": "pixels", "shape": [1, 64, 64, 3], "datatype": "UINT8"}
    body = {"inputs": [{**tensor, "data": pixels.reshape(-1).tolist()}]}
    return f"/v2/models/{name}/infer", json.dumps(body).encode(), {}


def _client(host: str, port: int, job: tuple, count: int, out: list, errors: list) -> None:
    path, body, headers = job
    headers = {"Content-Type": "application/json", **headers}
    conn = http.client.HTTPConnection(host, port, timeout=120)
    for _ in range(count):
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - start)
        if response.status != 200:
            errors.append(response.status)
    conn.close()


def _load(server, job: tuple, concurrency: int, requests: int) -> dict:
    """``requests`` requests from ``concurrency`` clients; requests/s, p50, p99 (ms)."""
    latencies: list[float] = []
    errors: list[int] = []
    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    threads = [
        threading.Thread(target=_client, args=(server.host, server.port, job, n, latencies, errors))
        for n in share
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "errors": len(errors),
        "rps": len(ms) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
    }


def _stats(server, name: str) -> tuple[int, int]:
    reply = server.request("GET", f"/v2/models/{name}/stats").json()["model_stats"][0]
    return reply["inference_count"], reply["execution_count"]


def _run(model: str, batching: bool, args: argparse.Namespace) -> dict:
    on = ["--max-batch", str(args.max_batch), "--max-delay-ms", str(args.max_delay_ms)]
    options = on if batching else ["--max-batch", "1"]
    options += ["--threads", str(args.threads)] if args.threads else []
    results = {}
    with serve([model, "--name", "m", *options]) as server:
        job = _payload(args.route, "m")
        _load(server, job, 8, 64)  # warm: connections, allocator, caches
        for level in LEVELS:
            images, passes = _stats(server, "m")
            row = _load(server, job, level, args.requests)
            images2, passes2 = _stats(server, "m")
            row["mean_batch"] = (images2 - images) / max(1, passes2 - passes)
            results[level] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", help="A model to serve (repeatable; default: see above)."
    )
    parser.add_argument("--requests", type=int, default=400, help="Requests per level.")
    parser.add_argument("--route", choices=("infer", "tf", "upload"), default="infer")
    parser.add_argument("--max-batch", type=int, default=32, help="With batching on.")
    parser.add_argument("--max-delay-ms", type=float, default=0, help="With batching on.")
    parser.add_argument("--threads", type=int, help="The server's --threads.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()
    models = args.model or [
        str(exported_onnx(tempfile.mkdtemp(prefix="kerascnn-serve-bench-"))),
        "gesture_cnn:sign-digits",
    ]
    figures = {}
    for model in models:
        runs = {on: _run(model, on, args) for on in (True, False)}
        figures[model] = {"on" if k else "off": v for k, v in runs.items()}
        _print(model, runs, args)
    if args.json:
        print(json.dumps(figures))


def _print(model: str, runs: dict, args: argparse.Namespace) -> None:
    print(f"\nkerascnn serve {model}: route {args.route}, {args.requests} requests per level")
    print("concurrency  batching   req/s    p50 ms   p99 ms  mean batch  errors")
    for level in LEVELS:
        for on in (True, False):
            r = runs[on][level]
            print(
                f"{level:>11}  {'on' if on else 'off':>8}  {r['rps']:>6.1f}  {r['p50']:>8.1f}"
                f"  {r['p99']:>7.1f}  {r['mean_batch']:>10.1f}  {r['errors']:>6}"
            )
    for level in LEVELS:
        ratio = runs[True][level]["rps"] / runs[False][level]["rps"]
        print(f"throughput with / without batching at concurrency {level}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
