"""The tool nodes: `crop` (grounding → box → crop), `image_search` and `text_search`.

Each checks the run's limits first (a refusal is an observation), calls its backend, and records an `Observation`.
Backend failures, whether a `ToolError` or an unexpected exception from a live service, become error observations
so that one flaky call never kills a rollout; unexpected ones are logged with their traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from langgraph.runtime import Runtime

from graph.context import RunConfig, run_config
from graph.state import AgentState, AgentUpdate, Counters, HitRecord, Observation
from nodes.limits import refusal
from tools.base import Hit, ImageRef, ToolError, Toolset
from tools.images import ImageError, crop, open_image, save_crop

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    """A backend call that failed; `message` is written for the model."""

    message: str


def call_backend(name: str, fn: Callable[[], T]) -> T | Failed:
    """Run a backend call; return its value, or `Failed` with the reason if it failed."""
    try:
        return fn()
    except (ToolError, ImageError) as exc:
        return Failed(f"{name} failed: {exc}")
    except Exception as exc:  # a live backend's failure is the world's, not ours: observe it, log it, go on
        log.warning("%s backend raised", name, exc_info=True)
        return Failed(f"{name} failed: {type(exc).__name__}: {exc}")


def hit_records(hits: list[Hit]) -> list[HitRecord]:
    """Hits as state records."""
    return [HitRecord(title=h.title, url=h.url, snippet=h.snippet, score=h.score) for h in hits]


def _observation(state: AgentState, tool: str, **fields: object) -> Observation:
    base = dict(
        turn=state["counters"]["turns"], tool=tool, query=None, image_id=None, box=None, hits=[], text="", error=None
    )
    base.update(fields)
    return Observation(**base)  # type: ignore[typeddict-item]


def _refused(state: AgentState, ctx: RunConfig, tool: str) -> AgentUpdate | None:
    action = state["pending"]
    if action is None:
        raise ValueError(f"{tool} node reached with no pending action")
    why = refusal(action, state["counters"], ctx)
    if why is None:
        return None
    counters = Counters(**state["counters"])
    counters["refused_calls"] += 1
    return {"observations": [_observation(state, tool, query=action["text"] or None, error=why)], "counters": counters}


class Crop:
    """Ground the referring expression (or take the explicit box) and cut the crop out of the question image."""

    def __init__(self, tools: Toolset) -> None:
        self.tools = tools

    def __call__(self, state: AgentState, runtime: Runtime[RunConfig]) -> AgentUpdate:
        """Crop the question image; on failure record an error observation (routed straight to `reflect`)."""
        refused = _refused(state, run_config(runtime), "crop")
        if refused is not None:
            return refused
        action = state["pending"]
        assert action is not None  # checked by _refused
        counters = Counters(**state["counters"])
        counters["tool_calls"] += 1
        original = state["images"][0]
        image = open_image(original["uri"])
        box = action["box"]
        located = (
            (box[0], box[1], box[2], box[3])
            if box
            else call_backend("grounding", lambda: self.tools.grounder.ground(image, action["text"]))
        )
        if isinstance(located, Failed):
            obs = _observation(state, "crop", query=action["text"], error=located.message)
            return {"observations": [obs], "counters": counters}
        cut = call_backend("crop", lambda: crop(image, located))
        if isinstance(cut, Failed):
            obs = _observation(state, "crop", query=action["text"] or None, box=list(located), error=cut.message)
            return {"observations": [obs], "counters": counters}
        piece, clamped = cut
        counters["crops"] += 1
        ref = save_crop(piece, original, clamped, counters["crops"], self.tools.crop_dir)
        return {
            "images": [ref],
            "counters": counters,
            "observations": [
                _observation(state, "crop", query=action["text"] or None, image_id=ref["id"], box=list(clamped))
            ],
        }


class ImageSearch:
    """Search by the latest crop (after `crop`) or by the whole question image, then summarise the hits."""

    def __init__(self, tools: Toolset) -> None:
        self.tools = tools

    def __call__(self, state: AgentState, runtime: Runtime[RunConfig]) -> AgentUpdate:
        """Run one image search."""
        action = state["pending"]
        whole = action is not None and not action["text"] and not action["box"]
        counters = Counters(**state["counters"])
        if whole:  # a cropped search was already counted and limit-checked by `crop`
            refused = _refused(state, run_config(runtime), "image_search")
            if refused is not None:
                return refused
            counters["tool_calls"] += 1
        target: ImageRef = state["images"][0] if whole else state["images"][-1]
        counters["image_searches"] += 1
        query = None if whole else action["text"] if action else None
        box = None if whole else target["box"]
        hits = call_backend(
            "image search", lambda: self.tools.image_search.search(open_image(target["uri"]), self.tools.top_k)
        )
        if isinstance(hits, Failed):
            obs = _observation(state, "image_search", query=query, image_id=target["id"], box=box, error=hits.message)
            return {"observations": [obs], "counters": counters}
        if not hits:
            obs = _observation(
                state,
                "image_search",
                query=query,
                image_id=target["id"],
                box=box,
                error="Image search found no similar images.",
            )
            return {"observations": [obs], "counters": counters}
        limit = run_config(runtime).image_sentences
        summary = call_backend(
            "summariser", lambda: self.tools.summarizer.summarize(state["question"], hits, "image", limit=limit)
        )
        obs = _observation(
            state,
            "image_search",
            query=query,
            image_id=target["id"],
            box=box,
            hits=hit_records(hits),
            text="" if isinstance(summary, Failed) else summary,
            error=summary.message if isinstance(summary, Failed) else None,
        )
        return {"observations": [obs], "counters": counters}


class TextSearch:
    """Search pages by the model's query, then summarise the hits with respect to the original question."""

    def __init__(self, tools: Toolset) -> None:
        self.tools = tools

    def __call__(self, state: AgentState, runtime: Runtime[RunConfig]) -> AgentUpdate:
        """Run one text search."""
        refused = _refused(state, run_config(runtime), "text_search")
        if refused is not None:
            return refused
        action = state["pending"]
        assert action is not None  # checked by _refused
        query = action["text"]
        counters = Counters(**state["counters"])
        counters["tool_calls"] += 1
        counters["text_searches"] += 1
        hits = call_backend("text search", lambda: self.tools.text_search.search(query, self.tools.top_k))
        if isinstance(hits, Failed) or not hits:
            error = hits.message if isinstance(hits, Failed) else f"Text search found nothing for {query!r}."
            return {
                "observations": [_observation(state, "text_search", query=query, error=error)],
                "counters": counters,
            }
        limit = run_config(runtime).text_sentences
        summary = call_backend(
            "summariser",
            lambda: self.tools.summarizer.summarize(state["question"], hits, "text", query=query, limit=limit),
        )
        obs = _observation(
            state,
            "text_search",
            query=query,
            hits=hit_records(hits),
            text="" if isinstance(summary, Failed) else summary,
            error=summary.message if isinstance(summary, Failed) else None,
        )
        return {"observations": [obs], "counters": counters}
