"""Pure routing functions: where the graph goes after `reason`, `crop` and `reflect`."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime

from graph.context import RunConfig, run_config
from graph.state import AgentState


def route_after_reason(
    state: AgentState, runtime: Runtime[RunConfig]
) -> Literal["answer", "crop", "image_search", "text_search", "reflect"]:
    """Run the chosen action; a format error goes to `reflect`; an exhausted token budget ends the run."""
    pending = state["pending"]
    if pending is not None and pending["kind"] == "answer":
        return "answer"
    if state["counters"]["response_tokens"] >= run_config(runtime).max_response_tokens:
        return "answer"
    if pending is None:
        if state["observations"] and state["observations"][-1]["tool"] == "format":
            return "reflect"
        raise ValueError("reason produced neither an action nor a format error")
    if pending["kind"] == "text_search":
        return "text_search"
    if pending["kind"] == "img_search":
        return "image_search" if not pending["text"] and not pending["box"] else "crop"
    raise ValueError(f"unknown action kind {pending['kind']!r}")


def route_after_crop(state: AgentState) -> Literal["image_search", "reflect"]:
    """Search the crop, or report the failed/refused crop."""
    return "reflect" if state["observations"][-1]["error"] else "image_search"


def trailing_format_errors(state: AgentState) -> int:
    """How many of the latest turns in a row were malformed (each malformed turn leaves a `format` observation)."""
    n = 0
    for obs in reversed(state["observations"]):
        if obs["tool"] != "format":
            break
        n += 1
    return n


def format_error_limit_reached(state: AgentState, ctx: RunConfig) -> bool:
    """True when the latest `ctx.max_format_errors` turns were all malformed (never when the limit is None)."""
    return ctx.max_format_errors is not None and trailing_format_errors(state) >= ctx.max_format_errors


def route_after_reflect(state: AgentState, runtime: Runtime[RunConfig]) -> Literal["reason", "answer"]:
    """Give the policy another turn unless the turn limit or the malformed-turn limit is reached."""
    ctx = run_config(runtime)
    if state["counters"]["turns"] >= ctx.max_turns or format_error_limit_reached(state, ctx):
        return "answer"
    return "reason"
