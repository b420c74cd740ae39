"""A real HTTP server on 127.0.0.1 for the download tests, with misbehaving routes
(and ``run_in_pty``, to see what a command prints on a terminal).

Routes (``PREFIX/NAME``; every file in ``server.files`` is served under each prefix):

* ``/ok/``      honours ``Range`` (206 + ``Content-Range``)
* ``/norange/`` ignores ``Range`` (always 200, whole file)
* ``/drop/``    the first request sends half the body, then drops the connection
* ``/flaky/``   the first two requests answer 503
* ``/slow/``    sends 64 KiB every 20 ms, honours ``Range``
* ``/redirect/`` answers 302 to ``server.redirect_to``
* anything else: 404
"""

from __future__ import annotations

import http.server
import os
import pty
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest


@dataclass
class Server:
    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    redirect_to: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gets(self, path: str) -> list[str | None]:
        """The Range headers of the requests for ``path``."""
        return [r for p, r in self.requests if p == path]


def _handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802
            rng = self.headers.get("Range")
            server.requests.append((self.path, rng))
            n = server.counts[self.path] = server.counts.get(self.path, 0) + 1
            route, _, name = self.path.strip("/").partition("/")
            if route == "redirect":
                self.send_response(302)
                self.send_header("Location", server.redirect_to)
                self.end_headers()
                return
            data = server.files.get(name)
            if data is None or route not in ("ok", "norange", "drop", "flaky", "slow"):
                self.send_error(404, "Not Found")
                return
            if route == "flaky" and n <= 2:
                self.send_error(503, "Service Unavailable")
                return
            start = 0
            if rng and route != "norange" and rng.startswith("bytes="):
                start = int(rng[len("bytes=") :].split("-")[0])
                if start >= len(data):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if route == "drop" and n == 1:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            step = 64 * 1024
            for i in range(0, len(body), step):
                try:
                    self.wfile.write(body[i : i + step])
                except (BrokenPipeError, ConnectionResetError):
                    return
                if route == "slow":
                    time.sleep(0.02)

    return Handler


def start_server() -> tuple[Server, http.server.ThreadingHTTPServer]:
    server = Server()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return server, httpd


@pytest.fixture(name="server")
def server_fixture() -> Iterator[Server]:
    """A fresh server on 127.0.0.1 with one 3 MiB file, ``weights.bin``."""
    srv, httpd = start_server()
    srv.files["weights.bin"] = np.random.default_rng(0).bytes(3 * 1024 * 1024)
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_in_pty(argv: list[str], **env: str) -> str:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; return what it printed."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        argv, stdout=follower, stderr=follower, env={**os.environ, "COLUMNS": "120", **env}
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    child.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")
