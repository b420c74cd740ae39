"""``kerascnn zoo push``: a zoo spec, run folder, ``.keras`` file or preset written as a preset
(:mod:`kerascnn.weights.preset`) with its held-out accuracy, then uploaded to a hub through its
own client. Tokens stay with the clients (their login and environment); kerascnn never reads,
prints or writes them."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError, renamed_argument
from kerascnn.weights.hub import HubURI, hf_file, parse_uri, require
from kerascnn.weights.preset import METADATA_FILE, write_preset

__all__ = ["PushResult", "held_out_accuracy", "push"]


@dataclass
class PushResult:
    """What :func:`push` did: the preset's metadata, its folder (None once a temporary one is
    gone) and where it was uploaded (None with ``local_dir`` alone)."""

    metadata: dict[str, Any]
    folder: Path | None
    uploaded_to: str | None


def _from_history(loaded: Any) -> dict[str, Any] | None:
    """The saved model's last validation accuracy, as the run logged it."""
    history = loaded.path.parent / "history.csv" if loaded.path is not None else None
    if history is None or not history.is_file():
        return None
    with open(history, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_accuracy")]
    if not rows:
        return None
    counts = (loaded.split or {}).get("counts") or {}
    return {
        "top1": round(100 * float(rows[-1]["val_accuracy"]), 2),
        "split": "validation",
        "images": counts.get("validation"),
        "measured_by": "kerascnn train: the saved model on the run's validation split after "
        f"its last epoch ({len(rows)})",
    }


def held_out_accuracy(loaded: Any, data: str | os.PathLike[str] | None = None) -> dict | None:
    """The accuracy to publish: measured now on ``data``'s held-out split (test, else
    validation) when given, or on the run's own data folder when it has a test split and is
    still there; else the preset's, the weight card's or the run's last validation."""
    split_info = loaded.split or {}
    root = split_info.get("root")
    if (
        data is None
        and root
        and (split_info.get("counts") or {}).get("test")
        and Path(root).is_dir()
    ):
        data = root  # a run folder whose test photos are at hand
    if data is not None:
        from kerascnn.training.evaluate import evaluate

        split = "test" if (loaded.split or {}).get("test_split", 0) > 0 else "validation"
        report = evaluate(loaded, data, split=split)
        folder = Path(data).resolve()
        name = folder.parent.name if folder.name in ("images", "train", "data") else folder.name
        card = dict(loaded.weights_card.accuracy) if loaded.weights_card is not None else {}
        return {
            "top1": round(100 * report.accuracy, 2),
            "split": split,
            "images": report.count,
            "errors": report.errors,
            "per_class": report.per_class,
            "dataset": card.get("dataset") or name,
            "paper": card.get("paper"),
            "measured_by": f"`kerascnn evaluate --split {split}` when the preset was pushed",
        }
    if loaded.preset is not None:
        return loaded.preset.get("accuracy")
    if loaded.weights_card is not None:
        acc, spec = dict(loaded.weights_card.accuracy), loaded.weights_card.spec
        return {
            "top1": acc.get("top1"),
            "top5": acc.get("top5"),
            "split": "test",
            "images": acc.get("test_images"),
            "errors": acc.get("errors"),
            "dataset": acc.get("dataset"),
            "paper": acc.get("paper"),
            "measured_by": f"the zoo's weight card of {spec} "
            f"(`kerascnn evaluate {spec} --data FOLDER --split test` redoes it)",
        }
    return _from_history(loaded)


def _hf_existing(uri: HubURI) -> dict[str, Any] | None:
    """The metadata of the preset already in the repository, or None."""
    import json

    path = hf_file(uri, METADATA_FILE, missing_ok=True)
    return None if path is None else json.loads(path.read_text(encoding="utf-8"))


def _hf_upload(uri: HubURI, folder: Path, meta: dict, options: dict[str, Any]) -> str:
    hub = require("huggingface_hub", uri.text)
    old = _hf_existing(uri)
    if old and old.get("architecture") != meta["architecture"] and not options["force"]:
        raise UserError(
            f"{uri.text} holds a preset of {old.get('architecture')}, not "
            f"{meta['architecture']}; push elsewhere, or pass --force to overwrite it"
        )
    api = hub.HfApi()
    try:
        api.create_repo(uri.repo, private=options["private"], exist_ok=True)
        if uri.revision and uri.revision != "main":
            api.create_branch(uri.repo, branch=uri.revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=uri.repo,
            folder_path=folder,
            revision=uri.revision,
            commit_message=options["message"] or f"kerascnn zoo push {meta['source']}",
        )
    except Exception as exc:  # the client's HTTP errors, one line without headers or token
        status = getattr(getattr(exc, "response", None), "status_code", None)
        reason = f"HTTP {status}" if status else type(exc).__name__
        raise UserError(
            f"{uri.text}: the upload failed ({reason}); check that your token "
            "(`hf auth login` or HF_TOKEN) may write to this repository"
        ) from None
    return str(getattr(info, "commit_url", "") or uri.text)


_KAGGLE_LICENSES = {"apache-2.0": "Apache 2.0", "mit": "MIT", "cc-by-4.0": "CC BY 4.0"}


def _kaggle_existing(uri: HubURI) -> dict[str, Any] | None:
    """The metadata of the latest version already on Kaggle, or None."""
    import json

    import kagglehub

    try:
        path = kagglehub.model_download(uri.handle, "metadata.json")
    except Exception:  # noqa: BLE001 - no such model, instance or file: nothing to overwrite
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _kaggle_upload(uri: HubURI, folder: Path, meta: dict, options: dict[str, Any]) -> str:
    kagglehub = require("kagglehub", uri.text)
    if uri.revision:
        raise UserError(f"{uri.text}: Kaggle numbers versions itself; drop the /{uri.revision}")
    old = _kaggle_existing(uri)
    if old and old.get("architecture") != meta["architecture"] and not options["force"]:
        raise UserError(
            f"{uri.text} holds a preset of {old.get('architecture')}, not "
            f"{meta['architecture']}; push elsewhere, or pass --force to overwrite it"
        )
    from kerascnn.weights.model_card import license_id

    try:
        kagglehub.model_upload(
            uri.repo,
            str(folder),
            license_name=_KAGGLE_LICENSES.get(license_id(meta.get("license"))),
            version_notes=options["message"] or f"kerascnn zoo push {meta['source']}",
        )
    except Exception as exc:  # kagglehub's errors, one line
        raise UserError(
            f"{uri.text}: the upload failed ({type(exc).__name__}); check your Kaggle "
            "credentials (KAGGLE_API_TOKEN or ~/.kaggle) and the handle"
        ) from None
    return uri.text


def push(
    model: Any = None,
    uri: str | None = None,
    *,
    local_dir: str | os.PathLike[str] | None = None,
    upload: bool = True,
    data: str | os.PathLike[str] | None = None,
    **options: Any,
) -> PushResult:
    """Write ``model`` as a preset and upload it to ``uri``.

    Args:
        model: anything :func:`kerascnn.load` takes (``source=``: deprecated).
        uri: ``hf://owner/repo[@revision]`` or ``kaggle://owner/model/keras/variant``.
        local_dir: write the preset here (kept); with ``upload=False`` nothing is uploaded.
        upload: upload to ``uri`` (False: only ``local_dir``).
        data: a class-folder data set to measure the held-out accuracy on now.
        **options: ``private``, ``message``, ``allow_random`` (share random weights),
            ``force`` (overwrite another architecture's preset; write beside other files).
    """
    from kerascnn.resolve import load

    model = renamed_argument("kerascnn.push", "source", model, options)
    uri = renamed_argument("kerascnn.push", "uri", uri, {}, "uri")
    target = parse_uri(uri)
    if target.scheme not in ("hf", "kaggle"):
        raise UserError(f"{uri}: cannot push to {target.scheme}://; push to hf:// or kaggle://")
    if not upload and local_dir is None:
        raise UserError("nothing to do without an upload; give --local-dir DIR")
    options = {"private": False, "message": None, "allow_random": False, "force": False, **options}
    if upload:
        require("huggingface_hub" if target.scheme == "hf" else "kagglehub", uri)
    loaded = load(model)
    accuracy = held_out_accuracy(loaded, data) if loaded.pretrained else None
    with tempfile.TemporaryDirectory(prefix="kerascnn-preset-") as tmp:
        folder = Path(local_dir).expanduser() if local_dir is not None else Path(tmp)
        allow, force = options["allow_random"], options["force"]
        meta = write_preset(
            loaded, folder, uri=uri, accuracy=accuracy, allow_random=allow, force=force
        )
        where = None
        if upload:
            send = _hf_upload if target.scheme == "hf" else _kaggle_upload
            where = send(target, folder, meta, options)
    return PushResult(meta, folder if local_dir is not None else None, where)
