"""``kerascnn.serve`` and ``kerascnn serve``: every check before the server starts (the extra
installed, the port free, each model readable, names unique), then uvicorn on the port already
bound.

SIGTERM (or Ctrl-C) stops accepting connections, lets the requests in flight finish and
returns normally, so the command exits 0.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
from collections.abc import Callable, Sequence
from typing import Any

from kerascnn.errors import UserError

__all__ = [
    "GRACE_SECONDS",
    "bind",
    "check_extra",
    "default_threads",
    "load_models",
    "run_server",
    "serve",
]

GRACE_SECONDS = 8  # how long requests in flight may take to finish after SIGTERM
EXTRA = 'pip install "kerascnn[serve]"'


def check_extra() -> None:
    """FastAPI, uvicorn and python-multipart are installed (not imported here)."""
    missing = [
        m for m in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(m) is None
    ]
    if missing:
        names = " and ".join({"multipart": "python-multipart"}.get(m, m) for m in missing)
        raise UserError(f"kerascnn serve needs {names}, not installed; {EXTRA}")


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one); a busy port, an address that
    is not this machine's or a port out of range is a one-line ``UserError``."""
    if not 0 <= port <= 65535:
        raise UserError(f"port {port} is out of range; give a port from 1 to 65535 (0: any free)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(
            f"cannot resolve host {host!r} ({exc}); give e.g. --host 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
            raise UserError(
                f"port {port} on {host} is in use; stop what listens there or pick "
                "another with --port (0: any free one)"
            ) from None
        raise UserError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --host or --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def load_models(sources: list[Any], names: list[str], threads: int | None = None) -> list:
    """Every model loaded (a bad one: a ``UserError`` naming it), under unique names."""
    from kerascnn.deploy.models import open_model

    if len(names) > len(sources):
        raise UserError(
            f"{len(names)} --name for {len(sources)} models; give at most one --name per MODEL"
        )
    models = []
    for i, source in enumerate(sources):
        models.append(open_model(source, names[i] if i < len(names) else None, threads))
    seen: dict[str, str] = {}
    for model in models:
        if model.name in seen:
            raise UserError(
                f"two models named {model.name!r} ({seen[model.name]} and {model.source}); "
                "name them apart with --name, once per MODEL in order"
            )
        seen[model.name] = model.source
    return models


def default_threads() -> int:
    """Runtime threads per model: all cores but one, which the HTTP event loop needs
    (parsing the next requests while a batch runs); at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


def _log_lines() -> None:
    """The request lines (logger ``kerascnn.serve``) on stderr, one line each."""
    logger = logging.getLogger("kerascnn.serve")
    if not any(getattr(h, "_kerascnn_serve", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler._kerascnn_serve = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def serve(
    model: Any,
    *more: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    names: Sequence[str] = (),
    max_batch: int = 32,
    max_delay_ms: float = 0.0,
    max_batch_request: int = 64,
    max_body_mb: float = 20.0,
    threads: int | None = None,
    echo: Callable[[str], Any] = print,
) -> None:
    """Serve models over HTTP until SIGTERM or Ctrl-C, as ``kerascnn serve`` does: Open
    Inference Protocol v2, TF Serving's REST API, image uploads, dynamic batching, a page.

    Args:
        model: an exported ``.onnx``/``.tflite`` file or SavedModel/OpenVINO folder (run in
            its own runtime), or anything :func:`kerascnn.load` takes (served through Keras);
            or a list of them.
        *more: more models, served side by side.
        host, port: where to listen (port 0: any free one; the start line names it).
        names: a URL name per model, in order (default: from each model's metadata).
        max_batch, max_delay_ms: images per forward pass (1: no batching); the longest wait
            for a batch to fill (0: batch the requests already waiting).
        max_batch_request, max_body_mb: the most instances in one request; the largest body.
        threads: runtime threads per model (default: all cores but one).
        echo: where the start line goes.
    """
    models = [*model] if isinstance(model, list | tuple) else [model]
    run_server([*models, *more], host, port, list(names), echo=echo, threads=threads,
               max_batch=max_batch, max_delay_ms=max_delay_ms,
               max_batch_request=max_batch_request, max_body_mb=max_body_mb)  # fmt: skip


def run_server(
    sources: list[Any],
    host: str = "127.0.0.1",
    port: int = 8000,
    names: list[str] | None = None,
    *,
    echo: Callable[[str], Any] = print,
    threads: int | None = None,
    **settings: Any,
) -> None:
    """Serve ``sources`` on ``host:port`` until SIGTERM or Ctrl-C.

    Args:
        sources: exported artifacts, or anything :func:`kerascnn.load` takes.
        host: the address to listen on.
        port: the port (0: any free one; the line printed at start names it).
        names: a name per source, in order (default: from each model's metadata).
        echo: where the start line goes.
        threads: runtime threads per model (default: all cores but one).
        **settings: ``max_batch``, ``max_delay_ms``, ``max_batch_request``, ``max_body_mb``.
    """
    check_extra()
    sock = bind(host, port)  # before any model loads: a busy port costs nothing
    threads = threads or default_threads()
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))  # read when TF starts
    try:
        models = load_models(sources, names or [], threads)
        import uvicorn

        from kerascnn.deploy.serve_app import ServeSettings, create_app

        app = create_app(models, ServeSettings(**settings))
        _log_lines()
        bound = sock.getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        listed = ", ".join(f"{m.name} ({m.platform})" for m in models)
        echo(f"serving {listed} on http://{shown}:{bound[1]} (ready once warm; Ctrl-C stops)")
        config = uvicorn.Config(
            app, log_config=None, access_log=False, timeout_graceful_shutdown=GRACE_SECONDS,
            lifespan="on", server_header=False,
        )  # fmt: skip
        # uvicorn re-raises the signal it stopped on: a handler of ours makes that a no-op,
        # so the command returns and exits 0
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        sock.close()
