"""The zoo's recipes train through ``kerascnn.fit`` on TensorFlow and on JAX.

Each recipe runs for one short epoch on a small subset of its own data (20 training images
per class), in a subprocess with ``KERAS_BACKEND`` set (the backend must be chosen before
Keras starts); on JAX the CIFAR-10 recipe runs with ``import tensorflow`` blocked. The run
folder's ``model.keras`` must load and predict every class, and ``args.json`` must record
the recipe's settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kerascnn
from kerascnn._devices import accelerator, amx_cpu
from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as cifar
from kerascnn.zoo.recipes import gesture_cnn_sign_digits as gesture
from tests.snippets import NO_TENSORFLOW

ROOT = Path(__file__).resolve().parents[1]
# a small model for the CPU (the published one is 2 M parameters), warm-up off for one epoch
CIFAR_SMALL = {
    "epochs": 1,
    "warmup_epochs": 0,
    "batch_size": 32,
    "model_args": {"filters": [8, 16], "convs_per_stage": 1},
    "whitening": {"patches": 50},
}
RUN = r"""
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as cifar, gesture_cnn_sign_digits as gesture
which, data, out, overrides = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if which == "cifar":
    result = cifar.run(data, out, cifar.with_overrides(cifar.RECIPE, overrides))
else:
    result = gesture.run(data, out, epochs=1)
print("RESULT" + json.dumps(result))
"""


def _run(which: str, data: Path, out: Path, backend: str, block_tf: bool = False) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = (NO_TENSORFLOW if block_tf else "") + RUN
    args = [which, str(data), str(out), json.dumps(CIFAR_SMALL)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"{backend} · " in proc.stdout  # the engine's first line names the backend
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def _json(value):
    return json.loads(json.dumps(value))


def _check_run_folder(out: Path, backend: str, expected: dict, size: int, classes: int) -> dict:
    args = json.loads((out / "args.json").read_text())
    assert args["strategy"].startswith(f"{backend} · ")
    assert {k: args[k] for k in expected} == _json(expected)
    model = kerascnn.load(out).model
    x = np.random.default_rng(0).uniform(0, 255, (3, size, size, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (3, classes)
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2  # header and one epoch
    return args


def _cifar_subset(data_dir: Path, path: Path, train: int = 20, test: int = 3) -> Path:
    """The first ``train``/``test`` images of each class of the CIFAR-10 archive, as a zip."""
    archive = data_dir / "cifar10-jpeg" / "cifar10-jpeg.zip"
    if not archive.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {archive}")
    taken: dict[tuple[str, str], int] = {}
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(path, "w") as dst:
        for name in sorted(n for n in src.namelist() if n.endswith(".jpg")):
            split, label, _ = name.split("/")
            if taken.get((split, label), 0) < (train if split == "train" else test):
                taken[(split, label)] = taken.get((split, label), 0) + 1
                dst.writestr(name, src.read(name))
    return path


@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.slow)])
def test_cifar10_recipe_trains_through_the_engine(backend, data_dir, tmp_path):
    data = _cifar_subset(data_dir, tmp_path / "cifar10-jpeg.zip")
    out = tmp_path / "run"
    result = _run("cifar", data, out, backend, block_tf=backend == "jax")
    assert result["backend"] == backend
    assert result["count"] == 30 and 0 <= result["errors"] <= 30
    recipe = cifar.with_overrides(cifar.RECIPE, CIFAR_SMALL)
    args = _check_run_folder(out, backend, cifar.fit_args(recipe), 32, 10)
    # the recipe's own numbers, where the test did not shrink them
    assert args["optimizer"] == {"name": "sgd", "momentum": 0.9, "nesterov": True}
    assert (args["learning_rate"], args["schedule"], args["weight_decay"]) == (
        1.0, "triangular", 1e-3
    )  # fmt: skip
    assert args["label_smoothing"] == 0.2 and args["mixed_precision"] == "auto"
    # "auto" resolved on this machine, and recorded: bfloat16 only where it is not emulated
    native = accelerator() or amx_cpu()
    assert args["dtype_policy"] == ("mixed_bfloat16" if native else "float32")
    assert args["augmentation"] == {"flip": "alternate", "pad": 2, "pad_mode": "reflect"}
    assert args["model_args"]["whiten"] == 2 and args["precise_bn"] == "auto"
    assert args["model"] == (
        "alexnet_cifar(classes=10, whitening from 50 training images, identity start, "
        "batch-norm scale fixed at 1)"
    )
    split = json.loads((out / "split.json").read_text())
    assert split["counts"] == {"train": 200, "validation": 30, "test": 0}
    weights = out / "alexnet_cifar_cifar10.weights.h5"
    assert result["weights"] == str(weights) and weights.is_file()


@pytest.mark.slow  # the CIFAR-10 recipe test covers the engine path
@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.slow)])
def test_gesture_recipe_trains_through_the_engine(backend, data_dir, tmp_path):
    images = data_dir / "sign-language-digits" / "images"
    if not images.is_dir():
        pytest.skip(f"Sign Language Digits not found at {images}")
    data = tmp_path / "digits"
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        (data / folder.name).mkdir(parents=True)
        for photo in sorted(folder.iterdir())[:20]:
            (data / folder.name / photo.name).symlink_to(photo)
    out = tmp_path / "run"
    result = _run("gesture", data, out, backend)
    assert result["count"] > 0 and 0.0 <= result["accuracy"] <= 1.0
    expected = {**gesture.fit_args(gesture.RECIPE), "epochs": 1}
    args = _check_run_folder(out, backend, expected, 64, 10)
    assert args["model"] == "gesture_cnn"
    assert (out / "gesture_cnn_sign_digits.weights.h5").is_file()


@pytest.mark.slow
def test_cifar10_builder_sets_the_published_whitening_layer(data_dir):
    """The engine's builder computes, from the extracted archive, the very whitening filters
    of the bundled weights: the same training images, in the same order, decoded alike."""
    from kerascnn.zoo.recipes.cifar_data import cifar_folder

    archive = data_dir / "cifar10-jpeg" / "cifar10-jpeg.zip"
    if not archive.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {archive}")
    folder = cifar_folder(archive, (32, 32), cifar.RECIPE["seed"])
    assert (folder.count("train"), folder.count("validation")) == (50_000, 10_000)
    # mixed, not class by class: TensorFlow's 10,000-image shuffle buffer starts from this order
    assert np.bincount([label for _, label in folder.files["train"][:1000]]).min() > 50
    built = cifar.WhitenedBuilder(cifar.RECIPE, folder)
    published = kerascnn.create_model("alexnet_cifar", weights="cifar10").get_layer("whiten")
    for ours, theirs in zip(built.whitening, published.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
