"""A policy behind any OpenAI-compatible chat-completions endpoint: a vLLM server, teacher models, judges.

`OpenAIChatPolicy` sends the transcript as a chat-completions request, with each `{"type": "image"}` part turned
into an `image_url` part holding the matching `request.images` entry as a base64 data URL, and turns the reply into
a `Generation`.

Stop strings. Every request stops on the action's closing tags (`ACTION_STOPS`). Servers strip the stop string from
the returned text (OpenAI always; vLLM unless `include_stop_str_in_output`), so the policy puts it back: the graph
parses `<answer>Paris</answer>`, not `<answer>Paris`. vLLM reports which stop string matched (`stop_reason`); other
servers only say `finish_reason: "stop"`, so there the policy closes the action tag that the text left open.

Token ids. With `token_ids=True` the request also asks for `logprobs` and vLLM's `return_token_ids` (vLLM >= 0.10.2),
and a vLLM server answers with the rendered prompt's ids (`prompt_token_ids`) and the sampled ids
(`choices[0].token_ids`). The `Generation` then carries prompt ids, completion ids and logprobs, and the graph
keeps a token-level trace. What that trace can and cannot promise:

- A turn cut by a stop string ends with the stop string's tokens, not with an end-of-turn token (the model never
  sampled one); the template's end-of-turn comes back as environment tokens at the start of the next prompt.
- The server re-renders the whole transcript with its chat template every turn, so the trace extends across
  turns only while re-tokenising the earlier assistant texts gives back the sampled ids. When it does not, the
  graph raises `graph.trace.TraceDriftError`. RL rollouts that must be token-exact by construction should use the
  vLLM engine backend (`policy.vllm.VLLMPolicy`), which extends the token ids itself.

A server that returns no token ids (OpenAI, most hosted APIs) gives text-only generations, and the graph keeps no
token trace for that run. Hosted APIs that reject unknown request fields need `token_ids=False`.

Retries: 408/409/429/5xx answers, timeouts and connection errors are retried with exponential backoff (honouring
`Retry-After`); other 4xx answers fail at once. Both end in `PolicyBackendError`, whose message names the model, the
endpoint and the server's own error text. The API key is sent only in the `Authorization` header and never appears
in reprs, logs or error messages.

Not covered: streaming, tool-calling APIs, `n > 1`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any

import httpx
from PIL import Image
from pydantic import BaseModel, ValidationError

from policy.base import ChatMessage, Generation, GenerationRequest
from policy.protocol import ACTION_TAGS
from tools.images import to_data_url

logger = logging.getLogger(__name__)

ACTION_STOPS: tuple[str, ...] = tuple(f"</{tag}>" for tag in ACTION_TAGS)
"""The action's closing tags: a turn is complete once one of them is written."""
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: timeouts, conflicts, rate limits and server-side failures."""
_MAX_ERROR_CHARS = 500


class PolicyBackendError(RuntimeError):
    """A policy backend failed: the server refused the request, kept failing, or answered something unusable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The last HTTP status, or None for timeouts, connection errors and malformed answers."""


class _Logprob(BaseModel):
    logprob: float


class _Logprobs(BaseModel):
    content: list[_Logprob] | None = None


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    """vLLM only: the stop string (or token id) that ended the turn; null when the model emitted end-of-turn."""
    logprobs: _Logprobs | None = None
    token_ids: list[int] | None = None
    """vLLM only (`return_token_ids`): the sampled ids."""


class _Completion(BaseModel):
    choices: list[_Choice]
    prompt_token_ids: list[int] | None = None
    """vLLM only (`return_token_ids`): the rendered prompt's ids, image placeholders expanded."""


def to_openai_messages(
    messages: Sequence[ChatMessage], images: Sequence[Image.Image], image_format: str = "PNG"
) -> list[dict[str, Any]]:
    """Convert transformers-format messages into chat-completions messages.

    Messages without images become plain strings (their text parts joined), which every server and chat template
    accepts; messages with images become lists of `text` and `image_url` parts in their original order.

    Args:
        messages: the transcript; each `{"type": "image"}` part refers to the next entry of `images`.
        images: the images the image parts refer to, in order.
        image_format: the PIL format of the data URLs (PNG is lossless; JPEG is smaller).

    Returns:
        The `messages` field of a chat-completions request.

    Raises:
        ValueError: the number of image parts differs from the number of images.
    """
    refs = sum(part["type"] == "image" for m in messages for part in m["content"])
    if refs != len(images):
        raise ValueError(f"the messages have {refs} image parts but the request has {len(images)} images")
    pending = iter(images)
    out: list[dict[str, Any]] = []
    for m in messages:
        if all(part["type"] == "text" for part in m["content"]):
            out.append({"role": m["role"], "content": "".join(part["text"] for part in m["content"])})
            continue
        parts: list[dict[str, Any]] = []
        for part in m["content"]:
            if part["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": to_data_url(next(pending), image_format)}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        out.append({"role": m["role"], "content": parts})
    return out


def restore_stop(
    text: str, finish_reason: str | None, stops: Sequence[str], stop_reason: int | str | EllipsisType | None = ...
) -> str:
    """Put back the stop string that the server stripped from `text`.

    Args:
        text: the returned assistant text.
        finish_reason: the choice's `finish_reason`.
        stops: the stop strings the request sent.
        stop_reason: vLLM's `stop_reason`: the matched stop string, or None when the model ended the turn itself;
            `...` for servers that do not report it, where the action tag left open tells which stop matched.

    Returns:
        `text` ending with the matched stop string, or unchanged when the turn did not stop on one.

    Example:
        >>> restore_stop("<reason>r</reason><answer>Paris", "stop", ACTION_STOPS)
        '<reason>r</reason><answer>Paris</answer>'
        >>> restore_stop("<reason>r</reason><answer>Paris", "stop", ACTION_STOPS, stop_reason=None)
        '<reason>r</reason><answer>Paris'
    """
    if finish_reason != "stop" or any(text.endswith(stop) for stop in stops):
        return text
    if stop_reason is not ...:
        return text + stop_reason if isinstance(stop_reason, str) and stop_reason in stops else text
    for stop in stops:
        if text.rfind("<" + stop[2:]) > text.rfind(stop):
            return text + stop
    return text


class OpenAIChatPolicy:
    """A `Policy` served by an OpenAI-compatible `/chat/completions` endpoint (see the module docstring).

    Example:
        >>> policy = OpenAIChatPolicy("http://127.0.0.1:8000/v1", "qwen2.5-vl-7b")  # doctest: +SKIP
        >>> build_graph(policy, tools).invoke(inputs, context=RunConfig())  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        extra_body: Mapping[str, Any] | None = None,
        token_ids: bool = True,
        stop: Sequence[str] = ACTION_STOPS,
        image_format: str = "PNG",
    ) -> None:
        """Create the policy; nothing is sent until the first `generate`.

        Args:
            base_url: the API root, e.g. `http://127.0.0.1:8000/v1` (requests go to `{base_url}/chat/completions`).
            model: the served model name (`--served-model-name` of `vllm serve`).
            api_key: sent as `Authorization: Bearer ...`; None for servers without authentication.
            timeout: seconds allowed for one HTTP request (connect, send, wait, read).
            max_retries: retries after the first attempt for retryable failures.
            backoff: seconds before the first retry; doubles on each further retry.
            max_backoff: the longest wait between two attempts, `Retry-After` included.
            extra_body: more request fields, merged last (e.g. `{"top_k": 20, "repetition_penalty": 1.0}` for vLLM).
            token_ids: ask for `logprobs` and vLLM's `return_token_ids`; False for servers that reject them.
            stop: stop strings; the action's closing tags by default.
            image_format: PIL format of the image data URLs.
        """
        if max_retries < 0:
            raise ValueError(f"max_retries={max_retries} must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.extra_body = dict(extra_body or {})
        self.token_ids = token_ids
        self.stop = tuple(stop)
        self.image_format = image_format
        self._has_key = bool(api_key)  # the key itself lives only in the client's headers
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        key = "'***'" if self._has_key else "None"
        return f"OpenAIChatPolicy(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAIChatPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for `request`."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request.messages, request.images, self.image_format),
            "max_tokens": request.params.max_new_tokens,
            "temperature": request.params.temperature,
            "top_p": request.params.top_p,
            "stop": list(self.stop),
        }
        if self.token_ids:
            body["logprobs"] = True
            body["return_token_ids"] = True
        body.update(self.extra_body)
        return body

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate one turn through the endpoint.

        Raises:
            PolicyBackendError: the server refused the request, kept failing, timed out, answered something that is
                not a chat completion, or stopped returning token ids in the middle of a traced trajectory.
        """
        return self._parse(self._post(self.payload(request)), request)

    def _describe(self, message: str) -> str:
        """`message` prefixed with the model and endpoint, with the API key masked should a server echo it."""
        auth = self._client.headers.get("authorization")
        if auth:
            message = message.replace(auth.removeprefix("Bearer "), "***")
        return f"{self.model} at {self.base_url}: {message}"

    def _fail(self, message: str, status: int | None = None) -> PolicyBackendError:
        return PolicyBackendError(self._describe(message), status)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            status: int | None = None
            try:
                response = self._client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                problem = f"no answer within the {self.timeout:g} s timeout"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise self._fail(f"the answer is not JSON: {response.text[:_MAX_ERROR_CHARS]!r}") from None
                problem = f"HTTP {status}: {_error_text(response)}"
                if status not in RETRY_STATUSES:
                    raise self._fail(problem, status)
                retry_after = _retry_after(response)
            if attempt == attempts:
                raise self._fail(f"gave up after {attempts} attempts; last: {problem}", status)
            backoff = self.backoff * 2 ** (attempt - 1)
            delay = min(self.max_backoff, backoff if retry_after is None else retry_after)
            logger.warning("%s; retry %d of %d in %.2f s", self._describe(problem), attempt, self.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _parse(self, body: dict[str, Any], request: GenerationRequest) -> Generation:
        try:
            completion = _Completion.model_validate(body)
        except ValidationError as exc:
            raise self._fail(f"the answer is not a chat completion: {exc}") from None
        if not completion.choices:
            raise self._fail("the answer has no choices")
        choice = completion.choices[0]
        stop_reason = choice.stop_reason if "stop_reason" in choice.model_fields_set else ...
        text = restore_stop(choice.message.content or "", choice.finish_reason, self.stop, stop_reason)
        prompt_ids, completion_ids = completion.prompt_token_ids, choice.token_ids
        if not (self.token_ids and prompt_ids and completion_ids):
            if request.context_ids:
                raise self._fail("the server returned no token ids in the middle of a traced trajectory")
            return Generation(text=text)
        content = choice.logprobs.content if choice.logprobs else None
        if content is None or len(content) != len(completion_ids):
            got = "no" if content is None else len(content)
            raise self._fail(f"{got} logprobs for {len(completion_ids)} completion token ids")
        return Generation(
            text=text,
            prompt_ids=prompt_ids,
            completion_ids=completion_ids,
            logprobs=[c.logprob for c in content],
        )


def _error_text(response: httpx.Response) -> str:
    """The server's own error message (OpenAI and vLLM shapes), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:_MAX_ERROR_CHARS] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:_MAX_ERROR_CHARS]
    return str(body)[:_MAX_ERROR_CHARS]


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for by a `Retry-After` header (numeric form only)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
