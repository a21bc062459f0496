"""A `RolloutOutcome` builder shared by the reward and monitor tests."""

from __future__ import annotations

from rl.rewards import RolloutOutcome


def outcome(**kw) -> RolloutOutcome:
    """A one-turn answered run with no tools, with `kw` changed."""
    base = dict(
        answer="x",
        stop_reason="answered",
        turns=1,
        valid_turns=1,
        tool_calls=0,
        image_searches=0,
        text_searches=0,
        crops=0,
        refused_calls=0,
        response_tokens=10,
    )
    return RolloutOutcome(**{**base, **kw})  # type: ignore[typeddict-item]
