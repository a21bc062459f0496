"""The paper's workflows (§4.1) as run configurations of the one agent graph, plus the RAG policy wrapper.

- `agent`: the policy uses the tools on demand (the prompt-based agent, or a trained one);
- `direct`: the direct-answer prompt, and every tool refused by the limits;
- `rag`: exactly two retrieval steps: a whole-image search the workflow makes itself, then one text search whose
  query the policy writes after reading the image-search summary, then the policy's answer.

All three run through the same graph, nodes and tools, so their numbers differ only by what the workflow allows.
"""

from __future__ import annotations

from typing import Literal

from graph.context import RunConfig
from policy.base import Generation, GenerationRequest, Policy

Workflow = Literal["agent", "direct", "rag"]
WORKFLOWS: tuple[Workflow, ...] = ("agent", "direct", "rag")
RAG_FIRST_TURN = (
    "<reason>The RAG workflow first searches the web with the whole image.</reason>\n<img_search><img></img_search>"
)


def workflow_config(
    workflow: Workflow,
    *,
    allow_crop: bool = True,
    max_text_searches: int | None = None,
    max_turns: int = 10,
    max_new_tokens: int = 512,
    max_format_errors: int | None = None,
) -> RunConfig:
    """The limits a workflow runs under.

    `allow_crop` and `max_text_searches` are the agent's ablation switches; `max_format_errors` stops a run after
    that many malformed turns in a row, in every workflow alike.

    Raises:
        ValueError: an unknown workflow.
    """
    if workflow == "agent":
        return RunConfig(
            max_turns=max_turns,
            max_new_tokens=max_new_tokens,
            max_format_errors=max_format_errors,
            allow_crop=allow_crop,
            max_text_searches=max_text_searches,
        )
    if workflow == "direct":
        return RunConfig(
            max_turns=max_turns,
            max_new_tokens=max_new_tokens,
            max_format_errors=max_format_errors,
            prompt="direct",
            max_image_searches=0,
            max_text_searches=0,
            allow_crop=False,
        )
    if workflow == "rag":
        return RunConfig(
            max_turns=max_turns,
            max_new_tokens=max_new_tokens,
            max_format_errors=max_format_errors,
            max_image_searches=1,
            max_text_searches=1,
            allow_crop=False,
        )
    raise ValueError(f"unknown workflow {workflow!r}; expected one of {WORKFLOWS}")


class RAGPolicy:
    """The RAG workflow's policy: the first turn (a whole-image search) is the workflow's, the rest the policy's.

    The scripted turn carries no token ids, so a model backend's trace starts at its own first turn, whose prompt
    already holds the image-search result.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def generate(self, request: GenerationRequest) -> Generation:
        """The fixed image search on the first turn; the wrapped policy afterwards."""
        if not any(m["role"] == "assistant" for m in request.messages):
            return Generation(text=RAG_FIRST_TURN)
        return self.policy.generate(request)
