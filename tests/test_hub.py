"""The download cache, against a real HTTP server on 127.0.0.1 (tests/http_server.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.weights import download as hub
from tests.conftest import REPO
from tests.http_server import run_in_pty, server_fixture  # noqa: F401  (fixture)

FAST = {"backoff": 0.01, "timeout": 10, "progress": False}


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _child(code: str, **env: str) -> subprocess.Popen:
    """A separate Python process running ``code`` (kerascnn.weights.download imported as hub)."""
    return subprocess.Popen(
        [sys.executable, "-c", "from kerascnn.weights import download as hub\n" + code],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_download_is_verified_cached_and_not_repeated(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "m" / "v" / "weights.bin"
    assert hub.fetch(server.url("/ok/weights.bin"), dest, hash=_sha(data), **FAST) == dest
    assert dest.read_bytes() == data
    assert _leftovers(dest.parent) == [".weights.bin.verified", "weights.bin"]
    md5 = "md5:" + hashlib.md5(data).hexdigest()
    hub.fetch(server.url("/ok/weights.bin"), dest, hash=md5, size=len(data), **FAST)
    hub.fetch(server.url("/ok/weights.bin"), dest, hash=_sha(data)[:15], **FAST)  # a prefix
    assert len(server.gets("/ok/weights.bin")) == 1


def test_dropped_connection_resumes_with_range(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "weights.bin"
    hub.fetch(server.url("/drop/weights.bin"), dest, hash=_sha(data), **FAST)
    assert dest.read_bytes() == data
    ranges = server.gets("/drop/weights.bin")
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 2}-", ranges


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "weights.bin"
    (tmp_path / "weights.bin.part").write_bytes(b"stale bytes from another file")
    hub.fetch(server.url("/norange/weights.bin"), dest, hash=_sha(data), **FAST)
    assert dest.read_bytes() == data


def test_stale_partial_file_is_discarded_after_a_bad_resume(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "weights.bin"
    (tmp_path / "weights.bin.part").write_bytes(b"x" * 1000)  # not the file's first bytes
    hub.fetch(server.url("/ok/weights.bin"), dest, hash=_sha(data), **FAST)
    assert dest.read_bytes() == data
    assert server.gets("/ok/weights.bin") == ["bytes=1000-", None]


def test_transient_errors_are_retried(server, tmp_path):
    data = server.files["weights.bin"]
    hub.fetch(server.url("/flaky/weights.bin"), tmp_path / "w.bin", hash=_sha(data), **FAST)
    assert len(server.gets("/flaky/weights.bin")) == 3  # 503, 503, 200


def test_404_is_final_with_a_clear_message_and_no_file(server, tmp_path):
    dest = tmp_path / "v" / "weights.bin"
    with pytest.raises(hub.DownloadError, match=r"HTTP 404 Not Found"):
        hub.fetch(server.url("/ok/nothing.bin"), dest, hash="md5:" + "0" * 32, **FAST)
    assert len(server.gets("/ok/nothing.bin")) == 1
    assert _leftovers(dest.parent) == []


def test_hash_mismatch_is_final_and_leaves_no_file(server, tmp_path):
    dest = tmp_path / "v" / "weights.bin"
    with pytest.raises(hub.HashMismatchError, match="does not match the published hash"):
        hub.fetch(server.url("/ok/weights.bin"), dest, hash="sha256:deadbeef", **FAST)
    assert _leftovers(dest.parent) == []
    assert len(server.gets("/ok/weights.bin")) == 1  # no resume, no second try


def test_corrupted_cache_entry_is_detected_and_fetched_again(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "weights.bin"
    hub.fetch(server.url("/ok/weights.bin"), dest, hash=_sha(data), **FAST)
    with open(dest, "r+b") as f:  # flip one byte in place
        f.seek(1234)
        f.write(bytes([data[1234] ^ 0xFF]))
    assert not hub.is_valid(dest, _sha(data))
    hub.fetch(server.url("/ok/weights.bin"), dest, hash=_sha(data), **FAST)
    assert dest.read_bytes() == data
    assert len(server.gets("/ok/weights.bin")) == 2


def test_killed_download_leaves_only_a_partial_file_that_resumes(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "weights.bin"
    url = server.url("/slow/weights.bin")
    child = _child(f"hub.fetch({url!r}, {str(dest)!r}, hash={_sha(data)!r}, progress=False)")
    part = tmp_path / "weights.bin.part"
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 256 * 1024):
        assert time.monotonic() < deadline and child.poll() is None, child.communicate()
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not dest.exists()
    have = part.stat().st_size
    assert 0 < have < len(data)
    hub.fetch(server.url("/ok/weights.bin"), dest, hash=_sha(data), **FAST)
    assert dest.read_bytes() == data
    assert server.gets("/ok/weights.bin") == [f"bytes={have}-"]


def test_two_processes_fetching_the_same_file_share_one_download(server, tmp_path):
    data = server.files["weights.bin"]
    dest = tmp_path / "weights.bin"
    code = (
        f"p = hub.fetch({server.url('/slow/weights.bin')!r}, {str(dest)!r}, "
        f"hash={_sha(data)!r}, progress=False)\nprint(open(p, 'rb').read() == "
        f"open({str(dest)!r}, 'rb').read())"
    )
    children = [_child(code), _child(code)]
    outputs = [c.communicate(timeout=60) for c in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    assert [o.strip() for o, _ in outputs] == ["True", "True"]
    assert dest.read_bytes() == data
    assert server.gets("/slow/weights.bin") == [None]  # one download, no restart
    assert _leftovers(tmp_path) == [".weights.bin.verified", "weights.bin"]


def test_offline_never_touches_the_network(server, tmp_path, monkeypatch):
    data = server.files["weights.bin"]
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="weights.bin is not cached"):
        hub.fetch(server.url("/ok/weights.bin"), tmp_path / "weights.bin", hash=_sha(data), **FAST)
    assert server.requests == []
    monkeypatch.delenv("KERASCNN_OFFLINE")
    hub.fetch(server.url("/ok/weights.bin"), tmp_path / "weights.bin", hash=_sha(data), **FAST)
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")  # a cached file needs no network
    assert (
        hub.fetch(
            "https://unreachable.invalid/weights.bin",
            tmp_path / "weights.bin",
            hash=_sha(data),
            **FAST,
        ).read_bytes()
        == data
    )
    assert len(server.requests) == 1


def test_only_https_unless_loopback_or_allowed(monkeypatch):
    hub.check_origin("https://example.com/w.h5")
    hub.check_origin("http://127.0.0.1:8000/w.h5")
    hub.check_origin("http://localhost/w.h5")
    hub.check_origin("http://[::1]:9/w.h5")
    hub.check_origin("file:///srv/mirror/w.h5")
    for url in ("http://example.com/w.h5", "ftp://127.0.0.1/w.h5", "file://host/w.h5"):
        with pytest.raises(UserError, match="refusing to download"):
            hub.check_origin(url)
    monkeypatch.setenv("KERASCNN_ALLOW_INSECURE", "1")
    hub.check_origin("http://example.com/w.h5")


def test_redirect_to_a_non_https_origin_is_refused(server, tmp_path):
    server.redirect_to = "http://example.invalid/weights.bin"
    with pytest.raises(UserError, match="refusing to download over http"):
        hub.fetch(server.url("/redirect/w"), tmp_path / "w.bin", hash="md5:0", **FAST)
    assert _leftovers(tmp_path) == []


def test_mirror_rewrites_the_origin(server, tmp_path, monkeypatch):
    origin = "https://download.example.org/models/weights.bin"
    monkeypatch.setenv("KERASCNN_MIRROR", server.url("/ok"))
    assert hub.mirror_url(origin) == server.url("/ok/models/weights.bin")
    rule = f"https://download.example.org/models/={server.url('/ok/')}"
    monkeypatch.setenv("KERASCNN_MIRROR", f"https://other.org/=https://x.org/ {rule}")
    assert hub.mirror_url(origin) == server.url("/ok/weights.bin")
    data = server.files["weights.bin"]
    hub.fetch(origin, tmp_path / "weights.bin", hash=_sha(data), **FAST)
    assert (tmp_path / "weights.bin").read_bytes() == data


def test_file_urls_serve_as_mirrors(tmp_path, monkeypatch):
    src = tmp_path / "mirror" / "models" / "w.bin"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"weights" * 1000)
    monkeypatch.setenv("KERASCNN_MIRROR", (tmp_path / "mirror").as_uri())
    dest = tmp_path / "cache" / "w.bin"
    hub.fetch("https://h.org/models/w.bin", dest, hash=_sha(src.read_bytes()), **FAST)
    assert dest.read_bytes() == src.read_bytes()


def test_progress_bar_on_a_terminal_only(server, tmp_path):
    data = server.files["weights.bin"]
    code = "hub.fetch({!r}, {!r}, hash={!r})"
    url = server.url("/ok/weights.bin")
    code = "from kerascnn.weights import download as hub\n" + code
    on_tty = run_in_pty([sys.executable, "-c", code.format(url, str(tmp_path / "a"), _sha(data))])
    assert "3.1/3.1 MB" in on_tty and "/s" in on_tty, on_tty
    child = _child(code.format(url, str(tmp_path / "b"), _sha(data)))  # stderr: a pipe
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0 and err == "" and out == ""


def test_cache_root_precedence(monkeypatch, tmp_path):
    from kerascnn.weights.cache import cache_root

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert cache_root() == Path(os.environ["KERASCNN_HOME"])  # the first wins
    monkeypatch.delenv("KERASCNN_HOME")
    assert cache_root() == tmp_path / "keras" / "kerascnn"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".keras" / "kerascnn"
    monkeypatch.setenv("KERASCNN_HOME", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
