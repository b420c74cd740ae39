"""The ``kerascnn serve`` web app (FastAPI): Open Inference Protocol v2, TF Serving's REST
``:predict``, image uploads on ``/predict`` and a page to try a model on ``/``.

Models load before the app is made; the app warms each one up in the background and
``/v2/health/ready`` answers 503 until all are warm. Every bad request is a 4xx with a
one-line JSON ``{"error": "<problem>; <fix>"}``; no traceback reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from kerascnn.deploy import binary_tensors, protocols
from kerascnn.deploy.batching import Batcher
from kerascnn.deploy.guard import Guard
from kerascnn.deploy.models import ServedModel, top_records
from kerascnn.deploy.protocols import RequestError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ServeSettings", "create_app"]

log = logging.getLogger("kerascnn.serve")


@dataclass(frozen=True)
class ServeSettings:
    """The server's limits and batching."""

    max_batch: int = 32  # images per forward pass (1: no batching)
    max_delay_ms: float = 0.0  # longest wait for a batch to fill (0: batch what waits)
    max_batch_request: int = 64  # instances in one request
    max_body_mb: float = 20.0  # request body


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


class _State:
    """The models, their batchers, and whether each is warm."""

    def __init__(self, models: list[ServedModel], settings: ServeSettings) -> None:
        self.models = {m.name: m for m in models}
        self.settings = settings
        self.batchers = {
            m.name: Batcher(m.run, settings.max_batch, settings.max_delay_ms, m.name)
            for m in models
        }
        self.warm: set[str] = set()

    def model(self, name: str) -> ServedModel:
        if name not in self.models:
            known = ", ".join(sorted(self.models))
            raise RequestError(404, f"no model named {name!r}; this server has: {known}")
        return self.models[name]

    def warm_up(self) -> None:
        """One batch of one and one of ``max_batch`` per model (runs in a thread)."""
        import numpy as np

        for name, model in self.models.items():
            try:
                for n in sorted({1, self.settings.max_batch}):
                    model.run(np.zeros((n, *model.input_size, 3), np.float32))
            except Exception:  # noqa: BLE001 - the model stays unready, the server up
                log.exception("warming up %s failed", name)
                continue
            self.warm.add(name)
            log.info("model %s ready (%s, %s)", name, model.platform, model.source)

    @property
    def ready(self) -> bool:
        return len(self.warm) == len(self.models)

    async def infer(self, model: ServedModel, pixels: np.ndarray) -> np.ndarray:
        if model.name not in self.warm:
            raise RequestError(503, f"model {model.name!r} is not ready yet; retry shortly")
        return await self.batchers[model.name].submit(pixels)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        fix = {404: "see GET /v2/models for the models and GET / for the page",
               405: "use the method the route takes (GET or POST)"}  # fmt: skip
        detail = str(exc.detail).rstrip(".")
        return _error(exc.status_code, f"{detail}; {fix.get(exc.status_code, 'fix the request')}")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid')}; fix the request")


def _health_routes(app: FastAPI, state: _State) -> None:
    @app.get("/v2/health/live")
    async def live() -> Response:
        return Response(status_code=200)

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return Response(status_code=200 if state.ready else 503)

    @app.get("/v2")
    async def server_metadata() -> dict:
        from kerascnn._version import __version__

        return {"name": "kerascnn", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/models")
    async def models() -> dict:
        return {"models": sorted(state.models)}

    @app.post("/v2/repository/index")
    async def repository_index() -> list[dict]:
        """Triton's model repository index, read-only: each model, version 1, and its state."""
        return [
            {"name": n, "version": "1", "state": "READY" if n in state.warm else "LOADING"}
            for n in sorted(state.models)
        ]

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Response:
        return Response(status_code=200 if state.model(name).name in state.warm else 503)

    @app.get("/v2/models/{name}/stats")
    async def stats(name: str) -> dict:
        """Triton's statistics, in part: images inferred, forward passes run."""
        done = state.batchers[state.model(name).name].stats
        counts = {"inference_count": done.images, "execution_count": done.batches}
        return {"model_stats": [{"name": name, "version": "1", **counts}]}

    @app.get("/v2/models/{name}")
    async def metadata(name: str) -> dict:
        model = state.model(name)
        return protocols.v2_metadata(name, model.signature, model.platform)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        folder = resources.files("kerascnn.deploy") / "static"
        return HTMLResponse((folder / "index.html").read_text("utf-8"))


def _tensor_routes(app: FastAPI, state: _State) -> None:
    limit = state.settings.max_batch_request

    @app.post("/v2/models/{name}/infer", response_model=None)
    async def infer(name: str, request: Request) -> dict | Response:
        """JSON tensors, or Triton's binary tensor data (``tritonclient``'s default)."""
        model = state.model(name)
        body = await request.body()
        doc, tail = binary_tensors.split_body(body, request.headers.get(binary_tensors.HEADER))
        pixels, request_id = protocols.parse_v2_infer(doc, model.signature, limit, tail)
        probs = await state.infer(model, pixels)
        response = protocols.v2_response(name, model.signature, probs, request_id)
        if not binary_tensors.wants_binary(doc):
            return response
        content, head = binary_tensors.with_binary_output(response, probs)
        headers = {binary_tensors.HEADER: str(head)}
        return Response(content, media_type="application/octet-stream", headers=headers)

    @app.post("/v1/models/{name}:predict")
    async def tf_predict(name: str, request: Request) -> dict:
        model = state.model(name)
        doc = protocols.parse_json(await request.body())
        pixels = protocols.parse_tf_predict(doc, model.signature, limit)
        return protocols.tf_response(await state.infer(model, pixels))


async def _upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The uploaded image: multipart field ``file``, or the raw body."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        return await request.body(), "upload"
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
    except Exception as exc:  # noqa: BLE001 - malformed multipart: a 400 naming why
        message = getattr(exc, "detail", None) or getattr(exc, "message", None) or exc
        raise RequestError(
            400, f"unreadable multipart body ({message}); send field 'file'"
        ) from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise RequestError(400, "no file in the multipart body; send the image as field 'file'")
    return await upload.read(), upload.filename or "upload"


def _prepare(data: bytes, name: str, served: ServedModel) -> np.ndarray:
    """Decoded, cropped and resized as ``kerascnn predict`` does it: ``1 x H x W x 3``."""
    from kerascnn.images import prepare_images

    pixels = protocols.decode_image(data, name)
    return prepare_images([pixels], served.input_size, served.crop)[1]


def _upload_routes(app: FastAPI, state: _State) -> None:
    body_limit = int(state.settings.max_body_mb * 2**20)

    @app.post("/predict")
    async def predict(request: Request, model: str | None = None, top: int = 5) -> list:
        """An image (multipart field ``file`` or the raw body) -> ``kerascnn predict --json``."""
        if model is None and len(state.models) != 1:
            raise RequestError(400, f"{len(state.models)} models served; add ?model=NAME")
        served = state.model(model or next(iter(state.models)))
        request.state.model = served.name
        if top < 1:
            raise RequestError(400, f"top={top}; ask for top=1 or more")
        data, name = await _upload(request, body_limit)
        batch = await asyncio.to_thread(_prepare, data, name, served)
        probs = await state.infer(served, batch)
        return top_records(served, probs, [name], min(top, len(served.classes)))


def create_app(models: list[ServedModel], settings: ServeSettings | None = None) -> Guard:
    """The ASGI app serving ``models`` (already loaded) under their names.

    It warms them up once started; ``/v2/health/ready`` is 503 until all are warm.
    """
    settings = settings or ServeSettings()
    state = _State(models, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for batcher in state.batchers.values():
            batcher.start()
        threading.Thread(target=state.warm_up, name="kerascnn-warm-up", daemon=True).start()
        yield
        await asyncio.gather(*(b.stop() for b in state.batchers.values()))

    app = FastAPI(title="kerascnn serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.kerascnn = state
    _handlers(app)
    _health_routes(app, state)
    _tensor_routes(app, state)
    _upload_routes(app, state)
    return Guard(app, int(settings.max_body_mb * 2**20))
