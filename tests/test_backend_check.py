"""A Keras backend that cannot load is one line ``Error: <problem>; <fix>`` with exit code 2,
found with ``importlib.util.find_spec`` when a command first imports Keras (never before)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn.cli import _backend
from kerascnn.cli._backend import backend_problem

EXAMPLE = str(Path(__file__).resolve().parents[1] / "zoo" / "examples" / "sign_digit_5.jpg")

# runs the console script with some modules hidden from find_spec, as if not installed
HIDING = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(name)  # as find_spec answers for a missing module
        return None
sys.meta_path.insert(0, Hide())
sys.argv[0] = "kerascnn"
from kerascnn.cli.main import main
main()
"""


def _run(*args: str, hidden: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", HIDING.format(hidden=set(hidden)), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "installed", "message"),
    [
        ({"KERAS_BACKEND": "jaxx"}, (), "KERAS_BACKEND=jaxx is not a Keras backend; "
         "use tensorflow, jax or torch"),
        ({"KERAS_BACKEND": "torch"}, ("tensorflow", "jax"), "KERAS_BACKEND=torch, but the torch "
         "backend is not installed; pip install torch, or set KERAS_BACKEND=tensorflow"),
        ({"KERAS_BACKEND": "jax"}, (), "KERAS_BACKEND=jax, but the jax backend is not "
         "installed; pip install jax"),
        ({"KERAS_HOME": "/nowhere"}, ("torch",), "Keras' default backend, tensorflow, is not "
         "installed; pip install tensorflow, or set KERAS_BACKEND=torch"),
        ({"KERAS_BACKEND": "torch"}, ("torch",), None),
        ({"KERAS_BACKEND": "", "KERAS_HOME": "/nowhere"}, ("tensorflow",), None),
    ],
)  # fmt: skip
def test_backend_problem(monkeypatch, environ, installed, message):
    monkeypatch.setattr(_backend, "_installed", lambda backend: backend in installed)
    assert backend_problem(environ) == message


def test_keras_json_backend_is_checked_too(tmp_path, monkeypatch):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorfloww"}))
    monkeypatch.setattr(_backend, "_installed", lambda backend: True)
    assert backend_problem({"KERAS_HOME": str(tmp_path)}) == (
        f'"backend": "tensorfloww" in {tmp_path / "keras.json"} is not a Keras backend; '
        "use tensorflow, jax or torch there, or set KERAS_BACKEND"
    )
    assert backend_problem({"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": "jax"}) is None


def test_a_misspelt_backend_is_one_error_line(tmp_path):
    done = _run("predict", "gesture_cnn:sign-digits", EXAMPLE, KERAS_BACKEND="jaxx")
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        "Error: KERAS_BACKEND=jaxx is not a Keras backend; use tensorflow, jax or torch"
    ]
    listed = _run("zoo", "list", "gesture_cnn", KERAS_BACKEND="jaxx")  # no Keras: no check
    assert listed.returncode == 0 and "gesture_cnn" in listed.stdout, listed.stderr


def test_a_backend_not_installed_is_one_error_line(tmp_path):
    done = _run("predict", "gesture_cnn:sign-digits", EXAMPLE, hidden=("torch",),
                KERAS_BACKEND="torch")  # fmt: skip
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        "Error: KERAS_BACKEND=torch, but the torch backend is not installed; "
        "pip install torch, or set KERAS_BACKEND=tensorflow"
    ]
