"""Fetching weight files into the cache: verified, atomic, resumable, locked, mirrorable
(``keras.utils.get_file`` cannot resume, lock, retry or mirror). Standard library and ``rich``
only; docs/models.md ("The cache") describes the ``KERASCNN_*`` variables read here."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from kerascnn.atomic import commit, write_text
from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.weights.url_policy import CheckedRedirects, check_origin, mirror_url, offline

if TYPE_CHECKING:
    from rich.progress import Progress

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no inter-process lock
    fcntl = None  # type: ignore[assignment]

# check_origin, mirror_url and offline are reachable here too (home: url_policy)
__all__ = ["DownloadError", "HashMismatchError", "fetch", "file_matches", "is_valid", "write_stamp"]

CHUNK = 1 << 20
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(WeightsUnavailableError):
    """The file could not be downloaded (final HTTP error, or network down after retries)."""


class HashMismatchError(UserError):
    """A downloaded or imported file whose hash or size is not the published one."""


def file_matches(
    path: Path, expected_hash: str | None, size: int | None = None
) -> tuple[bool, str]:
    """``(ok, what was found)``: ``path`` against ``"md5:..."``/``"sha256:..."`` (a prefix
    counts; None: any) and ``size``."""
    algorithm, _, expected = (expected_hash or "sha256:").partition(":")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return False, f"{actual_size:,} bytes instead of {size:,}"
    with open(path, "rb") as f:
        actual = hashlib.file_digest(f, algorithm).hexdigest()
    if not actual.startswith(expected.lower()):
        return False, f"{algorithm} {actual} instead of {expected}"
    return True, f"{algorithm} {actual}"


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def write_stamp(path: Path, expected_hash: str | None) -> None:
    """Record that ``path`` (as it is now: size, mtime) matched ``expected_hash``."""
    st = path.stat()
    stamp = {"hash": expected_hash, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    write_text(_stamp_path(path), json.dumps(stamp))


def is_valid(path: Path, expected_hash: str | None, size: int | None = None) -> bool:
    """Whether a cached file is complete and intact; hashed again when its size or mtime
    changed since it was last verified (an untouched one costs a stat). Without a hash: a
    file that is there (downloads are renamed into place only when complete)."""
    if not path.is_file():
        return False
    if expected_hash is None:
        return size is None or path.stat().st_size == size
    st = path.stat()
    with contextlib.suppress(OSError, ValueError):
        stamp = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
        if stamp == {"hash": expected_hash, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return size is None or st.st_size == size
    ok, _ = file_matches(path, expected_hash, size)
    if ok:
        write_stamp(path, expected_hash)
    return ok


def _progress_bar(label: str, progress: bool | None) -> Progress:
    """A rich progress bar on stderr with one task, ``label``; it draws nothing (``disable``)
    unless ``progress``, by default a terminal and no ``KERASCNN_QUIET=1``."""
    from rich import progress as rp
    from rich.console import Console

    if progress is None:
        progress = os.environ.get("KERASCNN_QUIET") != "1" and sys.stderr.isatty()
    bar = rp.Progress(
        rp.TextColumn("{task.description}"),
        rp.BarColumn(),
        rp.DownloadColumn(),
        rp.TransferSpeedColumn(),
        rp.TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        disable=not progress,
    )
    bar.add_task(label, total=None)
    return bar


@contextlib.contextmanager
def _locked(dest: Path, bar: Progress) -> Iterator[None]:
    """Hold an exclusive lock on ``dest.lock``, removed on release; a waiter that locked a
    file removed meanwhile (another inode than the path's) tries again."""
    if fcntl is None:
        yield
        return
    lock = dest.with_name(dest.name + ".lock")
    said = False
    while True:
        fh = open(lock, "a+")  # noqa: SIM115 - held across the yield
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said and not bar.disable:
                bar.console.print(f"waiting for another process downloading {dest.name} ...")
                said = True
            fcntl.flock(fh, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fh.fileno()).st_ino == os.stat(lock).st_ino:
                break
        fh.close()
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        fh.close()


def _attempt(
    opener: urllib.request.OpenerDirector, url: str, part: Path, bar: Progress, timeout: float
) -> bool:
    """One request; appends to ``part`` if the server honours Range. -> whether it resumed."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "kerascnn", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        resumed = bool(have) and getattr(resp, "status", None) == 206
        if resumed and not resp.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            raise urllib.error.URLError("the server answered a different byte range")
        if not resumed:
            have = 0
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        task = bar.task_ids[0]
        bar.update(task, total=have + expected if expected is not None else None, completed=have)
        got = 0
        with open(part, "ab" if resumed else "wb") as f:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                got += len(chunk)
                bar.advance(task, len(chunk))
    if expected is not None and got < expected:
        raise http.client.IncompleteRead(b"", expected - got)
    return resumed


def _download(
    url: str, part: Path, bar: Progress, retries: int, backoff: float, timeout: float
) -> bool:
    """Fill ``part`` from ``url``, resuming and retrying; -> whether any resume happened."""
    opener = urllib.request.build_opener(CheckedRedirects)
    failures, resumed_any = 0, False
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            return _attempt(opener, url, part, bar, timeout) or resumed_any
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # our partial file is longer than the file: start over
                part.unlink(missing_ok=True)
            elif exc.code not in _TRANSIENT_HTTP:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = str(getattr(exc, "reason", None) or exc.__class__.__name__)
            if isinstance(getattr(exc, "reason", None), socket.gaierror):
                # no DNS answer: offline or a wrong host; retrying only makes the user wait
                raise DownloadError(f"{url}: cannot reach the host ({reason})") from None
        after = part.stat().st_size if part.exists() else 0
        resumed_any = resumed_any or after > 0
        failures = 0 if after > before else failures + 1
        if failures > retries:
            raise DownloadError(f"{url}: download failed after {retries} retries ({reason})")
        time.sleep(min(backoff * 2 ** max(failures - 1, 0), 30.0))


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    hash: str | None,
    size: int | None = None,
    progress: bool | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is there; return ``dest``.

    Written to ``dest.part``, renamed into place once hash and size match, resumed with HTTP
    Range; a final HTTP error or a wrong hash leaves no file. Processes take turns (file lock).

    Args:
        url, dest: the origin (https, see ``check_origin``; ``KERASCNN_MIRROR`` rewrites it).
        hash, size: ``"md5:..."`` or ``"sha256:..."`` (a prefix counts; None: unchecked);
            bytes, if known.
        progress: a progress bar (default: unless ``KERASCNN_QUIET=1`` or not a terminal).
        retries, backoff, timeout: retries after ``backoff * 2**n`` s (max 30); stall seconds.
    """
    dest = Path(dest)
    if is_valid(dest, hash, size):
        return dest
    if offline():
        raise WeightsUnavailableError(
            f"{dest.name} is not cached and KERASCNN_OFFLINE=1; "
            f"unset KERASCNN_OFFLINE to download it, or put the file at {dest}"
        )
    url = mirror_url(url)
    check_origin(url)
    created = next((p for p in reversed(dest.parents) if not p.exists()), None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch_locked(url, dest, hash, size, progress, (retries, backoff, timeout))
    except BaseException:
        _remove_empty(dest.parent, created)  # a failed download leaves no empty folder
        raise


def _remove_empty(folder: Path, top: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``top`` (which this call created) while empty."""
    if top is None:
        return
    while folder.is_relative_to(top) and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _fetch_locked(
    url: str,
    dest: Path,
    hash: str | None,
    size: int | None,
    progress: bool | None,
    tries: tuple[int, float, float],
) -> Path:
    retries, backoff, timeout = tries
    with _progress_bar(dest.name, progress) as bar, _locked(dest, bar):
        if is_valid(dest, hash, size):
            return dest
        dest.unlink(missing_ok=True)  # corrupt or outdated: fetch it again
        part = dest.with_name(dest.name + ".part")
        for fresh in (False, True):
            resumed = _download(url, part, bar, retries, backoff, timeout)
            ok, found = file_matches(part, hash, size)
            if ok:
                commit(part, dest)  # fsync, a normal file's mode, then the rename
                write_stamp(dest, hash)
                return dest
            part.unlink(missing_ok=True)
            if not resumed or fresh:  # a resume may have joined two versions: retry once
                break
        raise HashMismatchError(
            f"{url}: the download does not match the published hash ({found}; expected {hash})"
        )
