"""Extending a trajectory's token ids by the environment's new turn without re-tokenising earlier turns.

Every token-level backend (transformers, vLLM) builds a later turn's prompt the same way: render the transcript with
the chat template, cut the text right after the last assistant turn's content, tokenise only the suffix (end of
turn, the environment's user turn, the assistant header), and append it to the ids so far. The suffix starts with a
special token, and tokenizers split at special tokens first, so its ids are the ids a full re-tokenisation has there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from policy.base import ChatMessage

Render = Callable[[list[ChatMessage], bool], str]
"""`render(messages, add_generation_prompt)` with the model's chat template."""


def suffix_after_last_turn(render: Render, messages: list[ChatMessage]) -> tuple[str, int]:
    """The template text after the last assistant turn's content, and that turn's index in `messages`.

    Raises:
        ValueError: there is no assistant turn, or the template does not render the last assistant turn right after
            the generation prompt of the transcript before it (it is not prefix-preserving).
    """
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        raise ValueError("context_ids are given but the transcript has no assistant turn to extend")
    full = render(messages, True)
    head = render(messages[:last], True)
    content = "".join(p.get("text", "") for p in messages[last]["content"] if p["type"] == "text")
    cut = len(head) + len(content)
    if full[:cut] != head + content:
        raise ValueError(
            "the chat template does not render the last assistant turn right after the earlier turns' generation "
            "prompt, so the next prompt cannot extend the trajectory's ids (use a prefix-preserving template)"
        )
    return full[cut:], last


def extend_ids(context_ids: list[int], new_ids: list[int], end_of_turn_ids: Collection[int]) -> list[int]:
    """`context_ids + new_ids`, without a second end-of-turn when the model already ended its turn itself."""
    if new_ids and context_ids and new_ids[0] == context_ids[-1] and new_ids[0] in end_of_turn_ids:
        new_ids = new_ids[1:]
    return list(context_ids) + new_ids
