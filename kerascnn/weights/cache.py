"""Where weights live: ``$KERASCNN_HOME``, else ``$KERAS_HOME/kerascnn``, else
``~/.keras/kerascnn``, as ``MODEL/VARIANT/FILE``; bundled weights live in the package."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kerascnn.atomic import atomic_path
from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.weights import download as hub
from kerascnn.weights.cards import WeightCard

__all__ = [
    "CachedFile",
    "cache_root",
    "cached_path",
    "clear_cache",
    "import_weights",
    "is_cached",
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


def cached_path(card: WeightCard) -> Path:
    """Where the weights of ``card`` are (or would be) cached; bundled ones: in the package."""
    if card.file is not None:
        return Path(str(resources.files("kerascnn.zoo").joinpath(card.file)))
    filename = card.filename or str(card.url).rsplit("/", 1)[-1]
    return cache_root() / card.model / card.variant / filename


def is_cached(card: WeightCard) -> bool:
    """Whether the file of ``card`` is here, complete and verified (bundled ones always)."""
    return card.bundled or hub.is_valid(cached_path(card), card.hash, card.size)


def _missing_hint(card: WeightCard, path: Path, why: str) -> str:
    return (
        f"{card.spec}: {path.name} is not in the cache ({path.parent}) and {why}; "
        f"download {card.url} by other means, then run `kerascnn zoo import {card.spec} FILE`"
    )


def variant_file(card: WeightCard, *, progress: bool | None = None) -> Path:
    """The verified local file of ``card``: bundled, cached, or downloaded now; else a
    ``WeightsUnavailableError`` naming the import command (``KERASCNN_OFFLINE=1``, no network)."""
    path = cached_path(card)
    if card.bundled:
        ok, found = hub.file_matches(path, card.hash) if path.is_file() else (False, "none")
        if not ok:
            raise UserError(
                f"{card.spec}: the bundled file {path} is damaged ({found}); reinstall kerascnn"
            )
        return path
    if hub.is_valid(path, card.hash, card.size):
        return path
    if str(card.url).startswith("hf://"):  # through huggingface_hub and its cache
        from kerascnn.weights.hub import hf_card_file

        return hf_card_file(card, path)
    if hub.offline():
        raise WeightsUnavailableError(_missing_hint(card, path, "KERASCNN_OFFLINE=1 is set"))
    try:
        return hub.fetch(str(card.url), path, hash=card.hash, size=card.size, progress=progress)
    except hub.DownloadError as exc:
        why = f"the download failed ({exc})"
        raise WeightsUnavailableError(_missing_hint(card, path, why)) from None


def import_weights(card: WeightCard, source: str | Path) -> Path:
    """Verify a file fetched by other means and install it in the cache (atomically)."""
    source = Path(source).expanduser()
    if card.bundled:
        raise UserError(f"{card.spec} is bundled with kerascnn; nothing to import")
    if not source.is_file():
        raise UserError(f"{source}: no such file; give the path of the downloaded weights")
    ok, found = hub.file_matches(source, card.hash, card.size)
    if not ok:
        raise hub.HashMismatchError(
            f"{source}: not the published {card.spec} file ({found}; "
            f"expected {card.hash}, {card.size} bytes); download {card.url} again"
        )
    dest = cached_path(card)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
    hub.write_stamp(dest, card.hash)
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
    if variant and not model:
        raise UserError(f"clear_cache(variant={variant!r}) needs the model too; give model=")
    target = root / model / variant if model and variant else root / model if model else root
    if model and not target.exists():
        return []
    removed = [f.path for f in list_cache() if f.path.is_relative_to(target)]
    if target.is_dir():
        shutil.rmtree(target)
    return removed
