"""hf:// presets through the real ``huggingface_hub`` client: against a small Hub on 127.0.0.1
(tests/hf_server.py, the client's HF_ENDPOINT) and against the client's documented cache layout
with HF_HUB_OFFLINE=1. Downloads, revisions, errors, dropped connections, push and its token."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kerascnn
from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.publish import push
from kerascnn.weights.preset import PRESET_FILES
from tests.conftest import REPO
from tests.hf_server import FakeHub, Repo, fake_hub, point_client_at  # noqa: F401  (fixture)
from tests.preset_runs import same_weights, tiny_run_fixture  # noqa: F401  (fixture)

pytest.importorskip("huggingface_hub")
TOKEN = "hf_kerascnnTestToken0123456789"


@pytest.fixture(scope="module")
def run_preset(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files of the tiny run pushed with --local-dir (nothing uploaded)."""
    folder = tmp_path_factory.mktemp("local") / "preset"
    push(tiny_run, "hf://me/tiny", local_dir=folder, upload=False)
    return {name: (folder / name).read_bytes() for name in PRESET_FILES}


@pytest.fixture
def hf_cache(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub pointed at the fake hub, with an empty cache; the cache's hub folder."""
    point_client_at(monkeypatch, hub.url, tmp_path / "hf")
    return tmp_path / "hf" / "hub"


def _folders(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


def _empty_folders(root: Path) -> list[str]:
    found = (
        [p for p in root.rglob("*") if p.is_dir() and not any(p.iterdir())] if root.is_dir() else []
    )
    return sorted(str(p) for p in found)


def _gets(hub: FakeHub, name: str) -> list[str]:
    return [p for p in hub.calls("GET") if p.endswith("/" + name)]


def test_round_trip_byte_for_byte(tiny_run, run_preset, hub, hf_cache):
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    run = kerascnn.load(tiny_run)
    loaded = kerascnn.load("hf://me/tiny")
    assert loaded.path.parent.parent == hf_cache / "models--me--tiny" / "snapshots"
    for name in PRESET_FILES[:3]:
        assert (loaded.path.parent / name).read_bytes() == run_preset[name]
    assert same_weights(run.model, loaded.model) and loaded.classes == run.classes
    images = sorted(str(p) for p in Path(json.loads(
        (tiny_run / "split.json").read_text())["root"]).rglob("*.png"))[:6]  # fmt: skip
    a, b = kerascnn.predict(run, images, top=3), kerascnn.predict(loaded, images, top=3)
    assert [[p.as_dict() for p in r] for r in a] == [[p.as_dict() for p in r] for r in b]
    assert [m for m, _, _ in hub.requests].count("GET") == 3  # the card is not downloaded
    kerascnn.load("hf://me/tiny")  # cached: HEAD requests only, no second download
    assert [m for m, _, _ in hub.requests].count("GET") == 3


def test_revisions_branch_and_commit(run_preset, hub, hf_cache):
    repo = hub.repos["me/tiny"] = Repo()
    first = repo.commit(run_preset)
    meta = json.loads(run_preset["metadata.json"])
    other = {
        **run_preset,
        "metadata.json": json.dumps({**meta, "classes": ["x", "y", "z"]}).encode(),
    }
    repo.commit(other, branch="dev")
    assert kerascnn.load("hf://me/tiny@dev").classes == ["x", "y", "z"]
    assert kerascnn.load(f"hf://me/tiny@{first}").classes == meta["classes"]
    with pytest.raises(UserError, match=r"no revision 'nope' in me/tiny"):
        kerascnn.load("hf://me/tiny@nope")


@pytest.mark.parametrize(
    ("setup", "uri", "message"),
    [
        (None, "hf://me/absent", r"no repository me/absent at http://127\.0\.0\.1:\d+"),
        ({"README.md": b"# hi\n"}, "hf://me/tiny", "holds no kerascnn preset"),
    ],
)
def test_missing_repo_or_preset(setup, uri, message, hub, hf_cache):
    if setup:
        hub.repos["me/tiny"] = Repo()
        hub.repos["me/tiny"].commit(setup)
    with pytest.raises(UserError, match=message) as e:
        kerascnn.load(uri)
    assert "\n" not in str(e.value)
    assert _empty_folders(hf_cache) == []


def test_bad_token_is_a_401_line_without_the_token(run_preset, hub, hf_cache, monkeypatch):
    hub.token = "the-right-one"
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(UserError, match=r"refused the token \(HTTP 401\)") as e:
        kerascnn.load("hf://me/tiny")
    assert TOKEN not in str(e.value) and hub.requests[0][2] == f"Bearer {TOKEN}"
    assert _empty_folders(hf_cache) == []
    monkeypatch.setenv("HF_TOKEN", "the-right-one")
    assert kerascnn.load("hf://me/tiny").preset["architecture"] == "gesture_cnn"


def test_dropped_connection_resumes(run_preset, hub, hf_cache):
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    hub.drop["model.weights.h5"] = 1
    loaded = kerascnn.load("hf://me/tiny")
    assert (loaded.path).read_bytes() == run_preset["model.weights.h5"]
    assert len(_gets(hub, "model.weights.h5")) == 2


def test_connection_that_keeps_dropping_leaves_no_empty_folder(run_preset, hub, hf_cache):
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    hub.drop["metadata.json"] = 1000
    with pytest.raises(WeightsUnavailableError, match="downloading metadata.json failed") as e:
        kerascnn.load("hf://me/tiny")
    assert "\n" not in str(e.value)
    assert _empty_folders(hf_cache) == [] and not (hf_cache / "models--me--tiny").exists()


def _tampered(run_preset: dict[str, bytes], **changes: object) -> dict[str, bytes]:
    meta = {**json.loads(run_preset["metadata.json"]), **changes}
    return {**run_preset, "metadata.json": json.dumps(meta).encode()}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights_sha256": "0" * 64}, r"on the hub has sha256 .* not the 0000000000000000\.\.\."),
        ({"format_version": 7, "kerascnn_version": "5.1"}, r"kerascnn 5\.1 \(preset format 7\)"),
    ],
)
def test_bad_presets_are_refused_before_the_weights_download(
    changes, message, run_preset, hub, hf_cache
):
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(_tampered(run_preset, **changes))
    with pytest.raises(UserError, match=message) as e:
        kerascnn.load("hf://me/tiny")
    assert "\n" not in str(e.value) and _gets(hub, "model.weights.h5") == []


def test_offline_from_the_cache_and_offline_without_it(run_preset, hub, hf_cache, monkeypatch):
    from huggingface_hub import constants

    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    kerascnn.load("hf://me/tiny")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.requests.clear()
    assert (
        kerascnn.load("hf://me/tiny").classes == json.loads(run_preset["metadata.json"])["classes"]
    )
    assert hub.requests == []
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE is set") as e:
        kerascnn.load("hf://me/other")
    assert "\n" not in str(e.value) and hub.requests == []
    assert not (hf_cache / "models--me--other").exists() and _empty_folders(hf_cache) == []


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_documented_cache_layout_offline(run_preset, tmp_path, monkeypatch):
    """The cache as huggingface_hub documents it (blobs named by ETag, snapshots/<commit>/ of
    relative symlinks, refs/<branch>), built by hand; HF_HUB_OFFLINE=1; no server at all."""
    point_client_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf", offline=True)
    repo = tmp_path / "hf" / "hub" / "models--someone--signs"
    commit = "a" * 40
    for name, data in run_preset.items():
        etag = hashlib.sha256(data).hexdigest() if name.endswith(".h5") else _git_blob_id(data)
        (repo / "blobs").mkdir(parents=True, exist_ok=True)
        (repo / "blobs" / etag).write_bytes(data)
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / commit / name).symlink_to(Path("../../blobs") / etag)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = kerascnn.load("hf://someone/signs")
    assert loaded.path == repo / "snapshots" / commit / "model.weights.h5"
    assert loaded.classes == json.loads(run_preset["metadata.json"])["classes"]
    assert kerascnn.load(f"hf://someone/signs@{commit}").preset["weights_sha256"]


def test_push_uploads_through_the_client(
    tiny_run, run_preset, hub, hf_cache, monkeypatch, tmp_path
):
    from click.testing import CliRunner

    from kerascnn.cli.main import cli

    hub.token = TOKEN
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    args = ["zoo", "push", str(tiny_run), "hf://me/new", "--private", "--revision", "exp",
            "--message", "first push", "--local-dir", str(tmp_path / "p"), "--upload"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "uploaded to http://127.0.0.1" in result.output and TOKEN not in result.output
    repo = hub.repos["me/new"]
    assert repo.private and set(repo.branches) == {"main", "exp"}
    assert list(repo.messages.values()) == ["first push"]
    files = repo.commits[repo.branches["exp"]]
    assert set(files) == {*PRESET_FILES, ".gitattributes"}
    for name in PRESET_FILES:
        assert files[name] == (tmp_path / "p" / name).read_bytes()
        assert TOKEN.encode() not in files[name]
    assert hub.cards and hub.cards[0] == files["README.md"].decode()
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in hub.requests)
    calls = [(m, p.split("?")[0]) for m, p, _ in hub.requests if m == "POST"]
    assert calls == [("POST", "/api/repos/create"), ("POST", "/api/models/me/new/branch/exp"),
                     ("POST", "/api/validate-yaml"), ("POST", "/api/models/me/new/preupload/exp"),
                     ("POST", "/api/models/me/new/commit/exp")]  # fmt: skip
    back = kerascnn.load("hf://me/new@exp")
    assert same_weights(back.model, kerascnn.load(tiny_run).model)


def test_push_over_another_architecture_needs_force(tiny_run, run_preset, hub, hf_cache):
    repo = hub.repos["me/tiny"] = Repo()
    repo.commit(_tampered(run_preset, architecture="alexnet_cifar"))
    with pytest.raises(
        UserError, match="holds a preset of alexnet_cifar, not gesture_cnn.*--force"
    ):
        push(tiny_run, "hf://me/tiny")
    assert len(repo.commits) == 1
    push(tiny_run, "hf://me/tiny", force=True)
    assert json.loads(repo.commits[repo.branches["main"]]["metadata.json"])["architecture"] == (
        "gesture_cnn"
    )


def test_cli_predict_prints_the_class_names(run_preset, hub, hf_cache):
    from click.testing import CliRunner

    from kerascnn.cli.main import cli

    meta = json.loads(run_preset["metadata.json"])
    meta["classes"] = ["thumb up", "flat hand", "fist"]  # names, not just numbers
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit({**run_preset, "metadata.json": json.dumps(meta).encode()})
    image = sorted((REPO / "zoo" / "examples").glob("*.jpg"))[0]
    result = CliRunner().invoke(
        cli, ["predict", "hf://me/tiny", str(image)], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in meta["classes"])


@pytest.mark.slow
def test_cli_predict_configured_by_the_environment(run_preset, hub, tmp_path):
    """Configured only by the environment, in a fresh process: HF_ENDPOINT, HF_HOME."""
    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    classes = json.loads(run_preset["metadata.json"])["classes"]
    image = sorted((REPO / "zoo" / "examples").glob("*.jpg"))[0]
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "COLUMNS": "120"}
    env.pop("HF_TOKEN", None)
    out = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", "predict", "hf://me/tiny", str(image), "--json"],
        env=env, capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {p["label"] for p in rows[0]["predictions"]} == set(classes)
    assert (tmp_path / "hf" / "hub" / "models--me--tiny").is_dir()


def test_evaluate_and_finetune_from_the_hub(
    tiny_run, run_preset, hub, hf_cache, tmp_path, monkeypatch
):
    from click.testing import CliRunner
    from huggingface_hub import constants

    from kerascnn.cli.main import cli

    hub.repos["me/tiny"] = Repo()
    hub.repos["me/tiny"].commit(run_preset)
    data = json.loads((tiny_run / "split.json").read_text())["root"]
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", "hf://me/tiny", "--data", data, "--split", "test",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (
        report["split"] == "test"
        and report["count"] == json.loads(run_preset["metadata.json"])["split"]["counts"]["test"]
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # fine-tuned from the cache
    out = tmp_path / "ft"
    args = ["finetune", "hf://me/tiny", "--data", data, "--head-epochs", "1",
            "--finetune-epochs", "0", "--output", str(out)]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (out / "model.keras").is_file() and kerascnn.load(out).classes == ["c0", "c1", "c2"]
