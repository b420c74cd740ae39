"""``kerascnn zoo download|import|cache`` and ``kerascnn predict``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.saved import write_metadata
from kerascnn.weights.cache import cache_root
from tests.http_server import run_in_pty, server_fixture  # noqa: F401  (fixture)
from tests.weight_fixtures import served_fixture, tiny_net_fixture  # noqa: F401  (fixtures)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_download_then_cache_list_and_clear(served, server):
    served("vgg16", "imagenet-notop", b"w" * 150_000)
    result = run("zoo", "download", "vgg16:imagenet-notop")
    assert result.exit_code == 0, result.output
    path = (
        cache_root()
        / "vgg16"
        / "imagenet-notop"
        / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert path.read_bytes() == b"w" * 150_000 and str(path) in result.output
    listing = run("zoo", "cache")
    assert "vgg16:imagenet-notop" in listing.output and "150.0 kB" in listing.output
    rows = json.loads(run("zoo", "cache", "--json").output)
    assert [(r["model"], r["variant"], r["size"]) for r in rows] == [
        ("vgg16", "imagenet-notop", 150_000)
    ]
    zoo = {r["name"]: r["weights"] for r in json.loads(run("zoo", "list", "--json").output)}
    assert zoo["vgg16"] == {"imagenet": False, "imagenet-notop": True, "imagenet-tv": False}
    assert run("zoo", "cache", "--clear", "vgg16:imagenet").output.startswith("removed 0 file")
    assert run("zoo", "cache", "--clear", "vgg16").output.startswith("removed 1 file")
    assert json.loads(run("zoo", "cache", "--json").output) == []
    assert len(server.requests) == 1


def test_clearing_a_variant_of_no_model_is_refused_not_a_type_error():
    from kerascnn.errors import UserError
    from kerascnn.weights.cache import clear_cache

    with pytest.raises(UserError, match="needs the model too"):
        clear_cache(variant="imagenet")


def test_import_verifies_and_installs_for_offline_use(tmp_path, monkeypatch):
    weights = kerascnn.get_model_card("alexnet").weights
    good = tmp_path / "alexnet-owt-7be5be79.pth"
    good.write_bytes(b"torch weights" * 1000)
    digest = "sha256:" + hashlib.sha256(good.read_bytes()).hexdigest()[:8]
    card = dataclasses.replace(weights["imagenet"], hash=digest, size=good.stat().st_size)
    monkeypatch.setitem(weights, "imagenet", card)
    bad = tmp_path / "other.pth"
    bad.write_bytes(b"something else" * 1000)
    _one_line_error(
        run("zoo", "import", "alexnet:imagenet", str(bad)),
        "other.pth: not the published alexnet:imagenet file",
    )
    assert not (cache_root() / "alexnet").exists()
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    _one_line_error(run("zoo", "download", "alexnet"), "kerascnn zoo import alexnet:imagenet FILE")
    assert run("zoo", "import", "alexnet:imagenet", str(good)).exit_code == 0
    result = run("zoo", "download", "alexnet")  # offline, from the cache
    assert result.exit_code == 0 and "alexnet-owt-7be5be79.pth" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["zoo", "download", "vgg16:nope"], "vgg16: no weights 'nope'; use one of: imagenet"),
        (["zoo", "download", "vgg61"], "unknown model 'vgg61'"),
        (["zoo", "import", "vgg16:imagenet", "missing.h5"], "missing.h5: no such file"),
        (["zoo", "cache", "--clear", "vgg16:"], "bad model spec 'vgg16:'"),
    ],
)
def test_weights_commands_report_mistakes_in_one_line(args, message):
    _one_line_error(run(*args), message)


def test_quiet_flag_silences_the_progress_bar_on_a_terminal(server, tmp_path):
    server.files["models/alexnet-owt-7be5be79.pth"] = b"not alexnet" * 300_000  # 3.3 MB
    env = {"KERASCNN_MIRROR": server.url("/ok"), "KERASCNN_HOME": str(tmp_path / "home")}
    argv = [sys.executable, "-m", "kerascnn.cli", "zoo", "download", "alexnet:imagenet"]
    loud = run_in_pty(argv, **env)
    quiet = run_in_pty([*argv[:3], "--quiet", *argv[3:]], **env)
    assert "3.3/3.3 MB" in loud and "/s" in loud, loud
    for out in (loud, quiet):
        assert "Error: http://127.0.0.1" in out and "3,300,000 bytes instead of 244,408,911" in out
    assert quiet.strip().count("\n") == 0 and "MB" not in quiet.replace("MB/s", ""), quiet
    assert not list((tmp_path / "home").rglob("*.*"))  # nothing left in the cache


def _images(folder):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    paths = [folder / "a.png", folder / "b.jpg", folder / "grey.bmp", folder / "alpha.webp"]
    Image.fromarray(rgb).save(paths[0])
    Image.fromarray(rgb).save(paths[1])
    Image.fromarray(rgb[..., 0]).save(paths[2])
    Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA").save(paths[3])
    deep = folder / "deep.png"
    Image.fromarray((rng.integers(0, 65535, (16, 16))).astype(np.uint16)).save(deep)
    return [*paths, deep]


def test_predict_command_prints_class_names_and_json(tiny_net, tmp_path):
    images = [str(p) for p in _images(tmp_path)]
    data = json.loads(run("predict", "tiny_net:toy", *images, "--top", "2", "--json").output)
    assert [row["image"] for row in data] == images
    for row in data:
        assert len(row["predictions"]) == 2
        assert {p["label"] for p in row["predictions"]} <= {"cat", "dog", "fox"}
        assert row["predictions"][0]["probability"] >= row["predictions"][1]["probability"]
    table = run("predict", "tiny_net:toy", images[0])
    assert table.exit_code == 0 and "fox" in table.output and "%" in table.output


def test_predict_a_saved_model_with_its_class_names(tiny_net, tmp_path):
    path = tmp_path / "net.keras"
    tiny_net.save(path)
    image = str(_images(tmp_path)[0])
    plain = json.loads(run("predict", str(path), image, "--json").output)
    assert {p["label"] for p in plain[0]["predictions"]} == {"0", "1", "2"}
    write_metadata(path, ["rock", "paper", "scissors"], "none")
    assert (tmp_path / "net.classes.json").is_file()
    named = json.loads(run("predict", str(path), image, "--json").output)
    assert [p["index"] for p in named[0]["predictions"]] == [
        p["index"] for p in plain[0]["predictions"]
    ]
    assert [p["label"] for p in named[0]["predictions"]] == [
        ["rock", "paper", "scissors"][p["index"]] for p in plain[0]["predictions"]
    ]


def test_predict_rejects_a_file_that_is_not_an_image(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    _one_line_error(run("predict", "vgg16:imagenet", str(notes)), f"{notes}: cannot read the image")
    _one_line_error(
        run("predict", "vgg16:imagenet", str(tmp_path / "nope.jpg")), "nope.jpg: no such file"
    )
