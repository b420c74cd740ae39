"""The ASGI middleware around ``kerascnn serve``'s app: a body limit (413), a one-line JSON
500 for anything unexpected (the traceback goes to the log only), and one log line per
request with its route, status, model and milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["Guard", "error_body"]

log = logging.getLogger("kerascnn.serve")


def error_body(message: str) -> bytes:
    """``{"error": "<one line>"}`` as bytes."""
    import json

    return json.dumps({"error": " ".join(str(message).split())}).encode()


class _TooLarge(Exception):
    pass


class Guard:
    """Wraps an ASGI ``app``; bodies over ``limit`` bytes get a 413 before they are read
    (``Content-Length``) or as soon as they pass it (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, state = time.perf_counter(), {"status": 0, "received": 0}
        sending = self._sending(send, state)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.limit:
            await self._reply(sending, 413, self._too_large())
            return self._log(scope, state, start)

        async def counted() -> dict:
            message = await receive()
            state["received"] += len(message.get("body", b""))
            if state["received"] > self.limit:
                if not state["status"]:  # answered here: the app's own answer is dropped
                    await self._reply(sending, 413, self._too_large())
                    state["closed"] = True
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            pass
        except Exception:  # noqa: BLE001 - logged here, never shown to the client
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not state["status"]:
                await self._reply(sending, 500, "internal error; see the server's log")
        self._log(scope, state, start)

    def _too_large(self) -> str:
        return (
            f"the request body is over {self.limit / 2**20:g} MB; "
            "send a smaller one or raise --max-body-mb"
        )

    @staticmethod
    async def _reply(send: Callable, status: int, message: str) -> None:
        body = error_body(message)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        headers.append((b"connection", b"close"))  # the rest of the body is not read
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _sending(send: Callable, state: dict) -> Callable:
        async def sending(message: dict) -> None:
            if state.get("closed"):
                return
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        return sending

    @staticmethod
    def _log(scope: dict, state: dict, start: float) -> None:
        route = getattr(scope.get("route"), "path", scope["path"])
        params = scope.get("path_params") or {}
        model = params.get("name") or scope.get("state", {}).get("model") or "-"
        ms = (time.perf_counter() - start) * 1000
        log.info("%s %s %d model=%s %.1f ms", scope["method"], route, state["status"], model, ms)
