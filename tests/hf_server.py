"""A small Hugging Face Hub on 127.0.0.1 for the hub tests: the endpoints ``huggingface_hub``
calls to download a file and to upload a folder, with the Hub's headers and error codes.

* ``HEAD|GET /{owner}/{repo}/resolve/{revision}/{path}``: ``X-Repo-Commit``, ``ETag`` (an
  LFS file's sha256 for ``*.h5``, else a git blob sha1), ``Content-Length``, ``Range`` (206);
  404 with ``X-Error-Code`` ``RepoNotFound``/``RevisionNotFound``/``EntryNotFound``; 401 when
  ``token`` is set and the request's ``Authorization`` is not ``Bearer <token>``;
  ``drop[path] = n`` sends half the body, then drops the connection, n times.
* ``POST /api/validate-yaml`` (the model card's front matter must parse),
  ``POST /api/repos/create`` (a first commit with ``.gitattributes``; 409 when it exists),
  ``POST /api/models/{repo}/branch/{name}``,
  ``POST /api/models/{repo}/preupload/{revision}`` (every file "regular": sent inline),
  ``POST /api/models/{repo}/commit/{revision}`` (NDJSON: header, then base64 files).

Repositories live in ``server.repos``: ``{"owner/repo": Repo}``; ``server.requests`` records
``(method, path, authorization header)``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

__all__ = ["FakeHub", "Repo", "fake_hub", "point_client_at"]


def _commit_id(files: dict[str, bytes], parent: str) -> str:
    digest = hashlib.sha1(parent.encode())
    for name in sorted(files):
        digest.update(name.encode() + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@dataclass
class Repo:
    """A repository: commits (id -> files) and branches (name -> commit id)."""

    private: bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # commit id -> its summary

    def commit(self, files: dict[str, bytes], branch: str = "main", keep: bool = True) -> str:
        """Commit ``files`` on ``branch`` (on top of its files when ``keep``); the commit id."""
        parent = self.branches.get(branch, "")
        merged = {**(self.commits.get(parent, {}) if keep else {}), **files}
        oid = _commit_id(merged, parent)
        self.commits[oid] = merged
        self.branches[branch] = oid
        return oid

    def resolve(self, revision: str) -> str | None:
        """The commit id of a branch name or a (full) commit id."""
        return self.branches.get(revision) or (revision if revision in self.commits else None)


@dataclass
class FakeHub:
    port: int = 0
    repos: dict[str, Repo] = field(default_factory=dict)
    token: str | None = None
    drop: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)  # README.md contents sent to validate-yaml

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self, method: str) -> list[str]:
        """The paths of the requests made with ``method``."""
        return [p for m, p, _ in self.requests if m == method]


def _etag(name: str, data: bytes) -> str:
    if name.endswith(".h5"):  # an LFS file: its sha256
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # a git blob id


def _handler(hub: FakeHub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: object, **headers: str) -> None:
            body = json.dumps(data).encode()
            self._reply(status, body, Content_Type="application/json", **headers)

        def _allowed(self) -> bool:
            auth = self.headers.get("Authorization")
            hub.requests.append((self.command, self.path, auth))
            if hub.token is None or auth == f"Bearer {hub.token}":
                return True
            msg = "Invalid credentials in Authorization header"
            self._json(401, {"error": msg}, X_Error_Message=msg)
            return False

        def _resolve(self) -> None:
            parts = unquote(urlsplit(self.path).path).strip("/").split("/")
            repo_id, revision, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._json(404, {"error": "Repository not found"}, X_Error_Code="RepoNotFound")
                return
            commit = repo.resolve(revision)
            if commit is None:
                self._json(404, {"error": "Invalid rev id"}, X_Error_Code="RevisionNotFound")
                return
            data = repo.commits[commit].get(name)
            if data is None:
                self._json(404, {"error": "Entry not found"}, X_Error_Code="EntryNotFound",
                           X_Repo_Commit=commit)  # fmt: skip
                return
            self._send_file(name, data, commit)

        def _send_file(self, name: str, data: bytes, commit: str) -> None:
            start, status = 0, 200
            rng = self.headers.get("Range", "")
            if rng.startswith("bytes=") and self.command == "GET":
                start, status = int(rng[6:].split("-")[0]), 206
            body = data[start:]
            self.send_response(status)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{_etag(name, data)}"')
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return
            if hub.drop.get(name, 0) > 0:
                hub.drop[name] -= 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802
            if self._allowed():
                self._resolve() if "/resolve/" in self.path else self._reply(404)

        do_GET = do_HEAD  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if not self._allowed():
                return
            path = urlsplit(self.path).path
            if path == "/api/repos/create":
                self._create(json.loads(body))
                return
            if path == "/api/validate-yaml":
                self._validate(json.loads(body)["content"])
                return
            parts = unquote(path).strip("/").split("/")  # api models owner repo verb rev
            repo = hub.repos.get("/".join(parts[2:4]))
            if repo is None or len(parts) < 6:
                self._json(404, {"error": "Repository not found"}, X_Error_Code="RepoNotFound")
            elif parts[4] == "branch":
                repo.branches.setdefault(parts[5], repo.branches.get("main", ""))
                self._json(200, {})
            elif parts[4] == "preupload":
                files = json.loads(body)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                         for f in files]  # fmt: skip
                self._json(200, {"files": modes})
            elif parts[4] == "commit":
                self._commit(repo, "/".join(parts[:4]), parts[5], body)
            else:
                self._json(404, {"error": "not here"})

        def _validate(self, content: str) -> None:
            """A model card's front matter, when it has one, must be a YAML mapping."""
            import yaml

            ok = True
            if content.startswith("---\n"):
                try:
                    ok = isinstance(yaml.safe_load(content.split("---\n", 2)[1]), dict)
                except (IndexError, yaml.YAMLError):
                    ok = False
            hub.cards.append(content)
            errors = [] if ok else [{"message": "invalid YAML front matter"}]
            self._json(200 if ok else 400, {"errors": errors, "warnings": []})

        def _create(self, data: dict) -> None:
            repo_id = f"{data.get('organization') or 'me'}/{data['name']}"
            if repo_id in hub.repos:
                error = {"error": "You already created this model repo", "url": self._url(repo_id)}
                self._json(409, error)
                return
            private = data.get("visibility", "private" if data.get("private") else "public")
            hub.repos[repo_id] = Repo(private=private == "private")
            hub.repos[repo_id].commit({".gitattributes": b"*.h5 filter=lfs diff=lfs merge=lfs\n"})
            self._json(200, {"url": self._url(repo_id), "name": repo_id})

        def _url(self, repo_id: str) -> str:
            return f"{hub.url}/{repo_id}"

        def _commit(self, repo: Repo, prefix: str, revision: str, body: bytes) -> None:
            files, summary = {}, ""
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "header":
                    summary = item["value"].get("summary", "")
                elif item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            oid = repo.commit(files, revision)
            repo.messages[oid] = summary
            url = f"{hub.url}/{prefix.split('/', 2)[-1]}/commit/{oid}"
            self._json(200, {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None})

    return Handler


def point_client_at(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, cache: Path, offline: bool = False
) -> None:
    """Configure ``huggingface_hub`` (imported now) as ``HF_ENDPOINT``, ``HF_HOME`` and
    ``HF_HUB_OFFLINE`` would at its import: it reads them into ``constants`` then."""
    from huggingface_hub import constants

    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    values = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": template,
        "HF_HUB_CACHE": str(cache / "hub"),
        "HF_HOME": str(cache),
        "HF_TOKEN_PATH": str(cache / "token"),
        "HF_STORED_TOKENS_PATH": str(cache / "stored_tokens"),
        "HF_HUB_OFFLINE": offline,
        "HF_HUB_DISABLE_TELEMETRY": True,
    }
    for name, value in values.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")


@pytest.fixture(name="hub")
def fake_hub() -> Iterator[FakeHub]:
    """A fresh fake hub on 127.0.0.1."""
    hub = FakeHub()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    httpd.daemon_threads = True
    hub.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield hub
    finally:
        httpd.shutdown()
        httpd.server_close()
