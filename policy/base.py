"""The policy interface every backend implements (transformers, vLLM, OpenAI-compatible, scripted).

A policy call receives the transcript in the transformers/TRL chat format plus the token ids of the trajectory so
far, and returns the new text together with the exact token ids it was conditioned on and produced. The graph never
re-tokenises text: it appends what the backend reports (see `graph.trace`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NotRequired, Protocol

from PIL import Image
from typing_extensions import TypedDict


class ContentPart(TypedDict):
    """One part of a message: `{"type": "image"}` or `{"type": "text", "text": ...}`."""

    type: Literal["text", "image"]
    text: NotRequired[str]


class ChatMessage(TypedDict):
    """A chat message in the transformers/TRL conversational format."""

    role: Literal["system", "user", "assistant"]
    content: list[ContentPart]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one turn."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    """0 means greedy."""
    top_p: float = 1.0


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a backend needs for one turn."""

    messages: list[ChatMessage]
    images: list[Image.Image]
    """The images the `{"type": "image"}` parts refer to, in order."""
    context_ids: list[int] = field(default_factory=list)
    """prompt_ids + completion_ids of the trajectory so far (empty on the first turn); the prompt must extend it."""
    params: SamplingParams = SamplingParams()


@dataclass(frozen=True)
class Generation:
    """One turn's output with its token-level record."""

    text: str
    """The decoded turn, without the end-of-turn token."""
    prompt_ids: list[int] = field(default_factory=list)
    """The full prompt the backend conditioned on; starts with the request's `context_ids`."""
    completion_ids: list[int] = field(default_factory=list)
    """The generated ids. A turn cut at a stop string or at `max_new_tokens` may lack the end-of-turn token (the HF
    backend forces it after a closing tag, vLLM does not); the next prompt then inserts it as environment tokens."""
    logprobs: list[float] = field(default_factory=list)
    """Behaviour-policy log-probability of each completion id."""

    @property
    def num_tokens(self) -> int:
        """Tokens this turn spent from the response budget (whitespace words when the backend has no tokenizer)."""
        return len(self.completion_ids) if self.completion_ids else len(self.text.split())


class Policy(Protocol):
    """Produces the next turn of the agent."""

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate one turn for `request`."""
        ...
