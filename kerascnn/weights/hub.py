"""Preset URIs: ``hf://owner/repo[@revision]``, ``kaggle://owner/model/keras/variant[/version]``
and ``https://host/preset.zip`` (or ``.tar.gz``), fetched into a local preset folder.

The hubs go through their own clients, ``huggingface_hub`` and ``kagglehub`` (the ``[hub]``
extra), with their caches, locks, resume, tokens and offline modes (``HF_HUB_OFFLINE``,
``HF_ENDPOINT``, ``HF_HUB_CACHE``, ``KAGGLEHUB_CACHE``); they are imported only here, when such
a URI is used. Archives: :mod:`kerascnn.weights.locate`.
Every mistake is a one-line ``UserError`` before any download, and a failed download leaves
no empty folder in the cache it used.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.weights.preset import (
    CONFIG_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    check_metadata,
    is_preset,
)

if TYPE_CHECKING:
    from kerascnn.weights.cards import WeightCard

__all__ = [
    "HubURI",
    "fetch_preset",
    "hf_card_file",
    "hf_file",
    "parse_uri",
    "prune_new_folders",
    "read_meta",
    "require",
    "tidy",
]

SCHEMES = ("hf", "kaggle", "https", "http")
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_FORMS = (
    "hf://owner/repo[@revision], kaggle://owner/model/keras/variant[/version], "
    "https://host/preset.zip or a preset folder"
)


@dataclass(frozen=True)
class HubURI:
    """A parsed preset URI: ``repo`` is ``owner/repo`` (hf), ``owner/model/keras/variant``
    (kaggle) or the URL (https); ``revision`` an hf revision or a kaggle version."""

    scheme: str
    repo: str
    revision: str | None
    text: str

    @property
    def handle(self) -> str:
        """kagglehub's handle: ``owner/model/keras/variant[/version]``."""
        return self.repo + (f"/{self.revision}" if self.revision else "")


def _malformed(text: str, form: str) -> UserError:
    return UserError(f"malformed URI {text!r}; write it as {form}")


def parse_uri(text: str) -> HubURI:
    """Parse a preset URI; a one-line ``UserError`` for an unknown scheme or a bad form."""
    scheme, sep, rest = str(text).partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise UserError(f"{text!r} is not a URI; use {_FORMS}")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise UserError(f"{text}: unknown scheme {scheme + '://'!r}; use {_FORMS}")
    if scheme == "hf":
        repo, at, revision = rest.partition("@")
        if not re.fullmatch(f"{_NAME}/{_NAME}", repo) or (at and not revision.strip()):
            raise _malformed(text, "hf://owner/repo or hf://owner/repo@revision")
        return HubURI("hf", repo, revision or None, text)
    if scheme == "kaggle":
        parts = rest.split("/")
        ok = len(parts) in (4, 5) and all(re.fullmatch(_NAME, p) for p in parts)
        if not ok or parts[2].lower() != "keras" or (len(parts) == 5 and not parts[4].isdigit()):
            raise _malformed(text, "kaggle://owner/model/keras/variant[/version]")
        return HubURI("kaggle", "/".join(parts[:4]), parts[4] if len(parts) == 5 else None, text)
    path = rest.split("?", 1)[0].split("#", 1)[0]
    if "/" not in path or not path.lower().endswith(ARCHIVES):
        raise _malformed(text, f"https://host/path/preset{'|'.join(ARCHIVES)}")
    from kerascnn.weights.url_policy import check_origin

    check_origin(text)
    return HubURI(scheme, text, None, text)


def require(module: str, uri: str) -> Any:
    """Import a hub client, or a one-line ``UserError`` naming the ``[hub]`` extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{uri}: needs the {module} package; pip install 'kerascnn[hub]'") from None


def prune_new_folders(root: Path, before: set[Path]) -> None:
    """Remove the empty folders under ``root`` (and ``root``) that are not in ``before``."""
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if folder not in before and not any(folder.iterdir()):
            folder.rmdir()
    if root not in before and not any(root.iterdir()):
        root.rmdir()


@contextlib.contextmanager
def tidy(*roots: Path, new_repo: Path | None = None) -> Iterator[None]:
    """On failure, remove the empty folders that the block created under ``roots``, and
    ``new_repo`` (a cache folder the block created) when it holds no downloaded file."""
    before = {p for r in roots if r.is_dir() for p in [r, *r.rglob("*")] if p.is_dir()}
    try:
        yield
    except BaseException:
        if new_repo is not None and not any(new_repo.glob("blobs/*")):
            shutil.rmtree(new_repo, ignore_errors=True)  # only refs/ and empty folders
        for root in roots:
            prune_new_folders(root, before)
        raise


def _hf_error(exc: Exception, uri: HubURI, filename: str) -> UserError:
    """A one-line error for what ``hf_hub_download`` raised (never the token)."""
    from huggingface_hub import constants, errors

    where = f"{uri.text}"
    if isinstance(exc, errors.LocalEntryNotFoundError | errors.OfflineModeIsEnabled):
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the hub is unreachable"
        return WeightsUnavailableError(
            f"{where}: {filename} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and {why}; connect and try again, or unset HF_HUB_OFFLINE"
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        revision = uri.revision or "main"
        return UserError(f"{where}: no revision {revision!r} in {uri.repo}; check the name")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        if filename == METADATA_FILE:
            return UserError(
                f"{where}: the repository holds no kerascnn preset (no {METADATA_FILE}); "
                "push one with `kerascnn zoo push`, or check the repository name"
            )
        return UserError(f"{where}: the preset has no {filename}; push the model again")
    if isinstance(exc, errors.RepositoryNotFoundError | errors.GatedRepoError):
        return UserError(
            f"{where}: no repository {uri.repo} at {constants.ENDPOINT}, or it is private "
            "and no valid token was sent; check the name, or log in with `hf auth login`"
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return UserError(
            f"{where}: the hub refused the token (HTTP {status}); log in again with "
            "`hf auth login` or set HF_TOKEN"
        )
    reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return WeightsUnavailableError(f"{where}: downloading {filename} failed ({reason}); try again")


@overload
def hf_file(uri: HubURI, filename: str, revision: str | None = None) -> Path: ...
@overload
def hf_file(uri: HubURI, filename: str, *, missing_ok: bool) -> Path | None: ...
def hf_file(
    uri: HubURI, filename: str, revision: str | None = None, *, missing_ok: bool = False
) -> Path | None:
    """One file of an hf:// repository, through ``hf_hub_download`` (its cache).

    Args:
        uri, filename: the repository and the file's path in it.
        revision: a branch, tag or commit (default: the URI's, else ``main``).
        missing_ok: None for a missing repository, revision or file instead of an error.
    """
    hub = require("huggingface_hub", uri.text)
    from huggingface_hub import errors

    missing = (errors.RepositoryNotFoundError, errors.RevisionNotFoundError,
               errors.RemoteEntryNotFoundError)  # fmt: skip
    try:
        return Path(hub.hf_hub_download(uri.repo, filename, revision=revision or uri.revision))
    except Exception as exc:  # the client's many error types, mapped to one line each
        if missing_ok and isinstance(exc, missing):
            return None
        raise _hf_error(exc, uri, filename) from None


def hf_card_file(card: WeightCard, link: Path) -> Path:
    """The file a weight card names as ``hf://owner/repo[@revision]/path``, fetched by
    ``huggingface_hub`` into its cache, checked against the card's hash and linked at ``link``
    (the card's place in kerascnn's cache)."""
    from kerascnn.weights import download

    url = str(card.url)
    parts = url.removeprefix("hf://").split("/", 2)
    if len(parts) < 3:
        raise _malformed(url, "hf://owner/repo[@revision]/path/in/repo")
    uri, filename = parse_uri(f"hf://{parts[0]}/{parts[1]}"), parts[2]
    found = hf_file(uri, filename)
    ok, what = download.file_matches(found, card.hash, card.size)
    if not ok:
        raise download.HashMismatchError(
            f"{url}: not the published {card.spec} file ({what}); the repository changed, "
            "ask its owner or pin a revision (hf://owner/repo@commit/...)"
        )
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(found)
    download.write_stamp(link, card.hash)
    return link


def _hf_check_hash(uri: HubURI, commit: str, expected: str) -> None:
    """Before downloading the weights: the hub's ETag of an LFS file is its sha256."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    if constants.HF_HUB_OFFLINE:
        return
    try:
        etag = get_hf_file_metadata(hf_hub_url(uri.repo, WEIGHTS_FILE, revision=commit)).etag
    except Exception:  # noqa: BLE001 - the download that follows reports it in one line
        return
    if etag and re.fullmatch(r"[0-9a-f]{64}", etag) and etag != expected:
        raise UserError(
            f"{uri.text}: {WEIGHTS_FILE} on the hub has sha256 {etag[:16]}..., not the "
            f"{expected[:16]}... of its metadata.json; the preset is damaged, push it again"
        )


def _fetch_hf(uri: HubURI) -> Path:
    from huggingface_hub import constants

    storage = Path(constants.HF_HUB_CACHE).expanduser().resolve()
    repo_dir = storage / ("models--" + uri.repo.replace("/", "--"))
    new = not repo_dir.exists()
    with tidy(repo_dir, storage / ".locks" / repo_dir.name, new_repo=repo_dir if new else None):
        meta_path = hf_file(uri, METADATA_FILE)
        commit = meta_path.parent.name  # snapshots/<commit>/: every file of one commit
        meta = read_meta(meta_path, uri.text)
        hf_file(uri, CONFIG_FILE, commit)
        _hf_check_hash(uri, commit, meta["weights_sha256"])
        return hf_file(uri, WEIGHTS_FILE, commit).parent


def read_meta(path: Path, where: str) -> dict[str, Any]:
    try:
        return check_metadata(json.loads(path.read_text(encoding="utf-8")), where)
    except ValueError as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(f"{where}: metadata.json is not JSON ({exc}); push it again") from None


def _fetch_kaggle(uri: HubURI) -> Path:
    kagglehub = require("kagglehub", uri.text)
    from kagglehub.config import get_cache_folder

    root = Path(get_cache_folder()) / "models" / uri.repo
    with tidy(root):
        try:
            folder = Path(kagglehub.model_download(uri.handle))
        except Exception as exc:  # kagglehub's and requests' error types
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else repr(exc)
            raise WeightsUnavailableError(
                f"{uri.text}: kagglehub could not fetch the model ({reason}); check the handle "
                "and your Kaggle credentials (KAGGLE_API_TOKEN), or connect and try again"
            ) from None
    if not is_preset(folder):
        raise UserError(
            f"{uri.text}: the Kaggle model holds no kerascnn preset (no {METADATA_FILE}); "
            "push one with `kerascnn zoo push`"
        )
    read_meta(folder / METADATA_FILE, uri.text)
    return folder


def fetch_preset(uri: HubURI) -> Path:
    """The local folder of the hf:// or kaggle:// preset ``uri`` (downloaded, or cached)."""
    if uri.scheme not in ("hf", "kaggle"):
        raise UserError(f"{uri.text}: not a hub URI; use hf://owner/repo or kaggle://...")
    return _fetch_hf(uri) if uri.scheme == "hf" else _fetch_kaggle(uri)
