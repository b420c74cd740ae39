"""tf.distribute on CPU: MirroredStrategy over 2 logical CPUs, and 2 workers with TF_CONFIG.

Each run is a subprocess: logical devices and multi-worker collectives must be
configured before TensorFlow starts, once per process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.image_folders import make_image_folder
from tests.snippets import TINY_MODEL

BUILD = (
    TINY_MODEL
    + r"""
import json, logging, sys
import keras
from kerascnn.training import engine as train
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")

def run(data, batch_size, strategy, output_dir=None, build=build, **settings):
    settings = {"optimizer": "sgd", **settings}
    h = train.fit(build, data, epochs=3, batch_size=batch_size, learning_rate=0.05,
                  image_size=(16, 16), strategy=strategy, output_dir=output_dir, verbose=2,
                  **settings)
    return {"loss": h.history["loss"], "val_loss": h.history["val_loss"],
            "weights": [w.tolist() for w in h.model.get_weights()]}
"""
)

MIRRORED = (
    r"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
    + BUILD
    + r"""
data, result = sys.argv[1:3]
two = run(data, 4, "mirrored")    # 2 replicas x 4 = global batch 8
one = run(data, 8, "one")         # 1 device, batch 8
json.dump({"two": two, "one": one}, open(result, "w"))
"""
)

# momentum (optimizer variables) and batch norm at 64x through a MultiOptimizer: the optimizer
# is made in the strategy's scope
MIRRORED_MOMENTUM = (
    MIRRORED.split("data, result = sys.argv")[0]
    + r"""
def build_bn():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(keras.layers.Rescaling(1 / 255)(inp))
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))

data, result = sys.argv[1:3]
opts = {"optimizer": {"name": "sgd", "momentum": 0.9}, "bn_lr_mult": 64.0, "build": build_bn}
two = run(data, 4, "mirrored", **opts)
one = run(data, 8, "one", **opts)
json.dump({"two": two, "one": one}, open(result, "w"))
"""
)

WORKER = (
    BUILD
    + r"""
data, out, result = sys.argv[1:4]
json.dump(run(data, 4, "auto", out), open(result, "w"))
"""
)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _close(a: list, b: list, **tol: float) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.array(x), np.array(y), **tol)


def test_mirrored_two_cpus_matches_one_device(tmp_path: Path):
    data = make_image_folder(tmp_path / "data", classes=3, per_class=20, size=16)
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(data), str(result)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = "tensorflow · MirroredStrategy · 2 devices; global batch 8 = 4 per replica x 2"
    assert line in proc.stdout
    runs = json.loads(result.read_text())
    # the loss went down, and both runs followed the same curve and ended at the same weights
    assert runs["one"]["loss"][-1] < runs["one"]["loss"][0]
    _close(runs["two"]["loss"], runs["one"]["loss"], rtol=1e-4)
    _close(runs["two"]["val_loss"], runs["one"]["val_loss"], rtol=1e-4)
    _close(runs["two"]["weights"], runs["one"]["weights"], rtol=1e-3, atol=1e-5)


def test_mirrored_with_momentum_and_a_batch_norm_rate_matches_one_device(tmp_path: Path):
    data = make_image_folder(tmp_path / "data", classes=3, per_class=20, size=16)
    result = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-c", MIRRORED_MOMENTUM, str(data), str(result)],
                          env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tensorflow · MirroredStrategy · 2 devices" in proc.stdout
    runs = json.loads(result.read_text())
    # each replica normalises its own 4 images, so the two runs differ; both learn
    for name in ("two", "one"):
        assert runs[name]["loss"][-1] < 0.8 * runs[name]["loss"][0], runs[name]["loss"]


@pytest.mark.slow  # two worker processes; the mirrored tests stay
def test_two_workers_multiworker_mirrored(tmp_path: Path):
    data = make_image_folder(tmp_path / "data", classes=3, per_class=20, size=16)
    cluster = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        procs.append(
            subprocess.Popen(
                # separate output folders, as on two machines: only the chief's gets files
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    str(data),
                    str(tmp_path / f"out{index}"),
                    str(tmp_path / f"result{index}.json"),
                ],
                env=_env(TF_CONFIG=json.dumps(config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=300))
    finally:
        for proc in procs:
            proc.kill()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert "tensorflow · MultiWorkerMirroredStrategy · 2 devices; global batch 8" in outputs[0][0]
    chief, other = (json.loads((tmp_path / f"result{i}.json").read_text()) for i in range(2))
    _close(chief["weights"], other["weights"], rtol=0, atol=0)
    assert chief["loss"] == other["loss"] and chief["loss"][-1] < chief["loss"][0]
    written = {"model.keras", "best.keras", "history.csv", "history.png", "split.json"}
    assert written <= {p.name for p in (tmp_path / "out0").iterdir()}
    assert not written & {p.name for p in (tmp_path / "out1").rglob("*")}


@pytest.mark.parametrize("name", ["mirrored", "one", "auto"])
def test_resolve_strategy_names(name: str):
    import tensorflow as tf

    from kerascnn.training.distribute import resolve_strategy

    strategy = resolve_strategy(name)
    assert isinstance(strategy, tf.distribute.Strategy)
    assert resolve_strategy(strategy) is strategy
    assert strategy.num_replicas_in_sync == 1  # one CPU device in this process


def test_unknown_strategy_is_a_user_error():
    from kerascnn.errors import UserError
    from kerascnn.training.distribute import resolve_strategy

    with pytest.raises(UserError, match="unknown strategy 'mirror'"):
        resolve_strategy("mirror")
