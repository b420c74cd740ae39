"""kaggle:// presets through the real ``kagglehub`` client: against a small Kaggle Models API
on localhost (tests/kaggle_server.py, kagglesdk's test endpoint) and from kagglehub's own
cache with no request at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import kerascnn
from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.weights.preset import PRESET_FILES
from tests.kaggle_server import fake_kaggle  # noqa: F401  (fixture)

pytest.importorskip("kagglehub")


@pytest.fixture(scope="module")
def sign_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kerascnn.publish import push

    folder = tmp_path_factory.mktemp("preset") / "signs"
    push("gesture_cnn:sign-digits", "kaggle://me/signs/keras/base", local_dir=folder, upload=False)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in PRESET_FILES}


def _empty_folders(root: Path) -> list[Path]:
    return (
        [p for p in root.rglob("*") if p.is_dir() and not any(p.iterdir())] if root.is_dir() else []
    )


def test_latest_version_downloaded_then_cached(kaggle, sign_preset, tmp_path):
    other = {**_files(sign_preset), "metadata.json": b"{}"}
    kaggle.models[("me", "signs", "base")] = {1: other, 2: _files(sign_preset)}
    loaded = kerascnn.load("kaggle://me/signs/keras/base")
    assert loaded.classes == [str(i) for i in range(10)]
    folder = tmp_path / "kagglehub" / "models" / "me" / "signs" / "keras" / "base" / "2"
    assert loaded.path == folder / "model.weights.h5"
    assert loaded.path.read_bytes() == (sign_preset / "model.weights.h5").read_bytes()
    assert kaggle.calls.count("DownloadModelInstanceVersion") == len(PRESET_FILES)
    kaggle.calls.clear()
    kerascnn.load("kaggle://me/signs/keras/base/2")  # a version: from the cache, no request
    assert kaggle.calls == []
    with pytest.raises(UserError, match="metadata.json is not a kerascnn preset's"):
        kerascnn.load("kaggle://me/signs/keras/base/1")


def test_unknown_model_is_one_line_and_leaves_no_folder(kaggle, tmp_path):
    with pytest.raises(WeightsUnavailableError, match="kagglehub could not fetch the model") as e:
        kerascnn.load("kaggle://me/absent/keras/base")
    assert "\n" not in str(e.value)
    kaggle.models[("me", "signs", "base")] = {1: {"README.md": b"# notes\n"}}
    with pytest.raises(WeightsUnavailableError, match="could not fetch"):
        kerascnn.load("kaggle://me/signs/keras/base/5")  # no such version
    assert _empty_folders(tmp_path / "kagglehub") == []


def test_model_without_preset(kaggle):
    kaggle.models[("me", "notes", "base")] = {1: {"README.md": b"# notes\n"}}
    with pytest.raises(UserError, match="the Kaggle model holds no kerascnn preset"):
        kerascnn.load("kaggle://me/notes/keras/base")


def test_from_kagglehubs_cache_without_a_server(sign_preset, tmp_path, monkeypatch):
    """kagglehub's cache (KAGGLEHUB_CACHE), filled as kagglehub fills it: a versioned handle
    needs no request (kagglesdk pointed at a port where nothing listens)."""
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kh"))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    handle = parse_model_handle("me/signs/keras/base/2")
    shutil.copytree(sign_preset, Cache().get_path(handle))
    Cache().mark_as_complete(handle)
    loaded = kerascnn.load("kaggle://me/signs/keras/base/2")
    assert loaded.classes == [str(i) for i in range(10)]
    assert str(loaded.path).startswith(str(tmp_path / "kh"))


def test_push_creates_the_model_then_new_versions(kaggle, sign_preset, tmp_path):
    from kerascnn.publish import push

    result = push("gesture_cnn:sign-digits", "kaggle://me/new/keras/base", message="first",
                  local_dir=tmp_path / "p", upload=True)  # fmt: skip
    assert result.uploaded_to == "kaggle://me/new/keras/base"
    assert kaggle.created == [("me", "new")] and kaggle.notes == ["Apache 2.0"]
    assert kaggle.models[("me", "new", "base")][1] == _files(tmp_path / "p")
    push("gesture_cnn:sign-digits", "kaggle://me/new/keras/base", message="second")
    assert sorted(kaggle.models[("me", "new", "base")]) == [1, 2] and kaggle.notes[-1] == "second"
    loaded = kerascnn.load("kaggle://me/new/keras/base")
    assert loaded.path.parent.name == "2" and loaded.classes == [str(i) for i in range(10)]
    with pytest.raises(UserError, match="holds a preset of gesture_cnn, not alexnet_cifar"):
        push("alexnet_cifar:cifar10", "kaggle://me/new/keras/base")
    with pytest.raises(UserError, match="Kaggle numbers versions itself"):
        push("gesture_cnn:sign-digits", "kaggle://me/new/keras/base/3")
