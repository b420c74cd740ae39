"""Run the ``kerascnn`` CLI and SIGKILL it at a chosen moment: a deterministic kill point.

``python -m tests.killpoint SPEC -- train MODEL --data DIR ...`` patches library functions
(no hook in the library itself), then calls ``kerascnn.cli.main.main()``. The process kills
itself with SIGKILL when the moment ``SPEC`` names comes, after writing ``KILLPOINT SPEC``
on stderr. ``SPEC`` is ``WHAT@N``, the ``N``-th such moment (from 1) of this process:

``step@N``            a training step ended, before any callback saw it (mid-epoch).
``h5:GLOB@N``         inside a weights write: an HDF5 dataset is being created in a
                      temporary file whose target name matches ``GLOB`` (``ckpt-*``).
``commit:GLOB@N``     a finished temporary file is about to replace its target (``GLOB``:
                      ``ckpt-*``, ``state.json``, ``history.csv``, ``history.png``, ...).
``committed:GLOB@N``  just after it did: e.g. between ``ckpt-*`` and ``state.json``.
``history@N``         ``RunFolder.write_history`` is called (before ``history.csv``).
``bn@N``              inside ``adapt_batch_norm`` after its first batch (precise BN).
``call:MODULE:QUALNAME@N``  any function, when it is called.

``TENSORFLOW=block`` in the environment makes ``import tensorflow`` fail first, as in a
virtual environment without TensorFlow.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _die(spec: str) -> None:
    os.write(2, f"\nKILLPOINT {spec}\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)


class _Counter:
    """Counts the moments that match; the ``n``-th one kills the process."""

    def __init__(self, spec: str, n: int) -> None:
        self.spec, self.n, self.seen = spec, n, 0

    def tick(self) -> None:
        self.seen += 1
        if self.seen == self.n:
            _die(self.spec)


def _wrap(owner: Any, name: str, before: Callable[..., None] | None = None,
          after: Callable[..., None] | None = None) -> None:  # fmt: skip
    original = getattr(owner, name)
    if isinstance(owner, type) and isinstance(owner.__dict__.get(name), staticmethod):
        raise ValueError(f"{owner.__name__}.{name} is a staticmethod; not supported")

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before(*args, **kwargs)
        result = original(*args, **kwargs)
        if after is not None:
            after(*args, **kwargs)
        return result

    setattr(owner, name, wrapper)


def _target_name(path: Any) -> str:
    """``ckpt-3-0.weights.h5`` for a temporary ``.<hex>.tmp.ckpt-3-0.weights.h5``."""
    name = os.path.basename(str(path))
    return name.split(".tmp.", 1)[1] if name.startswith(".") and ".tmp." in name else name


def _install(spec: str) -> None:
    what, _, count = spec.rpartition("@")
    counter = _Counter(spec, int(count))
    kind, _, arg = what.partition(":")
    if kind == "step":
        import keras

        _wrap(keras.callbacks.CallbackList, "on_train_batch_end", lambda *a, **k: counter.tick())
    elif kind in ("commit", "committed"):
        from kerascnn import atomic

        def hit(tmp: Any, path: Any) -> None:
            if fnmatch.fnmatch(os.path.basename(str(path)), arg):
                counter.tick()

        _wrap(atomic, "commit", **({"before": hit} if kind == "commit" else {"after": hit}))
    elif kind == "h5":
        import h5py

        def created(group: Any, *args: Any, **kwargs: Any) -> None:
            if fnmatch.fnmatch(_target_name(group.file.filename), arg):
                counter.tick()

        _wrap(h5py.Group, "create_dataset", before=created)
    elif kind == "history":
        from kerascnn.training.run import RunFolder

        _wrap(RunFolder, "write_history", lambda *a, **k: counter.tick())
    elif kind == "bn":
        _patch_batch_norm(counter)
    elif kind == "call":
        module, _, qualname = arg.partition(":")
        owner: Any = importlib.import_module(module)
        *parents, name = qualname.split(".")
        for part in parents:
            owner = getattr(owner, part)
        _wrap(owner, name, lambda *a, **k: counter.tick())
    else:
        raise SystemExit(f"killpoint: unknown kill point {spec!r}")


def _patch_batch_norm(counter: _Counter) -> None:
    """Kill inside ``adapt_batch_norm``'s ``N``-th call once its first batch has gone through
    the model (the statistics half re-estimated), or as it returns if it takes one batch."""
    modules = []
    for name in ("kerascnn.training.batchnorm", "kerascnn.transfer.batchnorm", "kerascnn.transfer"):
        with contextlib.suppress(ImportError):
            modules.append(importlib.import_module(name))
    original = next(m.adapt_batch_norm for m in modules if hasattr(m, "adapt_batch_norm"))

    def batches(data: Any) -> Any:
        for i, batch in enumerate(data):
            if i == 1:
                _die(counter.spec)
            yield batch

    @functools.wraps(original)
    def adapt(model: Any, data: Any, **kwargs: Any) -> Any:
        counter.seen += 1
        if counter.seen != counter.n:
            return original(model, data, **kwargs)
        original(model, batches(data), **kwargs)
        _die(counter.spec)

    for module in modules:  # wherever it is imported from, now or later
        if getattr(module, "adapt_batch_norm", None) is original:
            module.adapt_batch_norm = adapt


def main(argv: list[str]) -> None:
    if "--" not in argv:
        raise SystemExit("usage: python -m tests.killpoint SPEC [SPEC ...] -- CLI ARGS ...")
    split = argv.index("--")
    if os.environ.get("TENSORFLOW") == "block":
        from tests.snippets import NO_TENSORFLOW

        exec(NO_TENSORFLOW, {})
    for spec in argv[:split]:
        _install(spec)
    from kerascnn.cli.main import main as cli

    cli(argv[split + 1 :])


if __name__ == "__main__":
    main(sys.argv[1:])
