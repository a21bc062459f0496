"""Client backends for the search server (`tools.server`): many rollout workers share one index over HTTP.

`RemoteTextSearch`, `RemoteImageSearch` and `RemoteGrounder` implement the `tools.base` protocols, so a graph built
with `remote_toolset("http://127.0.0.1:8765")` runs exactly as with in-process backends. Transient failures
(connection errors, timeouts, HTTP 429/5xx) are retried with backoff; the server's 4xx messages come back as
`ToolError`s, which the agent reads as observations. Summaries are made on the client side (`tools.summarize`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import httpx
from PIL import Image
from pydantic import BaseModel, ValidationError

from tools.base import Box, Hit, Summarizer, ToolError, Toolset
from tools.images import to_data_url
from tools.live import Backoff, describe, error_detail, http_transient, with_retries
from tools.summarize import ExtractiveSummarizer
from tools.wire import GroundResponse, SearchResponse

M = TypeVar("M", bound=BaseModel)
SERVER_BACKOFF = Backoff(attempts=4, initial=0.2, max_delay=2.0)
"""Retries for our own server: short waits, since a restart or a burst is over in seconds."""


class RemoteClient:
    """One connection pool to the search server, shared by the three backends.

    Args:
        base_url: the server root, e.g. `http://127.0.0.1:8765`.
        timeout: seconds per request.
        backoff: retry schedule for transient failures.
        transport: an httpx transport (tests); None uses the network.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        backoff: Backoff = SERVER_BACKOFF,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backoff = backoff
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"RemoteClient({self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def health(self) -> dict[str, object]:
        """The server's `/health` document."""
        response = with_retries(lambda: self._http.get("/health"), self.backoff, http_transient, "search server")
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Mapping[str, object], model: type[M]) -> M:
        """POST `body` to `path` and parse the reply as `model`; every failure is a `ToolError`."""

        def call() -> httpx.Response:
            response = self._http.post(path, json=body)
            if response.status_code == 429 or response.status_code >= 500:
                response.raise_for_status()
            return response

        try:
            response = with_retries(call, self.backoff, http_transient, f"search server {path}")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ToolError(f"the search server failed after {self.backoff.attempts} tries: {describe(exc)}") from None
        if response.status_code != 200:
            raise ToolError(error_detail(response))
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ToolError(f"the search server returned a malformed response ({exc.error_count()} errors)") from None


def _client(server: RemoteClient | str) -> RemoteClient:
    return server if isinstance(server, RemoteClient) else RemoteClient(server)


class RemoteTextSearch:
    """Text search on the search server."""

    def __init__(self, server: RemoteClient | str) -> None:
        self.client = _client(server)

    def __repr__(self) -> str:
        return f"RemoteTextSearch({self.client.base_url!r})"

    def search(self, query: str, k: int) -> list[Hit]:
        """Return up to `k` hits, best first."""
        response = self.client.post("/v1/search/text", {"query": query, "k": k}, SearchResponse)
        return [h.hit() for h in response.hits]


class RemoteImageSearch:
    """Image search on the search server; the image travels as lossless PNG."""

    def __init__(self, server: RemoteClient | str) -> None:
        self.client = _client(server)

    def __repr__(self) -> str:
        return f"RemoteImageSearch({self.client.base_url!r})"

    def search(self, image: Image.Image, k: int) -> list[Hit]:
        """Return up to `k` hits, best first."""
        body = {"image": to_data_url(image.convert("RGB")), "k": k}
        response = self.client.post("/v1/search/image", body, SearchResponse)
        return [h.hit() for h in response.hits]


class RemoteGrounder:
    """Grounding on the search server."""

    def __init__(self, server: RemoteClient | str) -> None:
        self.client = _client(server)

    def __repr__(self) -> str:
        return f"RemoteGrounder({self.client.base_url!r})"

    def ground(self, image: Image.Image, expression: str) -> Box:
        """Return the box `expression` refers to."""
        body = {"image": to_data_url(image.convert("RGB")), "expression": expression}
        response = self.client.post("/v1/ground", body, GroundResponse)
        x0, y0, x1, y1 = response.box
        return (x0, y0, x1, y1)


def remote_toolset(
    base_url: str, summarizer: Summarizer | None = None, crop_dir: str | None = None, timeout: float = 30.0
) -> Toolset:
    """A `Toolset` whose search and grounding run on the server at `base_url` (one shared connection pool).

    Args:
        base_url: the server root.
        summarizer: the summariser (runs here); the offline extractive one when None.
        crop_dir: where crops are written; None keeps them inline.
        timeout: seconds per request.
    """
    client = RemoteClient(base_url, timeout=timeout)
    return Toolset(
        text_search=RemoteTextSearch(client),
        image_search=RemoteImageSearch(client),
        grounder=RemoteGrounder(client),
        summarizer=summarizer or ExtractiveSummarizer(),
        crop_dir=crop_dir,
    )
