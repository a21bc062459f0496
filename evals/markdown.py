"""Markdown output shared by the data card and the evaluation report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def markdown_table(header: list[str], rows: Iterable[list[Any]], text: int = 1) -> list[str]:
    """A markdown table as lines, then a blank line; the first `text` columns left-aligned, the rest right-aligned.

    A `|` inside a cell is escaped.
    """
    rule = "|" + " --- |" * text + " ---: |" * (len(header) - text)
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return [*lines, ""]
