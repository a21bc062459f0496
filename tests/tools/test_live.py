"""Live backends against local mock servers on 127.0.0.1: success, retries, timeouts, bad responses, key hygiene."""

from __future__ import annotations

import logging

import pytest
from mock_search_apis import Reply, mock_api
from PIL import Image

from tools.base import ToolError
from tools.live import Backoff, ChatEndpoint, LensImageSearch, TavilyTextSearch

FAST = Backoff(attempts=3, initial=0.01, max_delay=0.05)
KEY = "tvly-SECRET-key-0123456789"


@pytest.fixture
def api():
    with mock_api() as api:
        yield api


@pytest.fixture
def flag() -> Image.Image:
    return Image.new("RGB", (96, 64), "#0055A4")


def tavily(api, **kw) -> TavilyTextSearch:
    return TavilyTextSearch(api_key=KEY, api_base_url=api.url, backoff=kw.pop("backoff", FAST), **kw)


def lens(api, **kw) -> LensImageSearch:
    return LensImageSearch(f"{api.url}/lens", api_key=KEY, backoff=kw.pop("backoff", FAST), **kw)


# --- Tavily ---------------------------------------------------------------------------------------------------------


def test_tavily_success(api):
    hits = tavily(api).search("  capital of France ", 3)
    assert [h.title for h in hits] == [f"Result {i} for capital of France" for i in range(3)]
    assert hits[0].url == "https://example.org/0" and hits[0].score == 0.9 and "Snippet 0" in hits[0].snippet
    path, headers, body = api.received[-1]
    assert path == "/search" and body["query"] == "capital of France" and body["max_results"] == 3
    assert headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_tavily_retries_transient_errors(api, status):
    api.queue("/search", Reply(status, {"detail": {"error": "busy"}}), Reply(status, {"detail": {"error": "busy"}}))
    hits = tavily(api).search("paris", 2)
    assert len(hits) == 2 and api.calls("/search") == 3


def test_tavily_gives_up_after_attempts(api):
    api.queue("/search", *[Reply(429, {"detail": {"error": "rate"}})] * 3)
    with pytest.raises(ToolError, match="rate limited"):
        tavily(api).search("paris", 2)
    assert api.calls("/search") == 3


def test_tavily_timeout_is_tool_error(api):
    api.queue("/search", Reply(delay_s=1.0, body={}), Reply(delay_s=1.0, body={}))
    with pytest.raises(ToolError, match="timed out"):
        tavily(api, timeout=0.2, backoff=Backoff(attempts=2, initial=0.01, max_delay=0.01)).search("slow", 2)


def test_tavily_bad_key_is_not_retried(api):
    api.queue("/search", Reply(401, {"detail": {"error": "invalid key"}}))
    with pytest.raises(ToolError, match="API key"):
        tavily(api).search("paris", 2)
    assert api.calls("/search") == 1


def test_tavily_malformed_response(api):
    api.queue("/search", Reply(200, {"results": [{"title": "no url"}]}))
    with pytest.raises(ToolError, match="malformed"):
        tavily(api).search("paris", 2)


@pytest.mark.parametrize("query", ["", "   ", "x" * 10_000])
def test_tavily_bad_query_never_reaches_the_network(api, query):
    with pytest.raises(ToolError):
        tavily(api).search(query, 2)
    assert api.received == []


def test_unreachable_server_is_tool_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ToolError, match="unreachable"):
        TavilyTextSearch(KEY, f"http://127.0.0.1:{port}", backoff=Backoff(attempts=2, initial=0.01)).search("x", 1)


def test_tavily_needs_a_key():
    with pytest.raises(ValueError, match="API key"):
        TavilyTextSearch(api_key="")


# --- Lens-style image search ----------------------------------------------------------------------------------------


def test_lens_success(api, flag):
    hits = lens(api).search(flag, 4)
    assert [h.title for h in hits] == ["Flag 0", "Flag 1", "Flag 2", "Flag 3"]
    assert hits[1].snippet == "A flag, number 1." and hits[1].score == 0.9
    path, headers, body = api.received[-1]
    assert path == "/lens/search" and body["k"] == 4 and body["image"].startswith("data:image/")
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_lens_shrinks_large_images_before_upload(api):
    import base64
    import io

    lens(api, max_side=128).search(Image.new("RGB", (1000, 500), "red"), 1)
    data = api.received[-1][2]["image"].split(",", 1)[1]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (128, 64)


@pytest.mark.parametrize("status", [429, 500, 502])
def test_lens_retries_then_succeeds(api, flag, status):
    api.queue("/lens/search", Reply(status, {"error": "busy"}))
    assert len(lens(api).search(flag, 2)) == 2
    assert api.calls("/lens/search") == 2


def test_lens_timeout_is_tool_error(api, flag):
    api.queue("/lens/search", Reply(delay_s=1.0, body={}), Reply(delay_s=1.0, body={}))
    with pytest.raises(ToolError, match="timed out"):
        lens(api, timeout=0.2, backoff=Backoff(attempts=2, initial=0.01, max_delay=0.01)).search(flag, 2)


def test_lens_client_error_carries_the_server_message(api, flag):
    api.queue("/lens/search", Reply(400, {"error": "image too small"}))
    with pytest.raises(ToolError, match="HTTP 400.*image too small"):
        lens(api).search(flag, 2)
    assert api.calls("/lens/search") == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"hits": []}),
        Reply(200, {"results": [{"title": "", "url": "https://x"}]}),
        Reply(200, {"results": [{"title": "t"}]}),
        Reply(200, raw=b"<html>not json</html>"),
    ],
)
def test_lens_malformed_response(api, flag, reply):
    api.queue("/lens/search", reply)
    with pytest.raises(ToolError, match="malformed"):
        lens(api).search(flag, 2)


# --- key hygiene ----------------------------------------------------------------------------------------------------


def test_api_keys_never_appear_in_reprs_logs_or_errors(api, flag, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx/httpcore/urllib3 included
    api.queue("/search", Reply(500, {}), Reply(401, {"detail": {"error": "bad"}}))
    api.queue("/lens/search", Reply(503, {}), Reply(403, {"error": "forbidden"}))
    api.queue("/v1/chat/completions", Reply(500, {}), Reply(401, {"error": "nope"}))
    backends = [tavily(api), lens(api), ChatEndpoint(f"{api.url}/v1", "m", api_key=KEY, backoff=FAST)]
    errors = []
    for call in (
        lambda: backends[0].search("q", 1),
        lambda: backends[1].search(flag, 1),
        lambda: backends[2].complete([{"role": "user", "content": "hi"}], 8),
    ):
        with pytest.raises(ToolError) as info:
            call()
        errors.append(str(info.value))
    assert caplog.records, "expected retry warnings to be logged"
    text = caplog.text + " ".join(errors) + " ".join(repr(b) for b in backends)
    assert KEY not in text and "SECRET" not in text
    assert all("api_key=***" in repr(b) for b in backends)
