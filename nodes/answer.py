"""The `answer` node: the run's final answer and why it stopped."""

from __future__ import annotations

from langgraph.runtime import Runtime

from graph.context import RunConfig, run_config
from graph.routing import format_error_limit_reached
from graph.state import AgentState, AgentUpdate, StopReason
from policy.protocol import GIVE_UP_ANSWER


def answer(state: AgentState, runtime: Runtime[RunConfig]) -> AgentUpdate:
    """Take the policy's answer, or the give-up answer when a limit stopped the run first."""
    pending = state["pending"]
    if pending is not None and pending["kind"] == "answer":
        return {"answer": pending["text"], "stop_reason": "answered", "pending": None}
    ctx = run_config(runtime)
    reason: StopReason = "max_turns"
    if state["counters"]["response_tokens"] >= ctx.max_response_tokens:
        reason = "response_budget"
    elif state["counters"]["turns"] < ctx.max_turns and format_error_limit_reached(state, ctx):
        reason = "format_errors"
    return {"answer": GIVE_UP_ANSWER, "stop_reason": reason, "pending": None}
