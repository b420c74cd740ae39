"""Keep TensorFlow's native start-up log lines (absl, oneDNN, CUDA probes) off the terminal.

TensorFlow writes them to file descriptor 2 while it is imported and while it first looks
for its devices, some before it reads ``TF_CPP_MIN_LOG_LEVEL``. Only for that moment does
fd 2 go through a pipe that drops exactly those lines (``filtered_stderr``); then the real
stderr is back, so a terminal stays a terminal and progress bars stay live. After it,
TensorFlow's ``TF_CPP_MIN_LOG_LEVEL`` decides, as documented: 3 (errors hidden too) when
unset, else the user's level. Off with ``kerascnn --verbose`` or ``TF_CPP_MIN_LOG_LEVEL=0``.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["LEVEL_ENV", "NATIVE_LOG_LINE", "filtered_stderr", "hide_native_logs", "shows_native"]

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"

NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWEF]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)
_PREFIX = re.compile(rb"^(W|WA|WAR|WARN|WARNI|WARNIN|WARNING|WARNING:.*|[IWEF]\d{0,4}( .*)?|To.*)$")


def _forward(read_fd: int, write_fd: int) -> None:
    """Copy ``read_fd`` to ``write_fd`` until EOF, without TensorFlow's native log lines."""
    pending = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(read_fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line)]
            if pending and not _PREFIX.match(pending):  # a partial line that is no log line
                kept.append(pending)
                pending = b""
            if kept:
                os.write(write_fd, b"".join(kept))
        if pending and not NATIVE_LOG_LINE.match(pending):
            os.write(write_fd, pending)
    os.close(read_fd)


def _flush_stderr() -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Drop TensorFlow's native log lines written to fd 2 inside the block; the rest passes
    at once. Afterwards fd 2 is the very file it was (a terminal stays a terminal)."""
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    reader = threading.Thread(target=_forward, args=(read_fd, saved), daemon=True)
    reader.start()
    try:
        yield
    finally:
        _flush_stderr()
        os.dup2(saved, 2)  # closes the pipe's last writer: the reader drains and stops
        reader.join(timeout=10)
        if not reader.is_alive():  # else a child process still holds the pipe: keep the fd
            os.close(saved)


class _Loader(importlib.abc.Loader):
    """TensorFlow's own loader, run with fd 2 filtered; its devices listed in the same breath
    (that is when the CUDA probes write), without initialising them."""

    def __init__(self, loader: Any, finder: _TensorFlowImport) -> None:
        self.loader = loader
        self.finder = finder

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            with filtered_stderr():
                self.loader.exec_module(module)
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices()  # the context stays uninitialised
        finally:
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader
            self.finder.remove()


class _TensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, and wraps its loader (once)."""

    name = "tensorflow"

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, self)
                return spec
        return None

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def shows_native(verbose: bool = False, environ: Any = None) -> bool:
    """Whether TensorFlow's native lines are wanted: ``--verbose`` or ``TF_CPP_MIN_LOG_LEVEL=0``."""
    level = (os.environ if environ is None else environ).get(LEVEL_ENV, "").strip()
    return verbose or level == "0"


def hide_native_logs() -> None:
    """Filter TensorFlow's start-up lines whenever it gets imported (unless ``shows_native``).

    ``TF_CPP_MIN_LOG_LEVEL`` becomes 3 when unset; a level the user set is left as it is.
    Nothing to do once TensorFlow is imported.
    """
    if shows_native():
        return
    if not os.environ.get(LEVEL_ENV, "").strip():
        os.environ[LEVEL_ENV] = "3"
    if "tensorflow" in sys.modules or any(isinstance(f, _TensorFlowImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TensorFlowImport())
