"""``kerascnn serve`` under load: requests/s and p50/p99 latency at concurrency 1, 8 and 32,
with dynamic batching on and off, in one run, on 127.0.0.1.

    python benchmarks/serve.py [--model M ...] [--requests 400] [--route infer]
    python benchmarks/serve.py --seeded alexnet --route binary

Serves gesture_cnn:sign-digits exported to ONNX (onnxruntime) and the same zoo spec
through Keras (TensorFlow) unless --model names others; ``--seeded NAME`` serves zoo model
NAME with seeded random weights exported to ONNX (the speed of a forward pass does not
depend on the weights: AlexNet's ImageNet weights need a download). Per model, two servers
run side by side: one batching (``--max-batch 32 --max-delay-ms 0`` or as given), one not
(``--max-batch 1``: each request its own forward pass). Each gets the same bounded load,
``--requests`` requests per concurrency level in ``--rounds`` rounds that alternate between
the two (drifting load on a shared machine hits both alike), each client on one keep-alive
connection. The route is the v2 infer (a JSON tensor of one photo at the model's input
size), the v2 infer with Triton's binary tensor data (``binary``: what tritonclient sends),
a TF Serving ``:predict`` or an upload (``/predict``, a JPEG). Prints one row per (concurrency,
batching), with the mean batch the server ran, and the throughput ratio per concurrency.
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

from tests.serving import binary_infer, exported_onnx, serve  # noqa: E402

LEVELS = (1, 8, 32)


def _payload(route: str, server, name: str) -> tuple[str, bytes, dict]:
    """The request each client sends: one example photo, in the model's size and datatype."""
    from kerascnn.deploy.exporter import example_photos
    from kerascnn.images import prepare_images

    photo = example_photos()[0]
    if route == "upload":
        return f"/predict?model={name}", Path(photo).read_bytes(), {"Content-Type": "image/jpeg"}
    [spec] = server.request("GET", f"/v2/models/{name}").json()["inputs"]
    datatype, size = spec["datatype"], tuple(spec["shape"][1:3])
    pixels = np.round(prepare_images([photo], size)[1])
    pixels = pixels.astype(np.uint8 if datatype == "UINT8" else "<f4")
    if route == "tf":
        body = {"instances": pixels.tolist()}
        return f"/v1/models/{name}:predict", json.dumps(body).encode(), {}
    tensor = {"name": "pixels", "shape": list(pixels.shape), "datatype": datatype}
    path = f"/v2/models/{name}/infer"
    if route == "binary":
        return (path, *binary_infer(pixels, datatype))
    body = {"inputs": [{**tensor, "data": pixels.reshape(-1).tolist()}]}
    return path, json.dumps(body).encode(), {}


def _seeded_onnx(name: str, folder: str) -> str:
    """Zoo model ``name`` with seeded random weights, exported to ONNX in ``folder``."""
    import keras

    import kerascnn
    from kerascnn.deploy.exporter import export

    keras.utils.set_random_seed(0)
    weights = Path(folder) / f"{name}.weights.h5"
    kerascnn.create_model(name).save_weights(weights)
    path = Path(folder) / f"{name}.onnx"
    export(name, "onnx", path, weights=str(weights), force=True)
    weights.unlink()
    return str(path)


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
    """``requests`` requests from ``concurrency`` clients: latencies, wall time, batches."""
    latencies: list[float] = []
    errors: list[int] = []
    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    threads = [
        threading.Thread(target=_client, args=(server.host, server.port, job, n, latencies, errors))
        for n in share
    ]
    images, passes = _stats(server, "m")
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    images2, passes2 = _stats(server, "m")
    return {"ms": [x * 1000 for x in latencies], "wall": wall, "errors": len(errors),
            "images": images2 - images, "passes": passes2 - passes}  # fmt: skip


def _summary(samples: list[dict]) -> dict:
    """Rounds pooled: requests/s over their total time, p50/p99 of all latencies."""
    ms = np.concatenate([s["ms"] for s in samples])
    return {
        "requests": len(ms),
        "errors": sum(s["errors"] for s in samples),
        "rps": len(ms) / sum(s["wall"] for s in samples),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean_batch": sum(s["images"] for s in samples) / max(1, sum(s["passes"] for s in samples)),
    }


def _stats(server, name: str) -> tuple[int, int]:
    reply = server.request("GET", f"/v2/models/{name}/stats").json()["model_stats"][0]
    return reply["inference_count"], reply["execution_count"]


def _run(model: str, args: argparse.Namespace) -> dict:
    """Both servers up at once; per level, rounds alternate on and off (load drift on a
    shared machine hits both alike)."""
    common = [model, "--name", "m", *(["--threads", str(args.threads)] if args.threads else [])]
    on = [*common, "--max-batch", str(args.max_batch), "--max-delay-ms", str(args.max_delay_ms)]
    samples: dict = {(b, level): [] for b in (True, False) for level in LEVELS}
    with serve(on) as with_batching, serve([*common, "--max-batch", "1"]) as without:
        servers = {True: with_batching, False: without}
        job = _payload(args.route, without, "m")
        for server in servers.values():
            _load(server, job, 8, 64)  # warm: connections, allocator, caches
        for level in LEVELS:
            for _ in range(args.rounds):
                for batching in (True, False):
                    run = _load(servers[batching], job, level, args.requests // args.rounds)
                    samples[batching, level].append(run)
    return {b: {level: _summary(samples[b, level]) for level in LEVELS} for b in (True, False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", help="A model to serve (repeatable; default: see above)."
    )
    parser.add_argument("--requests", type=int, default=400, help="Requests per level.")
    parser.add_argument("--rounds", type=int, default=4, help="Rounds per level, alternating.")
    parser.add_argument(
        "--seeded", action="append", help="A zoo model to export with seeded weights and serve."
    )
    parser.add_argument("--route", choices=("infer", "binary", "tf", "upload"), default="infer")
    parser.add_argument("--max-batch", type=int, default=32, help="With batching on.")
    parser.add_argument("--max-delay-ms", type=float, default=0, help="With batching on.")
    parser.add_argument("--threads", type=int, help="The server's --threads.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()
    from kerascnn.deploy.server import default_threads

    figures = {}
    with tempfile.TemporaryDirectory(prefix="kerascnn-serve-bench-") as folder:
        models = [*(args.model or []), *(_seeded_onnx(n, folder) for n in args.seeded or [])]
        models = models or [str(exported_onnx(folder)), "gesture_cnn:sign-digits"]
        for model in models:
            runs = _run(model, args)
            figures[model] = {"on" if k else "off": v for k, v in runs.items()}
            _print(model, runs, args, _forward_ms(model, args.threads or default_threads()))
    if args.json:
        print(json.dumps(figures))


def _forward_ms(model: str, threads: int) -> str:
    """An export's forward pass per image, alone, at batch 1 and 32 (what batching can save)."""
    from kerascnn.deploy.runtime import is_artifact, load_artifact

    if not is_artifact(model):
        return ""
    artifact = load_artifact(model, threads)
    costs = []
    for batch in (1, 32):
        shape = (batch, *artifact.input_size, 3)
        pixels = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
        artifact.run(pixels)  # warm
        start, runs = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < 3 or runs < 2:
            artifact.run(pixels)
            runs += 1
        costs.append(elapsed / runs / batch * 1000)
    return (
        f"forward pass per image, {threads} thread(s), no server: {costs[0]:.2f} ms at batch 1,"
        f" {costs[1]:.2f} ms at batch 32 ({costs[0] / costs[1]:.2f}x)"
    )


def _print(model: str, runs: dict, args: argparse.Namespace, forward: str) -> None:
    print(f"\nkerascnn serve {model}: route {args.route}, {args.requests} requests per level")
    if forward:
        print(forward)
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
