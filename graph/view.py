"""Human-readable rendering of a run, step by step, with rich (used by the CLI while the graph streams)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

_COLOURS = {
    "reason": "cyan",
    "crop": "magenta",
    "image_search": "green",
    "text_search": "blue",
    "reflect": "yellow",
    "answer": "bold white",
}


def render_update(console: Console, node: str, update: dict[str, Any]) -> None:
    """Print what one node added to the state."""
    colour = _COLOURS.get(node, "white")
    body = Text()
    if node == "reason":
        for t in update.get("turns", []):
            body.append(f"turn {t['turn']}: ", style="bold")
            if t["parse_error"]:
                body.append(f"invalid format ({t['parse_error']})\n", style="red")
            body.append(t["output"])
    elif node == "reflect":
        for r in update.get("reflections", []):
            body.append(r["note"])
    elif node == "answer":
        body.append(f"{update['answer']}  ", style="bold")
        body.append(f"(stop: {update['stop_reason']})", style="dim")
    else:
        for o in update.get("observations", []):
            if o["query"]:
                body.append(f"query: {o['query']}\n", style="bold")
            if o["box"]:
                body.append(f"box: {o['box']} on the question image\n")
            if o["error"]:
                body.append(o["error"], style="red")
            for h in o["hits"]:
                body.append(f"  {h['score']:.3f}  {h['title']}  {h['url']}\n", style="dim")
            if o["text"]:
                body.append(o["text"])
    console.print(Panel(body, title=node, title_align="left", border_style=colour))


def progress_bar(disable: bool = False) -> Progress:
    """The progress bar of long jobs (data generation, evaluation): bar, done/total, elapsed and remaining time."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, disable=disable)
