"""The `reflect` node: hand the latest observation back to the policy and record what it changed.

It writes the environment's user turn (the paper's "after image search" / "after text search" templates around
`<information>`, or an error turn), and a `Reflection`: which sources are new, whether a text search refines an
earlier query, and which of the question's content words the evidence mentions. This is the paper's
self-reflection made explicit, so traces show why the agent searched again.
"""

from __future__ import annotations

import re

from langgraph.runtime import Runtime

from graph.context import RunConfig, run_config
from graph.state import AgentState, AgentUpdate, Observation, Reflection
from policy.base import ChatMessage
from policy.prompts import after_error, after_image_search, after_text_search

_WORD_RE = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its of on or the this that these those to "
    "was were what when where which who whom whose why with image picture photo shown here there".split()
)


def content_words(text: str) -> list[str]:
    """Lower-cased words of `text` that carry content, in order, without duplicates."""
    seen: dict[str, None] = {}
    for w in _WORD_RE.findall(text.lower()):
        if w not in STOPWORDS and len(w) > 1:
            seen.setdefault(w, None)
    return list(seen)


def information_text(obs: Observation) -> str:
    """What the model reads for an observation."""
    if obs["error"]:
        return obs["error"]
    if obs["tool"] == "crop":  # a successful crop goes on to image search; never shown on its own
        raise ValueError("reflect reached with a successful crop observation")
    return obs["text"]


def reflect_on(state: AgentState, obs: Observation) -> Reflection:
    """Compare the observation with the question and with the evidence gathered before it."""
    earlier = state["observations"][:-1]
    seen = {h["url"] for o in earlier for h in o["hits"]}
    urls = list(dict.fromkeys(h["url"] for h in obs["hits"]))
    new = [u for u in urls if u not in seen]
    repeated = [u for u in urls if u in seen]
    previous_queries = [o["query"] for o in earlier if o["tool"] == "text_search" and o["query"] and not o["error"]]
    refined_from = previous_queries[-1] if obs["tool"] == "text_search" and previous_queries else None
    terms = content_words(state["question"])
    evidence = set(content_words(obs["text"] + " " + " ".join(h["title"] for h in obs["hits"])))
    found = [t for t in terms if t in evidence]
    missing = [t for t in terms if t not in evidence]
    if obs["error"]:
        note = f"{obs['tool']} gave no evidence: {obs['error']}"
    else:
        what = f"{obs['tool'].replace('_', ' ')}" + (f" {obs['query']!r}" if obs["query"] else " (whole image)")
        refine = f", refining {refined_from!r}" if refined_from else ""
        note = (
            f"{what}{refine}: {len(new)} new source(s), {len(repeated)} seen before; "
            f"evidence mentions {found or 'none'} of the question's terms"
        )
    return Reflection(
        turn=obs["turn"],
        tool=obs["tool"],
        query=obs["query"],
        refined_from=refined_from,
        new_sources=new,
        repeated_sources=repeated,
        question_terms_found=found,
        question_terms_missing=missing,
        note=note,
    )


def reflect(state: AgentState, runtime: Runtime[RunConfig]) -> AgentUpdate:
    """Append the environment's reply (in the run's prompt style) to the transcript, and the reflection."""
    obs = state["observations"][-1]
    info = information_text(obs)
    style = run_config(runtime).style
    if obs["error"]:
        text = after_error(info, style)
    elif obs["tool"] == "image_search":
        text = after_image_search(info, style)
    else:
        text = after_text_search(info, style)
    return {
        "messages": [ChatMessage(role="user", content=[{"type": "text", "text": text}])],
        "reflections": [reflect_on(state, obs)],
        "pending": None,
    }
