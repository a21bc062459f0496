"""Backends over the fixture world (`world.fixture`): small, exact and deterministic, for tests and the demo.

- `FixtureTextSearch`: TF-IDF keyword ranking over the fixture pages.
- `FixtureImageSearch`: nearest neighbours of a 12×8 colour thumbnail (drawn flags are told apart by colour layout).
- `LayoutGrounder`: finds the objects on a plain-background composite and resolves position words
  ("left", "second from the left", "top-right", "middle", ordinals) to one of them.
- `ExtractiveSummarizer`: picks the hit sentences that share most words with the question (and the query).

They are not the frozen-web backends (BM25 over thousands of pages, a real image index): those come with `world`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Literal

import numpy as np
from PIL import Image

from tools.base import Box, Hit, ToolError, Toolset
from world.fixture import FixtureWorld, build_fixture_world

_WORD_RE = re.compile(r"[a-z0-9]+")
_SENT_RE = re.compile(r"(?<=[.!?])\s+")
MAX_QUERY_CHARS = 1000


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words."""
    return _WORD_RE.findall(text.lower())


class FixtureTextSearch:
    """TF-IDF keyword search over the fixture pages."""

    def __init__(self, world: FixtureWorld) -> None:
        self.pages = world.pages
        self.docs = [Counter(words(p.title + " " + p.text)) for p in self.pages]
        df = Counter(w for d in self.docs for w in d)
        self.idf = {w: math.log((1 + len(self.docs)) / (1 + n)) + 1 for w, n in df.items()}

    def search(self, query: str, k: int) -> list[Hit]:
        """Rank pages by summed TF-IDF of the query's words; pages sharing no word are not returned."""
        if not query.strip():
            raise ToolError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        q = set(words(query))
        scored = []
        for page, doc in zip(self.pages, self.docs, strict=True):
            s = sum(math.log1p(doc[w]) * self.idf[w] for w in q if w in doc)
            if s > 0:
                scored.append((s, page))
        scored.sort(key=lambda t: (-t[0], t[1].id))
        return [Hit(title=p.title, url=p.url, snippet=p.text, score=round(s, 4)) for s, p in scored[:k]]


def thumbnail_vector(image: Image.Image) -> np.ndarray:
    """A unit-norm 12×8 RGB thumbnail, centred: a colour-layout embedding that needs no weights."""
    v = np.asarray(image.convert("RGB").resize((12, 8), Image.Resampling.BILINEAR), dtype=np.float32).ravel() / 255.0
    v = v - v.mean()
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


class FixtureImageSearch:
    """Nearest-neighbour search over the fixture images by thumbnail similarity."""

    def __init__(self, world: FixtureWorld) -> None:
        self.images = world.images
        self.matrix = np.stack([thumbnail_vector(i.image) for i in self.images])

    def search(self, image: Image.Image, k: int) -> list[Hit]:
        """Return the `k` most similar images with their page."""
        scores = self.matrix @ thumbnail_vector(image)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Hit(
                title=self.images[i].title,
                url=self.images[i].page_url,
                snippet=self.images[i].description,
                score=round(float(scores[i]), 4),
                image_id=self.images[i].id,
            )
            for i in order
        ]


_ORDINALS = {
    "first": 0,
    "second": 1,
    "third": 2,
    "fourth": 3,
    "fifth": 4,
    "sixth": 5,
    "1st": 0,
    "2nd": 1,
    "3rd": 2,
    "4th": 3,
    "5th": 4,
    "6th": 5,
}


def find_objects(image: Image.Image, tolerance: int = 12) -> list[Box]:
    """Boxes of the objects on a plain background (the border colour), in reading order."""
    a = np.asarray(image.convert("RGB"), dtype=np.int16)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    colours, counts = np.unique(border, axis=0, return_counts=True)
    bg = colours[np.argmax(counts)]
    fg = np.abs(a - bg).max(axis=2) > tolerance
    boxes: list[Box] = []
    for x0, x1 in _runs(fg.any(axis=0)):
        for y0, y1 in _runs(fg[:, x0:x1].any(axis=1)):
            boxes.append((x0, y0, x1, y1))
    return sorted(boxes, key=lambda b: (b[1] // max(1, image.height // 3), b[0]))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(idx[i]), int(idx[i + 1])) for i in range(0, len(idx), 2) if idx[i + 1] - idx[i] >= 4]


class LayoutGrounder:
    """Resolve position words to one object on a composite; a single object is returned for any expression."""

    def ground(self, image: Image.Image, expression: str) -> Box:
        """Return the box `expression` refers to."""
        boxes = find_objects(image)
        if not boxes:
            raise ToolError(f"nothing in the image matches {expression!r}")
        if len(boxes) == 1:
            return boxes[0]
        ws = words(expression)
        by_x = sorted(boxes, key=lambda b: (b[0] + b[2]) / 2)
        by_y = sorted(boxes, key=lambda b: (b[1] + b[3]) / 2)
        for w in ws:
            if w in _ORDINALS:
                i = _ORDINALS[w]
                order = by_x[::-1] if "right" in ws else by_x
                if i >= len(order):
                    raise ToolError(f"{expression!r}: the image has only {len(order)} objects")
                return order[i]
        if "middle" in ws or "center" in ws or "centre" in ws:
            return by_x[len(by_x) // 2]
        horizontal = by_x[0] if "left" in ws else by_x[-1] if "right" in ws else None
        vertical = by_y[0] if "top" in ws or "upper" in ws else by_y[-1] if "bottom" in ws or "lower" in ws else None
        if horizontal and vertical:
            # a corner: the object closest to it
            cx = 0 if "left" in ws else image.width
            cy = 0 if "top" in ws or "upper" in ws else image.height
            return min(boxes, key=lambda b: abs((b[0] + b[2]) / 2 - cx) + abs((b[1] + b[3]) / 2 - cy))
        if horizontal or vertical:
            return horizontal or vertical  # type: ignore[return-value]
        raise ToolError(f"cannot tell which of the {len(boxes)} objects {expression!r} refers to; name its position")


class ExtractiveSummarizer:
    """Keep the hit sentences that share most content words with the question; no model needed."""

    def __init__(self, text_sentences: int = 12, image_sentences: int = 5) -> None:
        self.limits = {"text": text_sentences, "image": image_sentences}

    def summarize(self, question: str, hits: list[Hit], kind: Literal["text", "image"]) -> str:
        """Summarise hits as numbered lines of their most question-relevant sentences."""
        q = set(words(question))
        lines = []
        for rank, hit in enumerate(hits):
            sentences = [s for s in _SENT_RE.split(hit.snippet) if s.strip()]
            for pos, s in enumerate(sentences):
                overlap = len(q & set(words(s)))
                lines.append((-overlap, rank, pos, f"{hit.title}: {s.strip()}"))
        best = sorted(lines)[: self.limits[kind]]
        best.sort(key=lambda t: (t[1], t[2]))  # keep the hits' order so the summary reads naturally
        return " ".join(f"[{i + 1}] {text}" for i, (*_, text) in enumerate(best))


def fixture_toolset(world: FixtureWorld | None = None, crop_dir: str | None = None) -> Toolset:
    """A `Toolset` over the fixture world."""
    world = world or build_fixture_world()
    return Toolset(
        text_search=FixtureTextSearch(world),
        image_search=FixtureImageSearch(world),
        grounder=LayoutGrounder(),
        summarizer=ExtractiveSummarizer(),
        crop_dir=crop_dir,
    )
