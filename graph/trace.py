"""Extending the token-level trace with one policy turn, without ever re-tokenising text.

The backend reports the full prompt it conditioned on; everything in it past the trajectory so far was inserted by
the environment (the tool-result user turn and the assistant header) and gets `env_mask` 0. The policy's own ids
get `env_mask` 1. A prompt that does not extend the trajectory is a backend bug and raises `TraceDriftError`.
"""

from __future__ import annotations

from graph.state import TokenTrace
from policy.base import Generation


class TraceDriftError(RuntimeError):
    """The backend's prompt does not start with the trajectory's ids: its chat template is not prefix-preserving."""


def empty_trace() -> TokenTrace:
    """A trace with no tokens."""
    return TokenTrace(prompt_ids=[], completion_ids=[], logprobs=[], env_mask=[])


def context_ids(trace: TokenTrace) -> list[int]:
    """All ids of the trajectory so far, in order."""
    return trace["prompt_ids"] + trace["completion_ids"]


def extend_trace(trace: TokenTrace, gen: Generation) -> TokenTrace:
    """Return `trace` extended by one turn (a backend without token ids leaves it unchanged)."""
    if not gen.completion_ids:
        return trace
    if len(gen.logprobs) != len(gen.completion_ids):
        raise TraceDriftError(f"{len(gen.logprobs)} logprobs for {len(gen.completion_ids)} completion ids")
    if not trace["prompt_ids"]:
        return TokenTrace(
            prompt_ids=list(gen.prompt_ids),
            completion_ids=list(gen.completion_ids),
            logprobs=list(gen.logprobs),
            env_mask=[1] * len(gen.completion_ids),
        )
    so_far = context_ids(trace)
    if gen.prompt_ids[: len(so_far)] != so_far:
        mismatch = next((i for i, (a, b) in enumerate(zip(so_far, gen.prompt_ids, strict=False)) if a != b), None)
        raise TraceDriftError(
            f"prompt of {len(gen.prompt_ids)} ids does not extend the trajectory of {len(so_far)} ids "
            f"(first mismatch at {mismatch})"
        )
    inserted = gen.prompt_ids[len(so_far) :]
    return TokenTrace(
        prompt_ids=trace["prompt_ids"],
        completion_ids=trace["completion_ids"] + inserted + list(gen.completion_ids),
        logprobs=trace["logprobs"] + [0.0] * len(inserted) + list(gen.logprobs),
        env_mask=trace["env_mask"] + [0] * len(inserted) + [1] * len(gen.completion_ids),
    )
