"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests; stdlib only.

Each POST to `/v1/chat/completions` consumes the next `Reply` of the script and is recorded (path, headers, JSON
body). A reply is a model output (the full text the "model" writes; the server applies the request's stop strings
like vLLM and OpenAI do, stripping the matched one), an HTTP error, or a delay (to trigger client timeouts).

With `vllm=True` the server behaves like a vLLM server asked for `return_token_ids`: it reports `stop_reason`, and
tokenises like a model with a prefix-preserving chat template — the `ByteChatTemplate` of `policy.scripted`
(UTF-8 bytes; each image part renders as `<image>`) — returning `prompt_token_ids`, `choices[0].token_ids` and one
logprob per sampled id. A turn that ends without a stop string ends with the template's end-of-turn marker, as a
model emitting its end-of-turn token would. With `vllm=False` it answers like OpenAI: text only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from policy.base import ChatMessage
from policy.scripted import ByteChatTemplate

LOGPROB = -0.25
"""The logprob the mock reports for every sampled id."""


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    text: str = ""
    """What the model writes (before stop strings are applied)."""
    status: int = 200
    error: str = "scripted error"
    retry_after: float | None = None
    """Value of a `Retry-After` header on an error reply."""
    delay_s: float = 0.0
    """Seconds to wait before answering."""


@dataclass
class Received:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def from_openai(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    """The server side of the conversion: chat-completions messages back to transformers-format messages."""
    out: list[ChatMessage] = []
    for m in messages:
        if isinstance(m["content"], str):
            content = [{"type": "text", "text": m["content"]}]
        else:
            content = [
                {"type": "image"} if p["type"] == "image_url" else {"type": "text", "text": p["text"]}
                for p in m["content"]
            ]
        out.append(ChatMessage(role=m["role"], content=content))
    return out


def apply_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """Cut `text` at the earliest stop string, like a server: (kept text, matched stop or None)."""
    hits = [(text.find(s), s) for s in stops if s in text]
    if not hits:
        return text, None
    at, stop = min(hits)
    return text[:at], stop


@dataclass
class MockOpenAI:
    """The server; use as a context manager. `url` is the API root to give `OpenAIChatPolicy`."""

    script: list[Reply]
    vllm: bool = True
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._template = ByteChatTemplate()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with mock._lock:
                    mock.received.append(Received(self.path, dict(self.headers), body))
                    reply = mock.script.pop(0) if mock.script else Reply(status=500, error="mock script exhausted")
                time.sleep(reply.delay_s)
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                elif reply.status != 200:
                    headers = {} if reply.retry_after is None else {"Retry-After": str(reply.retry_after)}
                    self._send(reply.status, {"error": {"message": reply.error, "type": "mock"}}, headers)
                else:
                    self._send(200, mock.completion(body, reply.text))

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (silence the default stderr log)
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def completion(self, body: dict[str, Any], output: str) -> dict[str, Any]:
        """The chat-completion object for one scripted model output."""
        text, stop = apply_stop(output, list(body.get("stop") or []))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": None,
        }
        answer: dict[str, Any] = {"id": "chatcmpl-mock", "object": "chat.completion", "model": body["model"]}
        if self.vllm:
            choice["stop_reason"] = stop
            sampled = self._template.encode(text + stop) if stop else self._template.completion(text)
            if body.get("logprobs"):
                choice["logprobs"] = {
                    "content": [{"token": f"token_id:{i}", "logprob": LOGPROB, "top_logprobs": []} for i in sampled]
                }
            if body.get("return_token_ids"):
                choice["token_ids"] = sampled
                prompt = self._template.render(from_openai(body["messages"]))
                answer["prompt_token_ids"] = self._template.encode(prompt)
        answer["choices"] = [choice]
        return answer

    def __enter__(self) -> MockOpenAI:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
