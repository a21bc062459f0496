"""The `reason` node: one policy call, parsed into an action or a format error."""

from __future__ import annotations

from langgraph.runtime import Runtime

from graph.context import RunConfig, run_config
from graph.state import AgentState, AgentUpdate, Counters, Observation, TurnRecord, new_counters
from graph.trace import context_ids, empty_trace, extend_trace
from policy.base import ChatMessage, GenerationRequest, Policy, SamplingParams
from policy.prompts import initial_prompt
from policy.protocol import ParseError, action_to_dict, parse_step
from tools.images import open_image


def first_messages(question: str, prompt: str = "agent", style: str = "paper") -> list[ChatMessage]:
    """The transcript a run starts with: the image, then the initial prompt (`agent` or `direct`, in `style`)."""
    text = initial_prompt(question, prompt, style)
    return [ChatMessage(role="user", content=[{"type": "image"}, {"type": "text", "text": text}])]


class Reason:
    """Ask the policy for the next turn and parse it."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __call__(self, state: AgentState, runtime: Runtime[RunConfig]) -> AgentUpdate:
        """Run one policy turn; a malformed turn becomes a `format` observation."""
        ctx = run_config(runtime)
        started = "messages" in state and bool(state["messages"])
        if not state["question"].strip():
            raise ValueError("the question is empty")
        new: list[ChatMessage] = [] if started else first_messages(state["question"], ctx.prompt, ctx.style)
        counters: Counters = dict(state["counters"]) if started else new_counters()  # type: ignore[assignment]
        trace = state["trace"] if started else empty_trace()
        budget_left = ctx.max_response_tokens - counters["response_tokens"]
        gen = self.policy.generate(
            GenerationRequest(
                messages=(state["messages"] if started else []) + new,
                images=[open_image(state["image"]["uri"])],
                context_ids=context_ids(trace),
                params=SamplingParams(
                    max_new_tokens=min(ctx.max_new_tokens, budget_left), temperature=ctx.temperature, top_p=ctx.top_p
                ),
            )
        )
        counters["turns"] += 1
        counters["response_tokens"] += gen.num_tokens
        parsed = parse_step(gen.text)
        turn = counters["turns"]
        update: AgentUpdate = {
            "messages": [*new, ChatMessage(role="assistant", content=[{"type": "text", "text": gen.text}])],
            "trace": extend_trace(trace, gen),
        }
        if not started:
            update["images"] = [state["image"]]
        if isinstance(parsed, ParseError):
            counters["parse_errors"] += 1
            update["turns"] = [
                TurnRecord(
                    turn=turn,
                    output=gen.text,
                    reason=None,
                    action=None,
                    parse_error=parsed.kind,
                    num_tokens=gen.num_tokens,
                )
            ]
            update["observations"] = [
                Observation(
                    turn=turn,
                    tool="format",
                    query=None,
                    image_id=None,
                    box=None,
                    hits=[],
                    text="",
                    error=f"Invalid format: {parsed.message}",
                )
            ]
            update["pending"] = None
        else:
            action = action_to_dict(parsed.action)
            update["turns"] = [
                TurnRecord(
                    turn=turn,
                    output=gen.text,
                    reason=parsed.reason,
                    action=action,
                    parse_error=None,
                    num_tokens=gen.num_tokens,
                )
            ]
            update["pending"] = action
        update["counters"] = counters
        return update
