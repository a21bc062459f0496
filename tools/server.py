"""The search server: text search, image search and grounding of any `Toolset` over HTTP (FastAPI + uvicorn).

Many rollout workers share one index through it (`tools.remote` is the client; the API is in `tools.wire`):

    deepmmsearch serve --world fixture --port 8765          # or: python -m world.serve_cli serve ...
    curl -s localhost:8765/health

Every request is bounded (body bytes, image bytes and pixels, query and expression length, `k`) and bad input is a
4xx with a one-line `error`: 400 for a malformed request or image, 413 for one too large, 422 when the backend
cannot serve it (`ToolError`: nothing matches, an ordinal out of range …). Backends that are not thread-safe are
guarded: at most `concurrency` calls run in each backend at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tools.base import ToolError, Toolset
from tools.images import MAX_PIXELS, MIN_SIDE, ImageError, clamp_box, open_image
from tools.wire import (
    ErrorResponse,
    ErrorType,
    GroundRequest,
    GroundResponse,
    HitBody,
    ImageSearchRequest,
    SearchResponse,
    TextSearchRequest,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Request bounds; anything beyond them is refused with a 4xx before a backend sees it."""

    max_query_chars: int = 1000
    max_expression_chars: int = 300
    max_k: int = 50
    max_image_bytes: int = 8 * 1024 * 1024
    """Decoded image file size. Pixel bounds are `tools.images`' (≤ 40 MP, sides ≥ 2), checked before decoding."""

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: a base64 image at the byte limit plus room for the other fields."""
        return self.max_image_bytes * 4 // 3 + 64 * 1024


class RequestError(Exception):
    """A request the server refuses; carries the HTTP status and the error type."""

    def __init__(self, status: int, kind: ErrorType, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def _error(status: int, kind: ErrorType, message: str) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=message, type=kind).model_dump(), status_code=status)


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then replay it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = _error(413, "too_large", f"the request body is larger than {self.max_bytes:,} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class _Guarded:
    """Run backend calls with at most `n` at once (backends need not be thread-safe)."""

    def __init__(self, n: int) -> None:
        self._sem = threading.BoundedSemaphore(n)

    def __call__(self, fn: Callable[[], T]) -> T:
        with self._sem:
            return fn()


def decode_image(data: str, limits: Limits) -> Image.Image:
    """Decode a base64 image (with or without a data-URL prefix) within the limits.

    Raises:
        RequestError: 413 when the file is over the byte limit, 400 when it is not a usable image.
    """
    if data.startswith(("http://", "https://")):
        raise RequestError(400, "bad_request", "image: URLs are not fetched; send the bytes as base64 or a data URL")
    header, sep, payload = data.partition(",")
    if not sep:
        header, payload = "data:image/*;base64", data
    elif not header.startswith("data:"):
        raise RequestError(400, "bad_request", "image: expected base64 data or a data:image/...;base64, URL")
    size = len(payload) * 3 // 4
    if size > limits.max_image_bytes:
        raise RequestError(413, "too_large", f"image: {size:,} bytes, over the {limits.max_image_bytes:,}-byte limit")
    if not payload.strip():
        raise RequestError(400, "bad_request", "image: empty")
    try:
        return open_image(f"{header},{payload}")
    except ImageError as exc:
        reason = str(exc).removeprefix("data URL: ")
        raise RequestError(400, "bad_request", reason if reason.startswith("image") else f"image: {reason}") from None


def _check_k(k: int, limits: Limits) -> None:
    if not 1 <= k <= limits.max_k:
        raise RequestError(400, "bad_request", f"k={k}: ask for 1 to {limits.max_k} hits")


def create_app(tools: Toolset, limits: Limits = Limits(), concurrency: int = 1) -> FastAPI:
    """The FastAPI app serving `tools`' text search, image search and grounder.

    Args:
        tools: any toolset (the fixture one, the frozen web, live backends behind a cache).
        limits: request bounds.
        concurrency: how many calls may run in each backend at once.
    """
    app = FastAPI(title="deepmmsearch search server", version="1", docs_url="/docs", redoc_url=None)
    guards = {name: _Guarded(concurrency) for name in ("text", "image", "ground")}
    started = time.time()

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.kind, str(exc))

    @app.exception_handler(ToolError)
    async def _tool_error(_: Request, exc: ToolError) -> JSONResponse:
        return _error(422, "tool_error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        return _error(400, "bad_request", f"{where}: {first['msg']}")

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("backend failed", exc_info=exc)
        return _error(500, "internal", f"the server failed: {type(exc).__name__}: {exc}")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "uptime_s": round(time.time() - started, 1),
            "backends": {
                "text_search": type(tools.text_search).__name__,
                "image_search": type(tools.image_search).__name__,
                "grounder": type(tools.grounder).__name__,
            },
            "limits": asdict(limits) | {"max_pixels": MAX_PIXELS, "min_side": MIN_SIDE},
        }

    @app.post("/v1/search/text")
    def text_search(req: TextSearchRequest) -> SearchResponse:
        query = req.query.strip()
        if not query:
            raise RequestError(400, "bad_request", "query: empty")
        if len(query) > limits.max_query_chars:
            raise RequestError(
                400, "bad_request", f"query: {len(query):,} characters, over the {limits.max_query_chars:,} limit"
            )
        _check_k(req.k, limits)
        hits = guards["text"](lambda: tools.text_search.search(query, req.k))
        return SearchResponse(hits=[HitBody.of(h) for h in hits])

    @app.post("/v1/search/image")
    def image_search(req: ImageSearchRequest) -> SearchResponse:
        _check_k(req.k, limits)
        image = decode_image(req.image, limits)
        hits = guards["image"](lambda: tools.image_search.search(image, req.k))
        return SearchResponse(hits=[HitBody.of(h) for h in hits])

    @app.post("/v1/ground")
    def ground(req: GroundRequest) -> GroundResponse:
        if (req.expression is None) == (req.box is None):
            raise RequestError(400, "bad_request", "give exactly one of `expression` and `box`")
        if req.box is not None:
            if len(req.box) != 4:
                raise RequestError(400, "bad_request", f"box: expected [x0, y0, x1, y1], got {len(req.box)} numbers")
            image = decode_image(req.image, limits)
            try:
                box = clamp_box((req.box[0], req.box[1], req.box[2], req.box[3]), image.width, image.height)
            except ImageError as exc:
                raise RequestError(400, "bad_request", f"box: {exc}") from None
            return GroundResponse(box=list(box), width=image.width, height=image.height)
        expression = (req.expression or "").strip()
        if not expression:
            raise RequestError(400, "bad_request", "expression: empty")
        if len(expression) > limits.max_expression_chars:
            raise RequestError(
                400, "bad_request", f"expression: over the {limits.max_expression_chars}-character limit"
            )
        image = decode_image(req.image, limits)
        found = guards["ground"](lambda: tools.grounder.ground(image, expression))
        try:
            box = clamp_box(found, image.width, image.height)
        except ImageError as exc:
            raise ToolError(f"the grounder's box is unusable: {exc}") from None
        return GroundResponse(box=list(box), width=image.width, height=image.height)

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return app


@contextmanager
def background_server(
    app: FastAPI | Callable[[Scope, Receive, Send], Awaitable[None]], host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run `app` with uvicorn in a thread for the duration of the block; yields its base URL.

    Port 0 picks a free port. Tests and in-process deployments use this; `serve` blocks instead.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="search-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the search server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve(
    tools: Toolset, host: str = "127.0.0.1", port: int = 8765, limits: Limits = Limits(), concurrency: int = 1
) -> None:
    """Serve `tools` until interrupted (blocks)."""
    import uvicorn

    uvicorn.run(create_app(tools, limits, concurrency), host=host, port=port, log_level="warning", access_log=False)
