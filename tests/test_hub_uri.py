"""Preset URIs: parsed before anything is downloaded or imported; kaggle:// through kagglehub's
own cache; https:// archives through kerascnn's fetcher (tests/http_server.py); failed
downloads leave no empty folder in either cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kerascnn
from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.weights import download
from kerascnn.weights.hub import parse_uri
from tests.conftest import REPO
from tests.hf_server import Repo, fake_hub, point_client_at  # noqa: F401  (fixture)
from tests.http_server import server_fixture  # noqa: F401  (fixture)


@pytest.mark.parametrize(
    ("text", "scheme", "repo", "revision"),
    [
        ("hf://me/signs", "hf", "me/signs", None),
        ("hf://me/signs@v1.0", "hf", "me/signs", "v1.0"),
        ("hf://me/signs@" + "a" * 40, "hf", "me/signs", "a" * 40),
        ("kaggle://me/signs/keras/base", "kaggle", "me/signs/keras/base", None),
        ("kaggle://me/signs/keras/base/3", "kaggle", "me/signs/keras/base", "3"),
        ("https://example.org/a/preset.zip", "https", "https://example.org/a/preset.zip", None),
        ("http://127.0.0.1:8000/p.tar.gz", "http", "http://127.0.0.1:8000/p.tar.gz", None),
    ],
)
def test_parse(text, scheme, repo, revision):
    uri = parse_uri(text)
    assert (uri.scheme, uri.repo, uri.revision) == (scheme, repo, revision)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s3://bucket/model", r"unknown scheme 's3://'; use hf://owner/repo"),
        ("gs://bucket/model", r"unknown scheme 'gs://'"),
        ("hf://just-owner", r"malformed URI 'hf://just-owner'; write it as hf://owner/repo"),
        ("hf://a/b/c", "malformed URI"),
        ("hf://me/signs@", "malformed URI"),
        ("kaggle://me/signs/keras", r"write it as kaggle://owner/model/keras/variant\[/version\]"),
        ("kaggle://me/signs/pytorch/base", "malformed URI"),
        ("kaggle://me/signs/keras/base/latest", "malformed URI"),
        ("https://example.org/model", r"write it as https://host/path/preset\.zip"),
        ("http://example.org/p.zip", "refusing to download over http"),
    ],
)
def test_bad_uris_are_one_line_errors_before_any_download(text, message):
    with pytest.raises(UserError, match=message) as e:
        kerascnn.load(text)
    assert "\n" not in str(e.value) and "; " in str(e.value)


@pytest.mark.slow
def test_hub_code_is_imported_only_for_a_hub_uri(tmp_path):
    """kerascnn's hub modules and kagglehub load only for a URI (Keras itself imports
    huggingface_hub when it is installed, so that one is checked without Keras, below)."""
    code = (
        "import sys, kerascnn\n"
        "kerascnn.load('gesture_cnn:sign-digits')\n"
        "hub = ('kerascnn.publish', 'kerascnn.weights.locate', 'kagglehub')\n"
        "assert not [m for m in hub if m in sys.modules], sys.modules.keys() & set(hub)\n"
        "try:\n    kerascnn.load('s3://x/y')\nexcept kerascnn.UserError:\n    pass\n"
        "try:\n    kerascnn.load('hf://me/absent')\nexcept kerascnn.UserError:\n    pass\n"
        "assert 'kerascnn.weights.locate' in sys.modules and 'kagglehub' not in sys.modules\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


def test_help_and_zoo_list_import_no_hub_and_no_tensorflow():
    code = (
        "import sys\n"
        "from kerascnn.cli.main import main\n"
        "for argv in (['--help'], ['zoo', 'list'], ['zoo', 'push', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "bad = [m for m in ('tensorflow', 'keras', 'huggingface_hub', 'kagglehub') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def sign_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kerascnn.publish import push

    folder = tmp_path_factory.mktemp("preset") / "signs"
    push("gesture_cnn:sign-digits", "kaggle://me/signs/keras/base", local_dir=folder, upload=False)
    return folder


def test_https_archive(sign_preset, server, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "signs"), "zip", sign_preset.parent, "signs")
    server.files["signs.zip"] = Path(archive).read_bytes()
    url = server.url("/ok/signs.zip")
    loaded = kerascnn.load(url)
    assert loaded.classes == [str(i) for i in range(10)] and loaded.source == url
    assert loaded.path.read_bytes() == (sign_preset / "model.weights.h5").read_bytes()
    kerascnn.load(url)
    assert server.counts["/ok/signs.zip"] == 1  # cached


def test_https_archive_without_preset_or_missing(server, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("no preset")
    server.files["x.zip"] = Path(
        shutil.make_archive(str(tmp_path / "x"), "zip", tmp_path / "x")
    ).read_bytes()
    with pytest.raises(UserError, match="the archive holds no kerascnn preset"):
        kerascnn.load(server.url("/ok/x.zip"))
    home = Path(os.environ["KERASCNN_HOME"])
    before = sorted(p for p in home.rglob("*"))
    with pytest.raises(WeightsUnavailableError, match="HTTP 404"):
        kerascnn.load(server.url("/ok/absent.zip"))
    assert sorted(p for p in home.rglob("*")) == before


def test_failed_download_leaves_no_empty_cache_folder(server):
    """Was: vgg16/imagenet-notop/ left empty in kerascnn's cache after a failed download."""
    home = Path(os.environ["KERASCNN_HOME"])
    dest = home / "vgg16" / "imagenet-notop" / "w.h5"
    with pytest.raises(download.DownloadError):
        download.fetch(server.url("/ok/absent.h5"), dest, hash="md5:" + "0" * 32, progress=False)
    assert not (home / "vgg16").exists() and home.is_dir()


def test_offline_download_leaves_no_empty_cache_folder(monkeypatch):
    """No network (here: a host name that does not resolve), as in the issue: the published
    vgg16:imagenet-notop file cannot be fetched and its cache folder must not stay behind."""
    from kerascnn.registry import get_model_card
    from kerascnn.weights.cache import variant_file

    card = get_model_card("vgg16").weight("imagenet-notop")
    monkeypatch.setenv("KERASCNN_MIRROR", "https://kerascnn-offline-test.invalid/")
    with pytest.raises(WeightsUnavailableError, match="cannot reach the host.*kerascnn zoo import"):
        variant_file(card, progress=False)
    assert list(Path(os.environ["KERASCNN_HOME"]).iterdir()) == []


def test_weight_card_with_an_hf_url(hub, tmp_path, monkeypatch):
    """A weight card may name an hf:// file: fetched by huggingface_hub, linked in the cache."""
    pytest.importorskip("huggingface_hub")
    from kerascnn.weights.cache import cached_path, variant_file
    from kerascnn.weights.cards import WeightCard

    data = b"weights" * 1000
    raw = {
        "url": "hf://zoo/weights@main/gesture/w.weights.h5",
        "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data), "format": "keras-weights", "include_top": True,
        "input_shape": [64, 64, 3], "preprocessing": "none", "classes": ["a", "b"],
        "source": "test", "license": "MIT", "accuracy": {"dataset": "none", "top1": 1.0},
    }  # fmt: skip
    card = WeightCard.from_dict("gesture_cnn", "hubbed", raw)
    point_client_at(monkeypatch, hub.url, tmp_path / "hf")
    hub.repos["zoo/weights"] = Repo()
    hub.repos["zoo/weights"].commit({"gesture/w.weights.h5": data})
    path = variant_file(card, progress=False)
    assert path == cached_path(card) and path.read_bytes() == data and path.is_symlink()
    assert str(path.resolve()).startswith(str(tmp_path / "hf" / "hub"))
    hub.repos["zoo/weights"].commit({"gesture/w.weights.h5": b"other"})
    path.unlink()
    with pytest.raises(UserError, match="not the published gesture_cnn:hubbed file"):
        variant_file(card, progress=False)


def test_a_preset_where_a_zoo_name_is_needed():
    from click.testing import CliRunner

    from kerascnn.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "hf://me/signs", "--data", "x", "--epochs", "1"])
    assert result.exit_code == 2
    assert "Error: hf://me/signs is a preset, not a zoo model name; give NAME[:VARIANT]" in (
        result.output
    )
