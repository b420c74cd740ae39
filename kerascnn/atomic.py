"""Atomic file writes: a temporary ``.<random>.tmp.<name>`` beside the target, fsynced,
given the umask's mode (not ``mkstemp``'s 0600), ``os.replace``d over it; removed on any error.
One that a killed process left behind is deleted by :func:`remove_temporaries`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_path",
    "check_folder",
    "check_target",
    "commit",
    "remove_temporaries",
    "write_json",
    "write_text",
]

_TMP = ".tmp."  # a temporary file is ".<hex>.tmp.<name>"
_TOKEN_BYTES = 4


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (threads may race)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)  # no way to read it but to set it: put it back at once
    os.umask(umask)
    return umask


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """fsync ``tmp``, give it a normal file's mode and move it over ``path`` (same folder)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
    _fsync_folder(Path(path).parent)
    return Path(path)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{secrets.token_hex(_TOKEN_BYTES)}{_TMP}{path.name}")


def remove_temporaries(folder: str | os.PathLike[str], names: str = "*") -> int:
    """Delete the temporary files that a write to ``folder/<names>`` (a glob) left behind
    when its process was killed; the number deleted. Only where no write is under way: in a
    folder that one process writes, between its writes."""
    removed = 0
    for path in Path(folder).glob(f".*{_TMP}{names}"):
        token = path.name[1:].partition(_TMP)[0]
        if len(token) == 2 * _TOKEN_BYTES and all(c in "0123456789abcdef" for c in token):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; it replaces ``path`` on success.

    ``with atomic_path("run/model.keras") as tmp: model.save(tmp)``
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open()`` for writing (``"w"``, ``"wb"``), through :func:`atomic_path`."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], data: object) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=1))


def check_target(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written: a one-line ``UserError`` if not.

    An existing file is refused unless ``force``; the folder must exist and be writable.
    """
    from kerascnn.errors import UserError

    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file name, e.g. {path / 'out.png'}")
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: no such folder; create it or write elsewhere")
    check_folder(path.parent, "write elsewhere")
    return path


def check_folder(folder: str | os.PathLike[str], fix: str) -> None:
    """``folder``, or its nearest existing parent, is a folder this process can write in."""
    from kerascnn.errors import UserError

    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{existing} is a file, not a folder; {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {existing} (permission denied); {fix}")
