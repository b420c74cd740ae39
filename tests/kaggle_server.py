"""A small Kaggle Models API on localhost:7777, the endpoint kagglesdk uses with
``KAGGLE_API_ENVIRONMENT=TEST`` (kagglehub has no endpoint variable of its own): the three
``models.ModelApiService`` calls a model download makes.

* ``GetModelInstance``: ``versionNumber``, the latest version of ``owner/model/keras/variant``
* ``ListModelInstanceVersionFiles``: the file names of a version
* ``DownloadModelInstanceVersion``: one file's bytes (``path``), ``Content-Length``
* an unknown model or version: 404 with a JSON ``message``
* upload: ``GetModel`` (404 when missing), ``CreateModel``, ``blobs.BlobApiService/
  StartBlobUpload`` (a ``createUrl`` here that takes the bytes by PUT), ``CreateModelInstance``
  (an error 409 in the body when it exists), ``CreateModelInstanceVersion``: the next
  version of the files

``server.models[("owner", "model", "variant")] = {version: {name: bytes}}``.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

__all__ = ["FakeKaggle", "fake_kaggle"]

PORT = 7777  # kagglesdk's KaggleEnv.TEST endpoint: http://localhost:7777


@dataclass
class FakeKaggle:
    models: dict[tuple[str, str, str], dict[int, dict[str, bytes]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    created: list[tuple[str, str]] = field(default_factory=list)  # (owner, model) via CreateModel
    blobs: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # token -> (name, data)
    notes: list[str] = field(default_factory=list)  # version notes / license of each upload


def _handler(kaggle: FakeKaggle) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, data: object) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:  # noqa: N802
            token = self.path.rstrip("/").rsplit("/", 1)[-1]
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            name, _ = kaggle.blobs[token]
            kaggle.blobs[token] = (name, data)
            self._json(200, {})

        def _upload(self, method: str, body: dict) -> bool:
            owner, model = body.get("ownerSlug"), body.get("modelSlug")
            known = {(o, m) for o, m, _ in kaggle.models} | set(kaggle.created)
            if method == "GetModel":
                found = (owner, model) in known
                self._json(200 if found else 404, {"slug": model} if found else {"message": "no"})
            elif method == "CreateModel":
                kaggle.created.append((owner, body.get("slug")))
                self._json(200, {"ref": f"{owner}/{body.get('slug')}"})
            elif method == "StartBlobUpload":
                token = f"blob{len(kaggle.blobs)}"
                kaggle.blobs[token] = (body["name"], b"")
                url = f"http://127.0.0.1:{PORT}/upload/{token}"
                self._json(200, {"token": token, "createUrl": url})
            elif method in ("CreateModelInstance", "CreateModelInstanceVersion"):
                self._create(method, owner, model, body)
            else:
                return False
            return True

        def _create(self, method: str, owner: str, model: str, body: dict) -> None:
            payload = body.get("body", {})
            variant = payload.get("instanceSlug") or body.get("instanceSlug")
            versions = kaggle.models.get((owner, model, variant))
            if method == "CreateModelInstance" and versions:
                # create calls answer 200 with the error in the body (handle_mutate_call)
                self._json(200, {"error": "Instance already exists", "errorCode": 409})
                return
            files = {kaggle.blobs[f["token"]][0]: kaggle.blobs[f["token"]][1]
                     for f in payload.get("files", [])}  # fmt: skip
            versions = kaggle.models.setdefault((owner, model, variant), {})
            versions[max(versions, default=0) + 1] = files
            kaggle.notes.append(payload.get("versionNotes") or payload.get("licenseName", ""))
            self._json(200, {"ref": f"{owner}/{model}/keras/{variant}", "url": "", "error": ""})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(
                self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"
            )
            method = self.path.rstrip("/").rsplit("/", 1)[-1]
            kaggle.calls.append(method)
            if self._upload(method, body):
                return
            key = (body.get("ownerSlug"), body.get("modelSlug"), body.get("instanceSlug"))
            versions = kaggle.models.get(key)
            if versions is None:
                self._json(404, {"code": 404, "message": "Model instance not found"})
            elif method == "GetModelInstance":
                self._json(200, {"versionNumber": max(versions), "slug": key[2]})
            else:
                files = versions.get(int(body.get("versionNumber", 0)))
                if files is None:
                    self._json(404, {"code": 404, "message": "Version not found"})
                elif method == "ListModelInstanceVersionFiles":
                    self._json(200, {"files": [{"name": n} for n in sorted(files)]})
                elif method == "DownloadModelInstanceVersion" and body.get("path") in files:
                    data = files[body["path"]]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._json(404, {"code": 404, "message": f"not here: {method}"})

    return Handler


@pytest.fixture(name="kaggle")
def fake_kaggle(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[FakeKaggle]:
    """The fake API on localhost:7777, kagglehub pointed at it, an empty KAGGLEHUB_CACHE."""
    kaggle = FakeKaggle()
    for _ in range(50):  # a server closed a moment ago may still hold it
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) != 0:
                break
        time.sleep(0.2)
    else:
        pytest.skip(f"port {PORT} (kagglesdk's test endpoint) is taken")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), _handler(kaggle))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    try:
        yield kaggle
    finally:
        httpd.shutdown()
        httpd.server_close()
