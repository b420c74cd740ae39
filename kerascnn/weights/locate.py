"""Where a preset comes from: a local folder, an hf:// or kaggle:// URI (through
:mod:`kerascnn.weights.hub`), or an ``https://`` URL of a preset archive, downloaded by
kerascnn's own fetcher (:mod:`kerascnn.weights.download`: verified, resumable, locked)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Literal

from kerascnn.errors import UserError
from kerascnn.weights.hub import HubURI, fetch_preset, parse_uri, read_meta, tidy
from kerascnn.weights.preset import METADATA_FILE, is_preset

__all__ = ["fetch_archive", "locate_preset"]


def fetch_archive(uri: HubURI) -> Path:
    """The preset folder inside the archive at ``uri`` (``.zip``, ``.tar.gz``), downloaded
    once into kerascnn's cache (``presets/<sha256 of the URL>/``) and unpacked there."""
    from kerascnn.weights import download
    from kerascnn.weights.cache import cache_root

    key = hashlib.sha256(uri.text.encode()).hexdigest()[:16]
    base = cache_root() / "presets" / key
    extracted = base / "preset"
    if not (extracted.is_dir() and any(extracted.iterdir())):
        name = uri.text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        with tidy(cache_root()):
            archive = download.fetch(uri.text, base / name, hash=None)
            tmp = base / f".extract.{os.getpid()}"  # one per process; the rename decides
            try:
                safe: dict[str, Literal["data"]] = {"filter": "data"}  # tar: no links out, ...
                shutil.unpack_archive(archive, tmp, **({} if archive.suffix == ".zip" else safe))
            except (shutil.ReadError, ValueError, OSError) as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                archive.unlink(missing_ok=True)
                raise UserError(
                    f"{uri.text}: not a readable archive ({exc}); check the URL"
                ) from None
            try:
                tmp.rename(extracted)
            except OSError:  # another process unpacked it first
                shutil.rmtree(tmp, ignore_errors=True)
    found = [p.parent for p in sorted(extracted.rglob(METADATA_FILE)) if is_preset(p.parent)]
    if not found:
        raise UserError(f"{uri.text}: the archive holds no kerascnn preset (no {METADATA_FILE})")
    read_meta(found[0] / METADATA_FILE, uri.text)
    return found[0]


def locate_preset(text: str) -> Path:
    """The local folder of the preset a URI names (checked: a one-line ``UserError`` first)."""
    uri = parse_uri(text)
    return fetch_preset(uri) if uri.scheme in ("hf", "kaggle") else fetch_archive(uri)
