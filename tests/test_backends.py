"""One engine on every backend: JAX without TensorFlow, data parallel on 2 CPU devices,
a JAX run's model loaded on TensorFlow and PyTorch, resume after SIGKILL, two processes.

Every run is a subprocess: the backend, the device count and the blocked import must be
set before Keras starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.image_folders import make_image_folder
from tests.snippets import NO_TENSORFLOW, TINY_MODEL

ROOT = Path(__file__).resolve().parents[1]
STEPS = (
    TINY_MODEL
    + r"""
import json, sys, keras
from kerascnn.training import engine

class Losses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__(); self.losses = []
    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))

losses = Losses()
h = engine.fit(build, sys.argv[1], epochs=1, batch_size=int(sys.argv[3]), learning_rate=0.1,
               optimizer="sgd", image_size=(16, 16), strategy=sys.argv[2], validation_split=0.0,
               augmentation={}, callbacks=[losses], verbose=0)
print("LOSSES" + json.dumps(losses.losses))
"""
)


def _run(code: str, *args: str, backend: str = "jax", env: dict | None = None, timeout=300):
    environ = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=environ, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


def _losses(proc: subprocess.CompletedProcess) -> list[float]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOSSES"))
    return json.loads(line[len("LOSSES") :])


@pytest.mark.slow  # a JAX-only process; the JAX leg trains with TF installed
def test_jax_trains_without_tensorflow(tmp_path: Path) -> None:
    """Train, then evaluate, predict and fine-tune the run, in a process where TF cannot load."""
    data = make_image_folder(tmp_path / "data", classes=3, per_class=12, size=20)
    out, tuned = tmp_path / "run", tmp_path / "tuned"
    image = next((data / "c1").iterdir())
    commands = [
        ["train", "gesture_cnn", "--data", str(data), "--epochs", "1", "--batch-size", "8",
         "--output", str(out)],
        ["evaluate", str(out), "--data", str(data), "--json"],
        ["predict", str(out), str(image), "--top", "1"],
        ["finetune", str(out / "model.keras"), "--data", str(data), "--head-epochs", "1",
         "--finetune-epochs", "1", "--adapt-batch-norm", "--output", str(tuned)],
    ]  # fmt: skip
    code = NO_TENSORFLOW + (
        "from kerascnn.cli.main import main\n"
        f"for args in {commands!r}:\n"
        "    print('COMMAND', args[0], flush=True)\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (args[0], exc.code)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "jax · " in proc.stdout and " · 1 device" in proc.stdout
    assert {"model.keras", "model.classes.json", "history.csv", "args.json", "split.json"} <= {
        p.name for p in out.iterdir()
    }
    assert json.loads((out / "model.classes.json").read_text())["classes"] == ["c0", "c1", "c2"]
    evaluated = proc.stdout.split("COMMAND evaluate")[1].split("COMMAND predict")[0]
    report = json.loads(evaluated[evaluated.index("{") :])
    assert report["count"] == 36 and report["class_names"] == ["c0", "c1", "c2"]
    assert sum(map(sum, report["confusion"])) == 36
    predicted = proc.stdout.split("COMMAND predict")[1].split("COMMAND finetune")[0]
    assert any(name in predicted for name in ("c0", "c1", "c2"))
    assert json.loads((tuned / "model.classes.json").read_text())["classes"] == ["c0", "c1", "c2"]
    assert json.loads((tuned / "args.json").read_text())["adapt_batch_norm"] is True


@pytest.mark.slow
def test_jax_data_parallel_matches_one_device(tmp_path: Path) -> None:
    """Two CPU devices (XLA_FLAGS), a global batch of 8 split 4 + 4: the same 6 losses."""
    data = make_image_folder(tmp_path / "data", classes=3, per_class=14, size=16)
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    one = _losses(_run(STEPS, str(data), "one", "8", env=flags))
    two = _losses(_run(STEPS, str(data), "mirrored", "4", env=flags))
    assert len(one) == len(two) == 6  # ceil(42 / 8) steps
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)


def test_unknown_strategy_on_torch_is_one_line(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", classes=2, per_class=4, size=16)
    proc = _run(
        "from kerascnn.cli.main import main\n"
        f"main(['train', 'gesture_cnn', '--data', r'{data}', '--strategy', 'mirrored'])\n",
        backend="torch",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: strategy mirrored is not")


PREDICT = r"""
import sys, numpy as np, keras, kerascnn
model = kerascnn.load(sys.argv[1]).model
x = np.random.default_rng(0).uniform(0, 255, (4, *model.input_shape[1:])).astype("float32")
np.save(sys.argv[2], keras.ops.convert_to_numpy(model.predict(x, verbose=0)))
"""


@pytest.mark.slow
def test_jax_model_and_checkpoint_load_on_tensorflow_and_torch(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", classes=3, per_class=12, size=20)
    out = tmp_path / "run"
    proc = _run(
        "from kerascnn.cli.main import main\n"
        f"main(['train', 'gesture_cnn', '--data', r'{data}', '--epochs', '2', "
        f"'--batch-size', '8', '--output', r'{out}'])\n"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for file in ("model.keras", "best.keras"):
        outputs = {}
        for backend in ("jax", "tensorflow", "torch"):
            target = tmp_path / f"{file}-{backend}.npy"
            done = _run(PREDICT, str(out / file), str(target), backend=backend)
            assert done.returncode == 0, done.stderr[-3000:]
            outputs[backend] = np.load(target)
        np.testing.assert_allclose(outputs["tensorflow"], outputs["jax"], atol=1e-4)
        np.testing.assert_allclose(outputs["torch"], outputs["jax"], atol=1e-4)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_loses_no_epoch_on_jax(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", classes=3, per_class=60, size=32)
    out = tmp_path / "run"
    args = ["train", "gesture_cnn", "--data", str(data), "--epochs", "4", "--batch-size", "4",
            "--save-freq", "5", "--output", str(out)]  # fmt: skip
    code = f"from kerascnn.cli.main import main\nmain({args!r})\n"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    history = out / "history.csv"
    deadline = time.time() + 600
    while time.time() < deadline and (
        not history.is_file() or len(history.read_text().splitlines()) < 2
    ):
        time.sleep(0.5)
    time.sleep(2)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(history.read_text().splitlines()) - 1
    assert done_before >= 1
    resumed = _run(code)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = history.read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 1, 2, 3]


WORKER = (
    TINY_MODEL
    + r"""
import json, os, sys
from kerascnn.training import engine
import keras

h = engine.fit(build, sys.argv[1], epochs=2, batch_size=int(sys.argv[3]), learning_rate=0.1,
               optimizer="sgd", image_size=(16, 16), strategy=sys.argv[2], validation_split=0.0,
               augmentation={}, verbose=0)
print("LOSSES" + json.dumps(h.history["loss"]))
"""
)


@pytest.mark.slow
def test_two_jax_processes_agree_with_one(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", classes=3, per_class=16, size=16)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(data), "multiworker", "8"],
            cwd=ROOT,
            env={**env, "KERAS_DISTRIBUTION_PROCESS_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
    pair = [json.loads(next(x for x in o.splitlines() if x.startswith("LOSSES"))[6:])
            for o, _ in results]  # fmt: skip
    single = _losses(_run(WORKER, str(data), "one", "16"))
    np.testing.assert_allclose(pair[0], pair[1], rtol=1e-6)
    np.testing.assert_allclose(pair[0], single, rtol=1e-4, atol=1e-5)


def test_each_process_draws_its_own_augmentation() -> None:
    """Two processes of one run must not crop and flip their halves of a batch alike."""
    from types import SimpleNamespace

    import keras

    from kerascnn.training import distribute, loop
    from kerascnn.training.backends import Devices, process_index

    spec = {"flip": True, "pad": 4, "noise": 4.0}
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype(np.float32)

    def draw(process: int) -> np.ndarray:
        devices = Devices("jax", process=process, processes=2)
        augment = loop.augmentation(spec, 0, devices)
        return keras.ops.convert_to_numpy(augment(x, training=True))

    np.testing.assert_array_equal(draw(1), draw(1))  # reruns repeat: the seed is fixed
    assert not np.allclose(draw(0), draw(1))
    assert [process_index(Devices("jax", process=p, processes=3)) for p in range(3)] == [0, 1, 2]

    def tf_task(task_type: str, task_id: int, chief: bool) -> SimpleNamespace:
        spec = {"worker": ["a:1", "b:1"], **({"chief": ["c:1"]} if chief else {})}
        cluster = SimpleNamespace(as_dict=lambda: spec)
        task = SimpleNamespace(task_type=task_type, task_id=task_id, cluster_spec=lambda: cluster)
        return SimpleNamespace(cluster_resolver=task)

    tasks = [("chief", 0, True), ("worker", 0, True), ("worker", 1, True), ("worker", 1, False)]
    assert [distribute.process_index(tf_task(*t)) for t in tasks] == [0, 1, 2, 1]
    assert distribute.process_index(SimpleNamespace()) == 0  # one process, no cluster
