"""The search server over the fixture toolset on 127.0.0.1 (ephemeral port), its bad-input answers and its client."""

from __future__ import annotations

import argparse
import base64
import io
import json
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from graph.build import build_graph
from graph.context import RunConfig
from graph.demo import DEMO_QUESTION, DEMO_SCRIPT
from policy.scripted import ScriptedPolicy
from tools.base import ToolError
from tools.fixture import fixture_toolset
from tools.images import make_ref, open_image, to_data_url
from tools.live import Backoff
from tools.remote import RemoteClient, RemoteGrounder, RemoteImageSearch, RemoteTextSearch, remote_toolset
from tools.server import Limits, background_server, create_app
from world import serve_cli

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(max_image_bytes=300_000)


@pytest.fixture(scope="module")
def toolset():
    return fixture_toolset()


@pytest.fixture(scope="module")
def url(toolset):
    with background_server(create_app(toolset, LIMITS)) as base:
        yield base


@pytest.fixture(scope="module")
def http(url):
    with httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def composite(world) -> Image.Image:
    from world.fixture import compose

    return compose([world.flag(c) for c in ["Japan", "France", "Germany"]])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` (no pixel data): a decompression-bomb probe in 60 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


# --- happy paths ----------------------------------------------------------------------------------------------------


def test_health(http):
    body = http.get("/health").json()
    assert body["status"] == "ok"
    assert body["backends"] == {
        "text_search": "FixtureTextSearch",
        "image_search": "FixtureImageSearch",
        "grounder": "CompositeGrounder",
    }
    assert body["limits"]["max_query_chars"] == 1000 and body["limits"]["max_pixels"] == 40_000_000


def test_text_search(http, toolset):
    body = http.post("/v1/search/text", json={"query": "capital of France", "k": 3}).json()
    assert [h["title"] for h in body["hits"]] == [h.title for h in toolset.text_search.search("capital of France", 3)]


def test_image_search_accepts_data_urls_and_bare_base64(http, world):
    flag = world.flag("Sweden")
    for image in (to_data_url(flag), b64(png_bytes(flag))):
        hits = http.post("/v1/search/image", json={"image": image, "k": 2}).json()["hits"]
        assert hits[0]["title"] == "Flag of Sweden" and hits[0]["image_id"] == "img-flag-sweden"


def test_ground_by_expression_and_by_box(http, composite):
    image = to_data_url(composite)
    assert http.post("/v1/ground", json={"image": image, "expression": "the flag in the middle"}).json() == {
        "box": [144, 24, 240, 88],
        "width": 384,
        "height": 112,
    }
    clamped = http.post("/v1/ground", json={"image": image, "box": [-10, 50, 100, 500]}).json()
    assert clamped["box"] == [0, 50, 100, 112]


# --- bad input: a 4xx with one clear line, never a crash or a hang ---------------------------------------------------

BAD = [
    ("/v1/search/text", {"query": ""}, 400, "query: empty"),
    ("/v1/search/text", {"query": "   "}, 400, "query: empty"),
    ("/v1/search/text", {"query": "x" * 10_000}, 400, "query: 10,000 characters, over the 1,000 limit"),
    ("/v1/search/text", {"query": 5}, 400, "query: Input should be a valid string"),
    ("/v1/search/text", {"q": "paris"}, 400, "query: Field required"),
    ("/v1/search/text", {"query": "paris", "k": 0}, 400, "k=0: ask for 1 to 50 hits"),
    ("/v1/search/text", {"query": "paris", "k": 10_000}, 400, "k=10000"),
    ("/v1/search/image", {"image": b64(b"hello, not an image")}, 400, "not an image file"),
    ("/v1/search/image", {"image": "data:image/png;base64,%%%"}, 400, "invalid base64"),
    ("/v1/search/image", {"image": ""}, 400, "image: empty"),
    ("/v1/search/image", {"image": "http://example.org/a.png"}, 400, "URLs are not fetched"),
    ("/v1/search/image", {"image": "file:a.png,AAAA"}, 400, "expected base64 data or a data:image"),
    ("/v1/search/image", {"image": b64(png_header_only(20_000, 20_000))}, 400, "image is too large"),
    ("/v1/search/image", {"image": b64(png_header_only(8_000, 8_000))}, 400, "8000x8000, larger than the 40,000,000"),
    ("/v1/search/image", {"image": b64(png_header_only(1, 1))}, 400, "1x1, too small"),
    ("/v1/search/image", {"image": b64(b"A" * 250_000)}, 400, "not an image file"),
    ("/v1/search/image", {"image": "A" * 420_000}, 413, "over the 300,000-byte limit"),
    ("/v1/ground", {"image": "", "expression": "left", "box": [0, 0, 5, 5]}, 400, "exactly one of"),
    ("/v1/ground", {"image": ""}, 400, "exactly one of"),
    ("/v1/ground", {"image": "x", "box": [1, 2, 3]}, 400, "box: expected [x0, y0, x1, y1], got 3 numbers"),
    ("/v1/ground", {"image": "x", "expression": " "}, 400, "expression: empty"),
    ("/v1/ground", {"image": "x", "expression": "y" * 301}, 400, "over the 300-character limit"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD, ids=[f"{p}-{m[:24]}" for p, _, _, m in BAD])
def test_bad_input(http, path, body, status, message):
    response = http.post(path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert response.json()["type"] in ("bad_request", "too_large")


def test_truncated_png(http, composite):
    data = png_bytes(composite)
    response = http.post("/v1/search/image", json={"image": b64(data[: len(data) // 2])})
    assert response.status_code == 400 and "truncated" in response.json()["error"]


@pytest.mark.parametrize(
    ("box", "message"),
    [([5000, 5000, 6000, 6000], "lies outside the 384x112 image"), ([50, 50, 10, 10], "empty or inverted")],
)
def test_box_outside_the_image(http, composite, box, message):
    response = http.post("/v1/ground", json={"image": to_data_url(composite), "box": box})
    assert response.status_code == 400 and message in response.json()["error"]


def test_grounding_failure_is_422(http, composite):
    response = http.post("/v1/ground", json={"image": to_data_url(composite), "expression": "the fifth flag"})
    assert response.status_code == 422
    assert response.json() == {"error": "'the fifth flag': the image has only 3 objects", "type": "tool_error"}


def test_oversized_body_is_refused_before_parsing(http, url):
    big = json.dumps({"image": "A" * (LIMITS.max_body_bytes + 10)})
    response = http.post("/v1/search/image", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["type"] == "too_large"

    def chunks():  # no Content-Length: the limit counts streamed bytes
        for _ in range(LIMITS.max_body_bytes // 65_536 + 2):
            yield b"A" * 65_536

    response = httpx.post(f"{url}/v1/search/image", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_malformed_json(http):
    response = http.post("/v1/search/text", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]


# --- the client backends --------------------------------------------------------------------------------------------


def test_remote_backends_match_in_process(url, toolset, composite, world):
    client = RemoteClient(url)
    assert RemoteTextSearch(client).search("capital of Japan", 5) == toolset.text_search.search("capital of Japan", 5)
    flag = world.flag("Ukraine")
    assert RemoteImageSearch(client).search(flag, 3) == toolset.image_search.search(flag, 3)
    for expression in ("the flag on the left", "the black flag", "second from the right"):
        assert RemoteGrounder(client).ground(composite, expression) == toolset.grounder.ground(composite, expression)
    assert client.health()["status"] == "ok"


def test_remote_errors_are_tool_errors(url, composite):
    client = RemoteClient(url)
    with pytest.raises(ToolError, match="query: empty"):
        RemoteTextSearch(client).search("", 5)
    with pytest.raises(ToolError, match="only 3 objects"):
        RemoteGrounder(client).ground(composite, "the fifth flag")
    with pytest.raises(ToolError, match="too small"):
        RemoteImageSearch(client).search(Image.new("RGB", (1, 1)), 5)


def test_server_down_is_tool_error_after_retries():
    dead = RemoteClient("http://127.0.0.1:9", backoff=Backoff(attempts=2, initial=0.01))
    with pytest.raises(ToolError, match="failed after 2 tries: connection failed"):
        RemoteTextSearch(dead).search("paris", 5)


def test_graph_runs_on_the_remote_toolset(url, tmp_path, demo_path):
    graph = build_graph(ScriptedPolicy(DEMO_SCRIPT), remote_toolset(url, crop_dir=str(tmp_path / "crops")))
    inputs = {"question": DEMO_QUESTION, "image": make_ref(str(demo_path), open_image(str(demo_path)))}
    out = graph.invoke(inputs, context=RunConfig(max_turns=6))
    assert out["answer"] == "Paris"
    assert out["observations"][1]["hits"][0]["title"] == "Flag of France"


def test_concurrent_clients(url, composite):
    client = RemoteClient(url)
    errors: list[Exception] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                if (n + i) % 3 == 0:
                    RemoteGrounder(client).ground(composite, "the flag on the right")
                elif (n + i) % 3 == 1:
                    RemoteImageSearch(client).search(composite.crop((24, 24, 120, 88)), 5)
                else:
                    RemoteTextSearch(client).search(f"capital {n} {i}", 5)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- the CLI handler ------------------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deepmmsearch")
    serve_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_defaults_and_options():
    args = parse(["serve"])
    assert (args.host, args.port, args.world, args.concurrency) == ("127.0.0.1", 8765, "fixture", 1)
    assert args.handler is serve_cli.handle
    args = parse(["serve", "--port", "0", "--world", "runs/world", "--host", "127.0.0.1"])
    assert (args.port, args.world) == (0, "runs/world")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--world", "/no/such/world"], "no such world folder"),
        (["serve", "--port", "70000"], "is not a TCP port"),
        (["serve", "--concurrency", "0"], "must be ≥ 1"),
    ],
)
def test_cli_bad_arguments_exit_2(argv, message, capsys):
    args = parse(argv)
    assert args.handler(args) == serve_cli.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_cli_serves_until_stopped():
    proc = subprocess.Popen(
        [sys.executable, "-m", "world.serve_cli", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving fixture on http://127.0.0.1:"), line + proc.stderr.read()
        base = line.split()[3]
        for _ in range(100):
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.ConnectError:
                threading.Event().wait(0.05)
        assert health.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
