"""Backends over the fixture world (`world.fixture`): small, exact and deterministic, for tests and the demo.

- `FixtureTextSearch`: TF-IDF keyword ranking over the fixture pages.
- `FixtureImageSearch`: nearest neighbours of a 12×8 colour thumbnail (drawn flags are told apart by colour layout).
- `LayoutGrounder` (= `tools.grounding.CompositeGrounder`): finds the objects on a composite and resolves positions,
  ordinals, colours and sizes to one of them.
- `ExtractiveSummarizer` (from `tools.summarize`): the question-conditioned extractive summariser.

They are not the frozen-web backends (BM25 over thousands of pages, a real image index): those come with `world`.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
from PIL import Image

from tools.base import Hit, ToolError, Toolset
from tools.grounding import CompositeGrounder
from tools.summarize import ExtractiveSummarizer
from world.fixture import FixtureWorld, build_fixture_world

__all__ = [
    "ExtractiveSummarizer",
    "FixtureImageSearch",
    "FixtureTextSearch",
    "LayoutGrounder",
    "fixture_toolset",
    "thumbnail_vector",
    "words",
]

LayoutGrounder = CompositeGrounder
"""The fixture world's grounder; kept under its first name for existing imports."""

_WORD_RE = re.compile(r"[a-z0-9]+")
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
