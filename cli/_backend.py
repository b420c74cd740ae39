"""The Keras backend, checked before Keras is imported: a misspelt ``KERAS_BACKEND`` or a backend
whose package is missing is one line ``Error: <problem>; <fix>``, not Keras' long traceback.

Only ``importlib.util.find_spec`` is used (nothing is imported), and the check runs when a
command first imports ``keras`` (``check_on_keras_import``), so commands that never use Keras
(``zoo list``, ``zoo download``) work whatever the backend setting.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from kerascnn.errors import UserError

__all__ = ["BACKENDS", "backend_problem", "check_backend", "check_on_keras_import"]

# backend -> the modules it needs; the first is the one to pip install
BACKENDS = {
    "tensorflow": ("tensorflow",),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
    "numpy": ("numpy",),
    "openvino": ("openvino",),
}
_SUGGESTED = ("tensorflow", "jax", "torch")


def _installed(backend: str) -> bool:
    for module in BACKENDS[backend]:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def _config_file(environ: Mapping[str, str]) -> str:
    """``keras.json`` where Keras looks for it: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp``
    when the home folder is not writable)."""
    if "KERAS_HOME" in environ:
        folder = environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        folder = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    return os.path.expanduser(os.path.join(folder, "keras.json"))


def _configured(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """``(backend, keras.json path)`` as Keras picks it: ``KERAS_BACKEND`` if set and not empty,
    else keras.json's ``"backend"`` (path given), else tensorflow (no path)."""
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"], None
    path = _config_file(environ)
    config: Any = {}
    with contextlib.suppress(OSError, ValueError), open(path, encoding="utf-8") as f:
        config = json.load(f)
    backend = config.get("backend") if isinstance(config, dict) else None
    if isinstance(backend, str) and backend:
        return backend, path
    return "tensorflow", None


def backend_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """The ``<problem>; <fix>`` message for a Keras backend that cannot load, else None."""
    environ = os.environ if environ is None else environ
    backend, config = _configured(environ)
    if environ.get("KERAS_BACKEND"):
        named = f"KERAS_BACKEND={backend}"
    elif config:
        named = f'"backend": "{backend}" in {config}'
    else:
        named = "Keras' default backend, tensorflow,"
    if backend not in BACKENDS:
        there = "" if environ.get("KERAS_BACKEND") else " there, or set KERAS_BACKEND"
        return f"{named} is not a Keras backend; use tensorflow, jax or torch{there}"
    if _installed(backend):
        return None
    others = [b for b in _SUGGESTED if b != backend and _installed(b)]
    fix = f"pip install {BACKENDS[backend][0]}"
    if others:
        fix += f", or set KERAS_BACKEND={others[0]}"
    if named.endswith(","):
        return f"{named} is not installed; {fix}"
    return f"{named}, but the {backend} backend is not installed; {fix}"


def check_backend(environ: Mapping[str, str] | None = None) -> None:
    """Raise a one-line ``UserError`` when the configured Keras backend cannot load."""
    if problem := backend_problem(environ):
        raise UserError(problem)


class _KerasImport(importlib.abc.MetaPathFinder):
    """Runs ``check_backend`` when ``keras`` is first looked for; gone once it passes."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "keras":
            check_backend()  # raises, and stays: every later try fails the same way
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)
        return None


def check_on_keras_import() -> None:
    """Check the backend when this process first imports ``keras`` (no check once it has)."""
    if "keras" in sys.modules:
        return
    if not any(isinstance(f, _KerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasImport())
