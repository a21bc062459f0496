"""The agent's state: a JSON-serialisable TypedDict (transcript, images, counters, records, token trace).

Append-only fields use the `operator.add` reducer, so nodes return only what they add. A finished state is a
training row: `messages` is in the transformers/TRL chat format and `trace` holds the exact token ids.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, NotRequired

from typing_extensions import TypedDict

from policy.base import ChatMessage
from policy.protocol import ActionDict
from tools.base import ImageRef

StopReason = Literal["answered", "max_turns", "response_budget", "format_errors"]
ObservationTool = Literal["format", "crop", "image_search", "text_search"]


class Counters(TypedDict):
    """Running counts that the limits are checked against."""

    turns: int
    tool_calls: int
    image_searches: int
    text_searches: int
    crops: int
    parse_errors: int
    refused_calls: int
    """Calls refused because a limit or switch forbade them."""
    response_tokens: int


def new_counters() -> Counters:
    """All-zero counters for a new run."""
    return Counters(
        turns=0,
        tool_calls=0,
        image_searches=0,
        text_searches=0,
        crops=0,
        parse_errors=0,
        refused_calls=0,
        response_tokens=0,
    )


class TokenTrace(TypedDict):
    """Token-level record in TRL's `rollout_func` layout; never rebuilt from text."""

    prompt_ids: list[int]
    """The first turn's prompt."""
    completion_ids: list[int]
    """Everything after it: policy tokens and environment-inserted tokens, interleaved as they happened."""
    logprobs: list[float]
    """Behaviour log-probabilities aligned with `completion_ids` (0.0 for environment tokens)."""
    env_mask: list[int]
    """1 for policy tokens (trained on), 0 for environment tokens."""


class HitRecord(TypedDict):
    """A search hit as stored in the state."""

    title: str
    url: str
    snippet: str
    score: float


class TurnRecord(TypedDict):
    """One policy turn: what it wrote and how it parsed."""

    turn: int
    output: str
    reason: str | None
    action: ActionDict | None
    parse_error: str | None
    """The `ParseError.kind`, or None for a valid turn."""
    num_tokens: int


class Observation(TypedDict):
    """What the environment did in reply to a turn: a tool result, a refusal or a format error."""

    turn: int
    tool: ObservationTool
    query: str | None
    """Text query or referring expression; None for whole-image search."""
    image_id: str | None
    """The image searched (the original or a crop)."""
    box: list[int] | None
    hits: list[HitRecord]
    text: str
    """What the model reads inside <information>."""
    error: str | None


class Reflection(TypedDict):
    """The environment's check of new evidence against the question (the paper's self-reflection, made visible)."""

    turn: int
    tool: ObservationTool
    query: str | None
    refined_from: str | None
    """The previous text query when this text search refines it."""
    new_sources: list[str]
    repeated_sources: list[str]
    question_terms_found: list[str]
    question_terms_missing: list[str]
    note: str


class AgentInput(TypedDict):
    """What a caller provides: the question and the question image."""

    question: str
    image: ImageRef


class AgentState(AgentInput):
    """The full state of one run."""

    images: Annotated[list[ImageRef], operator.add]
    """The question image first, then every crop."""
    messages: Annotated[list[ChatMessage], operator.add]
    turns: Annotated[list[TurnRecord], operator.add]
    observations: Annotated[list[Observation], operator.add]
    reflections: Annotated[list[Reflection], operator.add]
    pending: ActionDict | None
    """The action of the last valid turn, waiting to run."""
    counters: Counters
    trace: TokenTrace
    answer: NotRequired[str]
    stop_reason: NotRequired[StopReason]


class AgentUpdate(TypedDict, total=False):
    """What a node may return: any subset of the state's keys."""

    images: list[ImageRef]
    messages: list[ChatMessage]
    turns: list[TurnRecord]
    observations: list[Observation]
    reflections: list[Reflection]
    pending: ActionDict | None
    counters: Counters
    trace: TokenTrace
    answer: str
    stop_reason: StopReason
