"""Where weights live: ``$KERASCNN_HOME``, else ``$KERAS_HOME/kerascnn``, else
``~/.keras/kerascnn``, as ``MODEL/VARIANT/FILE``; bundled weights live in the package.
Cheap to import (no Keras)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError, WeightsUnavailableError

__all__ = [
    "CachedFile",
    "cache_root",
    "cached_path",
    "clear_cache",
    "import_weights",
    "list_cache",
    "variant_file",
]


def cache_root() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("KERASCNN_HOME"):
        return Path(os.environ["KERASCNN_HOME"]).expanduser()
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser() / "kerascnn"
    return Path.home() / ".keras" / "kerascnn"


def cached_path(model: str, variant: str, card: dict[str, Any]) -> Path:
    """Where weight variant ``card`` of ``model`` is (or would be) cached.

    Bundled weights (a ``file`` card) are in the package: their path is returned.
    """
    if "file" in card:
        return Path(str(resources.files("kerascnn.zoo").joinpath(card["file"])))
    filename = card.get("filename") or card["url"].rsplit("/", 1)[-1]
    return cache_root() / model / variant / filename


def _missing_hint(model: str, variant: str, card: dict[str, Any], path: Path, why: str) -> str:
    return (
        f"{model}:{variant}: {path.name} is not in the cache ({path.parent}) and {why}; "
        f"download {card['url']} by other means, then run "
        f"`kerascnn zoo import {model}:{variant} FILE`"
    )


def variant_file(
    model: str, variant: str, card: dict[str, Any], *, progress: bool | None = None
) -> Path:
    """The verified local file of ``model:variant``: bundled, cached, or downloaded now.

    Raises ``WeightsUnavailableError`` (one line, with the import command) when it is
    neither cached nor downloadable: ``KERASCNN_OFFLINE=1`` or the network fails.
    """
    from kerascnn import hub

    path = cached_path(model, variant, card)
    if "file" in card:
        ok, found = hub.file_matches(path, card["hash"]) if path.is_file() else (False, "none")
        if not ok:
            raise UserError(f"{model}:{variant}: the bundled file {path} is damaged ({found})")
        return path
    if hub.is_valid(path, card["hash"], card.get("size")):
        return path
    if hub.offline():
        hint = _missing_hint(model, variant, card, path, "KERASCNN_OFFLINE=1 is set")
        raise WeightsUnavailableError(hint)
    try:
        return hub.fetch(
            card["url"], path, hash=card["hash"], size=card.get("size"), progress=progress
        )
    except hub.DownloadError as exc:
        why = f"the download failed ({exc})"
        raise WeightsUnavailableError(_missing_hint(model, variant, card, path, why)) from None


def import_weights(model: str, variant: str, card: dict[str, Any], source: str | Path) -> Path:
    """Verify a file fetched by other means and install it in the cache (atomically)."""
    from kerascnn import hub

    source = Path(source).expanduser()
    if "file" in card:
        raise UserError(f"{model}:{variant} is bundled with kerascnn; nothing to import")
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    ok, found = hub.file_matches(source, card["hash"], card.get("size"))
    if not ok:
        raise hub.HashMismatchError(
            f"{source}: not the published {model}:{variant} file ({found}; "
            f"expected {card['hash']}, {card.get('size', '?')} bytes)"
        )
    dest = cached_path(model, variant, card)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.import.part")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    hub.write_stamp(dest, card["hash"])
    return dest


@dataclass
class CachedFile:
    """One file in the cache."""

    model: str
    variant: str
    path: Path
    size: int
    partial: bool  # an unfinished download (``.part``)


def list_cache() -> list[CachedFile]:
    """The weight files in the cache (complete and partial), sorted."""
    root = cache_root()
    found = []
    for path in sorted(root.glob("*/*/*")) if root.is_dir() else []:
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".lock":
            model, variant = path.parent.parent.name, path.parent.name
            partial = path.suffix == ".part"
            found.append(CachedFile(model, variant, path, path.stat().st_size, partial))
    return found


def clear_cache(model: str | None = None, variant: str | None = None) -> list[Path]:
    """Delete the cached weights (all, one model's, or one variant's); return what went."""
    root = cache_root()
    target = root / model / variant if variant else root / model if model else root
    if model and not target.exists():
        return []
    removed = [f.path for f in list_cache() if f.path.is_relative_to(target)]
    if target.is_dir():
        shutil.rmtree(target)
    return removed
