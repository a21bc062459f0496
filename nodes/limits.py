"""Whether a tool call is allowed under the run's limits and switches; a refusal is an observation, not an error."""

from __future__ import annotations

from graph.context import RunConfig
from graph.state import Counters
from policy.protocol import ActionDict


def refusal(action: ActionDict, counters: Counters, ctx: RunConfig) -> str | None:
    """Return why `action` may not run now, written for the model, or None if it may."""
    if counters["tool_calls"] >= ctx.max_tool_calls:
        return f"Tool-call limit reached ({ctx.max_tool_calls} calls). Answer now with what you know."
    if action["kind"] == "img_search":
        if ctx.max_image_searches == 0:
            return "Image search is not available in this run. Answer with what you know."
        if counters["image_searches"] >= ctx.max_image_searches:
            return (
                f"Image search may be used only {ctx.max_image_searches} time(s) and was already used. "
                "Use <text_search> or answer."
            )
        if not ctx.allow_crop and (action["text"] or action["box"]):
            return (
                "Cropped image search is disabled in this run. "
                "Search the whole image with <img_search><img></img_search>."
            )
    if action["kind"] == "text_search" and ctx.max_text_searches is not None:
        if ctx.max_text_searches == 0:
            return "Text search is not available in this run. Answer with what you know."
        if counters["text_searches"] >= ctx.max_text_searches:
            return f"Text search may be used only {ctx.max_text_searches} time(s) in this run. Answer now."
    return None
