"""Live network backends: Tavily text search, a Lens-style image search API and an OpenAI-compatible chat endpoint.

This is the one module that talks to outside services (`tools.remote` talks to our own search server). Every call
has a timeout and retries transient failures (connection errors, timeouts, HTTP 429 and 5xx) with exponential
backoff and jitter (tenacity); what still fails becomes a `ToolError` the agent reads. API keys are kept out of
`repr`, log lines and error messages.

Put a `tools.cache` record/replay cache in front of the search backends so runs are reproducible and cheap.

The Lens-style image search API (no public standard exists; this is the contract a provider adapter serves):

    POST {base_url}/search   Authorization: Bearer <key>
    {"image": "data:image/jpeg;base64,...", "k": 5}
    → 200 {"results": [{"title": "...", "url": "https://...", "description": "...", "score": 0.93,
                        "thumbnail_url": "https://..." | null}, ...]}

`score` and `thumbnail_url` are optional; results come best first.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from tools.base import Hit, ToolError
from tools.images import to_data_url

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_QUERY_CHARS = 1000
TAVILY_MAX_RESULTS = 20
"""Tavily's largest `max_results`."""


@dataclass(frozen=True)
class Backoff:
    """Retry schedule for transient failures: `attempts` tries in all, waits growing from `initial` seconds."""

    attempts: int = 3
    initial: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Backoff.attempts={self.attempts} must be ≥ 1 (1 = no retries)")
        if self.initial < 0 or self.max_delay < self.initial:
            raise ValueError(f"need 0 ≤ initial ≤ max_delay, got {self.initial} and {self.max_delay}")


def with_retries(fn: Callable[[], T], backoff: Backoff, transient: Callable[[BaseException], bool], what: str) -> T:
    """Call `fn`, retrying exceptions `transient` accepts; the last exception propagates when tries run out."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s; retry %d/%d in %.2f s",
            what,
            describe(exc),
            state.attempt_number,
            backoff.attempts - 1,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_after_attempt(backoff.attempts),
        wait=wait_exponential_jitter(multiplier=backoff.initial, max=backoff.max_delay, jitter=backoff.initial / 2),
        retry=retry_if_exception(transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


def describe(exc: BaseException | None) -> str:
    """A one-line, key-free description of a request failure."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def http_transient(exc: BaseException) -> bool:
    """Whether an httpx failure is worth retrying: transport errors, timeouts, HTTP 429 and 5xx."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def error_detail(response: httpx.Response) -> str:
    """The server's own error message from a JSON body (`error`, `detail` or `message`), else the status line."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, dict):  # OpenAI: {"error": {"message": ...}}
                value = value.get("message")
            if isinstance(value, str):
                return value
    return f"HTTP {response.status_code}"


M = TypeVar("M", bound=BaseModel)


def post_validated(
    http: httpx.Client,
    path: str,
    payload: dict[str, Any],
    response_model: type[M],
    backoff: Backoff,
    what: str,
    retry_label: str | None = None,
) -> M:
    """POST `payload` as JSON with retries on transient failures and validate the answer as `response_model`.

    Raises:
        ToolError: the call kept failing, was refused (a 4xx), or answered something that does not validate;
            messages start with `what` and never contain credentials.
    """

    def call() -> httpx.Response:
        response = http.post(path, json=payload)
        if response.status_code == 429 or response.status_code >= 500:
            response.raise_for_status()
        return response

    try:
        response = with_retries(call, backoff, http_transient, retry_label or what)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ToolError(f"{what} failed after {backoff.attempts} tries: {describe(exc)}") from None
    if response.status_code != 200:
        raise ToolError(f"{what} refused the request (HTTP {response.status_code}): {error_detail(response)}")
    try:
        return response_model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ToolError(f"{what} returned a malformed response ({exc.error_count()} errors)") from None


def check_query(query: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """The stripped query; `ToolError` when it is empty or longer than `max_chars`."""
    query = query.strip()
    if not query:
        raise ToolError("the query is empty")
    if len(query) > max_chars:
        raise ToolError(f"the query is {len(query)} characters long; the limit is {max_chars}")
    return query


class _TavilyResult(BaseModel):
    title: str = ""
    url: str
    content: str = ""
    score: float = 0.0


class _TavilyResponse(BaseModel):
    results: list[_TavilyResult]


class TavilyTextSearch:
    """Tavily web search (`tavily-python`); `api_base_url` points it elsewhere (a proxy, or a mock in tests).

    Args:
        api_key: the Tavily key (never logged; `repr` hides it).
        api_base_url: the API root; None means Tavily's own.
        timeout: seconds per request.
        backoff: retry schedule for HTTP 429, 5xx, timeouts and connection errors.
        search_depth: Tavily's `search_depth` ("basic" costs one credit).
    """

    def __init__(
        self,
        api_key: str,
        api_base_url: str | None = None,
        timeout: float = 20.0,
        backoff: Backoff = Backoff(),
        search_depth: str = "basic",
    ) -> None:
        from tavily import TavilyClient

        if not api_key:
            raise ValueError("TavilyTextSearch needs an API key (pass it explicitly; the CLI reads TAVILY_API_KEY)")
        self._client = TavilyClient(api_key=api_key, api_base_url=api_base_url)
        self.base_url = self._client.base_url
        self.timeout = timeout
        self.backoff = backoff
        self.search_depth = search_depth

    def __repr__(self) -> str:
        return f"TavilyTextSearch(api_base_url={self.base_url!r}, api_key=***)"

    def search(self, query: str, k: int) -> list[Hit]:
        """Return up to `k` web results, best first (title, url, content snippet, Tavily's score)."""
        import requests
        from tavily import errors

        query = check_query(query)

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, requests.HTTPError):
                return exc.response is not None and exc.response.status_code >= 500
            return isinstance(exc, errors.UsageLimitExceededError | errors.TimeoutError | requests.ConnectionError)

        def call() -> dict[str, Any]:
            return self._client.search(
                query, max_results=min(k, TAVILY_MAX_RESULTS), search_depth=self.search_depth, timeout=self.timeout
            )

        try:
            raw = with_retries(call, self.backoff, transient, "tavily search")
        except errors.UsageLimitExceededError:
            raise ToolError(f"Tavily search is rate limited (HTTP 429) after {self.backoff.attempts} tries") from None
        except errors.TimeoutError:
            raise ToolError(f"Tavily search timed out after {self.backoff.attempts} tries") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise ToolError(f"Tavily search failed: HTTP {status}") from None
        except requests.ConnectionError:
            raise ToolError(f"Tavily search is unreachable ({self.base_url})") from None
        except (errors.InvalidAPIKeyError, errors.MissingAPIKeyError):
            raise ToolError("Tavily rejected the API key (HTTP 401)") from None
        except errors.ForbiddenError as exc:
            raise ToolError(f"Tavily refused the request (HTTP 403): {exc}") from None
        except errors.BadRequestError as exc:
            raise ToolError(f"Tavily refused the query (HTTP 400): {exc}") from None
        try:
            results = _TavilyResponse.model_validate(raw).results
        except ValidationError as exc:
            raise ToolError(f"Tavily returned a malformed response ({exc.error_count()} errors)") from None
        return [Hit(title=r.title or r.url, url=r.url, snippet=r.content, score=r.score) for r in results[:k]]


class LensResult(BaseModel):
    """One hit of the Lens-style image search API."""

    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=1)
    url: str = Field(min_length=1)
    description: str = ""
    score: float | None = None
    thumbnail_url: str | None = None


class LensResponse(BaseModel):
    """The body of a Lens-style image search response."""

    model_config = ConfigDict(extra="ignore")
    results: list[LensResult]


class LensImageSearch:
    """Search by image through a Lens-style HTTP API (schema in the module docstring).

    Args:
        base_url: the API root; `/search` is appended.
        api_key: sent as `Authorization: Bearer`; never logged (`repr` hides it). None sends no header.
        timeout: seconds per request.
        backoff: retry schedule for HTTP 429, 5xx, timeouts and connection errors.
        max_side: the image is shrunk to this longest side before upload.
        transport: an httpx transport (tests); None uses the network.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 20.0,
        backoff: Backoff = Backoff(),
        max_side: int = 1024,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        self.backoff = backoff
        self.max_side = max_side

    def __repr__(self) -> str:
        return f"LensImageSearch(base_url={self.base_url!r}, api_key=***)"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def search(self, image: Image.Image, k: int) -> list[Hit]:
        """Return up to `k` visually similar web images with their page (title, url, description), best first."""
        small = image.convert("RGB")
        small.thumbnail((self.max_side, self.max_side))
        payload = {"image": _jpeg_data_url(small), "k": k}

        results = post_validated(self._http, "/search", payload, LensResponse, self.backoff, "image search").results
        return [
            Hit(
                title=r.title,
                url=r.url,
                snippet=r.description,
                score=r.score if r.score is not None else 1.0 / (i + 1),
            )
            for i, r in enumerate(results[:k])
        ]


def _jpeg_data_url(image: Image.Image) -> str:
    """JPEG (quality 90) keeps uploads small; `to_data_url` writes PNG."""
    if image.width * image.height <= 64 * 64:
        return to_data_url(image)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class _ChatMessage(BaseModel):
    content: str | None = None


class _ChatChoice(BaseModel):
    message: _ChatMessage


class _ChatResponse(BaseModel):
    choices: list[_ChatChoice] = Field(min_length=1)


class ChatEndpoint:
    """An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, any gateway), over httpx.

    Args:
        base_url: the API root including the version, e.g. `http://127.0.0.1:8000/v1`; `/chat/completions` is
            appended.
        model: the model name the endpoint serves.
        api_key: sent as `Authorization: Bearer`; never logged (`repr` hides it). None sends no header.
        timeout: seconds per request.
        backoff: retry schedule for HTTP 429, 5xx, timeouts and connection errors.
        temperature: sampling temperature (0 = as deterministic as the endpoint allows).
        transport: an httpx transport (tests); None uses the network.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        backoff: Backoff = Backoff(),
        temperature: float = 0.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.temperature = temperature
        self.backoff = backoff
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"ChatEndpoint(base_url={self.base_url!r}, model={self.model!r}, api_key=***)"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def complete(self, messages: list[dict[str, str]], max_tokens: int, what: str = "the summariser") -> str:
        """Return the assistant's reply to `messages`; raise `ToolError` when the endpoint fails.

        `what` names the caller in error messages ("the summariser", "the LLM judge …").
        """
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": self.temperature}
        parsed = post_validated(
            self._http, "/chat/completions", body, _ChatResponse, self.backoff, what, "chat endpoint"
        )
        return parsed.choices[0].message.content or ""
