"""Scripted mock HTTP APIs on 127.0.0.1 (Tavily `/search`, a Lens-style `/search`, OpenAI `/v1/chat/completions`).

Each request to a path consumes the next scripted `Reply` for it; when the script runs out the path's default
handler answers. Every request is recorded (path, headers, JSON body). Stdlib only; ephemeral port; stopped by the
context manager.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    delay_s: float = 0.0
    raw: bytes | None = None


@dataclass
class MockAPI:
    defaults: dict[str, Callable[[dict], Any]]
    script: dict[str, list[Reply]] = field(default_factory=dict)
    received: list[tuple[str, dict, dict]] = field(default_factory=list)
    url: str = ""

    def queue(self, path: str, *replies: Reply) -> None:
        self.script.setdefault(path, []).extend(replies)

    def calls(self, path: str) -> int:
        return sum(1 for p, _, _ in self.received if p == path)


def tavily_results(body: dict) -> dict:
    q = body.get("query", "")
    n = body.get("max_results") or 5
    return {
        "query": q,
        "answer": None,
        "images": [],
        "results": [
            {
                "title": f"Result {i} for {q}",
                "url": f"https://example.org/{i}",
                "content": f"Snippet {i} about {q}.",
                "score": round(0.9 - 0.1 * i, 2),
                "raw_content": None,
            }
            for i in range(n)
        ],
        "response_time": 0.01,
    }


def lens_results(body: dict) -> dict:
    assert body["image"].startswith("data:image/")
    return {
        "results": [
            {
                "title": f"Flag {i}",
                "url": f"https://example.org/flag/{i}",
                "description": f"A flag, number {i}.",
                "score": round(1 - 0.1 * i, 2),
            }
            for i in range(body.get("k", 5))
        ]
    }


def chat_reply(body: dict) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The capital of France is Paris."},
                "finish_reason": "stop",
            }
        ],
    }


@contextmanager
def mock_api(defaults: dict[str, Callable[[dict], Any]] | None = None) -> Iterator[MockAPI]:
    api = MockAPI(
        defaults=defaults
        or {"/search": tavily_results, "/lens/search": lens_results, "/v1/chat/completions": chat_reply}
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"{}")
            api.received.append((self.path, dict(self.headers), body))
            queue = api.script.get(self.path)
            reply = queue.pop(0) if queue else Reply(body=api.defaults[self.path](body))
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
