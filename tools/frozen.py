"""The frozen-web backends: text and image search over a world built by `world.build`.

    from tools.frozen import frozen_toolset
    tools = frozen_toolset("runs/world/full")        # the graph's offline tools over the full frozen web
    tools.text_search.search("capital of Nepal", k=5)

- `FrozenTextSearch`: BM25 (optionally hybrid with MiniLM) over the world's pages; hits carry the page title, URL
  and the passage that best matches the query.
- `FrozenImageSearch`: nearest neighbours of the query image among the world's images, with the embedder the world
  was indexed with; hits carry the image title, its description, its page URL and the image id.

Everything the agent can get wrong (an empty or huge query, a 1×1 or 20,000×20,000 image, an unknown id) raises
`ToolError` with a one-line message, which the graph turns into an observation.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tools.base import Hit, ToolError, Toolset
from tools.fixture import ExtractiveSummarizer, LayoutGrounder
from tools.images import MAX_PIXELS
from world.image_index import DescriptorEmbedder, Embedder, ImageIndex, IndexKind, flatten
from world.store import WorldError, WorldStore
from world.text_index import TextIndex, snippet, tokenize

MAX_QUERY_CHARS = 1000
MAX_K = 100
MIN_IMAGE_SIDE = 8
"""Smallest image side searched: below it there is nothing to describe."""
MAX_SNIPPET_CHARS = 320
TITLE_WORD_WEIGHT = 0.01
"""Weight, in snippet selection, of query words that are also in the page title: a tie-breaker only, since every
sentence of a page is about its title entity and a long name ("Saint Helena, Ascension and Tristan da Cunha") must
not outweigh the word that says which fact is wanted ("area")."""


def open_store(world_dir: str | Path) -> WorldStore:
    """Load a built world's pages and image records.

    Raises:
        ValueError: `world_dir` is not a built world (the message says how to build one).
    """
    try:
        return WorldStore.load(Path(world_dir))
    except WorldError as exc:
        raise ValueError(str(exc)) from None


def _check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise ToolError(f"k={k} is out of range (1–{MAX_K})")
    return k


class FrozenTextSearch:
    """BM25 (or hybrid) search over the pages of a built world."""

    def __init__(self, store: WorldStore, index: TextIndex, max_query_chars: int = MAX_QUERY_CHARS) -> None:
        if index.n_docs != len(store.pages):
            raise ValueError(f"{store.root}: the text index has {index.n_docs} pages, the store {len(store.pages)}")
        self.store = store
        self.index = index
        self.max_query_chars = max_query_chars
        self._by_id = {p.id: p for p in store.pages}

    @classmethod
    def open(cls, world_dir: str | Path, hybrid: bool | None = None) -> FrozenTextSearch:
        """Load the world and its text index (`hybrid=None`: dense vectors if the world has them)."""
        store = open_store(world_dir)
        return cls(store, TextIndex.load(store.root / "index" / "text", hybrid=hybrid))

    def search(self, query: str, k: int) -> list[Hit]:
        """Return up to `k` pages for `query`, best first.

        Example:
            >>> FrozenTextSearch.open("runs/world/fixture").search("capital of Japan", 1)[0].title  # doctest: +SKIP
            'Japan'

        Raises:
            ToolError: the query is empty, longer than `max_query_chars`, or `k` is out of range.
        """
        _check_k(k)
        if not query.strip():
            raise ToolError("the query is empty")
        if len(query) > self.max_query_chars:
            raise ToolError(f"the query is {len(query)} characters long; the limit is {self.max_query_chars}")
        if not tokenize(query):
            raise ToolError(f"the query {query!r} has no searchable words")
        weights = self.index.idf(tokenize(query))
        hits = []
        for doc, score in self.index.search(query, k):
            page = self.store.pages[doc]
            # words of the page's own title (the entity) say little about which sentence holds the fact
            in_title = set(tokenize(page.title))
            local = {t: w * (TITLE_WORD_WEIGHT if t in in_title else 1.0) for t, w in weights.items()}
            text = snippet(page.text, query, MAX_SNIPPET_CHARS, local)
            hits.append(Hit(title=page.title, url=page.url, snippet=text, score=round(score, 4)))
        return hits

    def page(self, page_id: str) -> Hit:
        """The page with id `page_id` (or URL) as a hit with its full text.

        Raises:
            ToolError: no page has that id or URL.
        """
        page = self._by_id.get(page_id) or self.store.page(page_id)
        if page is None:
            raise ToolError(f"no page with id or URL {page_id!r}")
        return Hit(title=page.title, url=page.url, snippet=page.text, score=1.0)


class FrozenImageSearch:
    """Visual nearest-neighbour search over the images of a built world."""

    def __init__(self, store: WorldStore, index: ImageIndex, embedder: Embedder) -> None:
        if index.embedder != embedder.name:
            raise ValueError(
                f"{store.root}: the image index was built with {index.embedder!r}, not {embedder.name!r}; "
                "pass the same embedder or rebuild the world"
            )
        if len(index.vectors) != len(store.images):
            raise ValueError(
                f"{store.root}: the image index has {len(index.vectors)} rows, the store {len(store.images)} images"
            )
        self.store = store
        self.index = index
        self.embedder = embedder

    @classmethod
    def open(
        cls, world_dir: str | Path, embedder: Embedder | None = None, kind: IndexKind = "exact"
    ) -> FrozenImageSearch:
        """Load the world and its image index (`kind`: "exact" numpy search, or "hnsw" through FAISS)."""
        store = open_store(world_dir)
        return cls(store, ImageIndex.load(store.root / "index" / "image", kind=kind), embedder or DescriptorEmbedder())

    def search(self, image: Image.Image, k: int) -> list[Hit]:
        """Return up to `k` world images that look like `image`, best first, with their page.

        Raises:
            ToolError: the image is smaller than `MIN_IMAGE_SIDE` or larger than `tools.images.MAX_PIXELS`, or `k`
                is out of range.
        """
        _check_k(k)
        w, h = image.size
        if min(w, h) < MIN_IMAGE_SIDE:
            raise ToolError(f"the image is {w}x{h}; image search needs at least {MIN_IMAGE_SIDE} pixels a side")
        if w * h > MAX_PIXELS:
            raise ToolError(f"the image is {w}x{h}, larger than the {MAX_PIXELS:,}-pixel limit; crop it first")
        vector = self.embedder.embed([flatten(image)])[0]
        hits = []
        for i, score in self.index.search(vector, k):
            rec = self.store.images[i]
            desc = (
                rec.description
                if len(rec.description) <= MAX_SNIPPET_CHARS
                else (rec.description[: MAX_SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…")
            )
            hits.append(Hit(title=rec.title, url=rec.page_url, snippet=desc, score=round(score, 4), image_id=rec.id))
        return hits

    def image(self, image_id: str) -> Image.Image:
        """The pixels of the world image `image_id` (RGB).

        Raises:
            ToolError: no image has that id.
        """
        rec = self.store.image(image_id)
        if rec is None:
            raise ToolError(f"no image with id {image_id!r}")
        with Image.open(self.store.image_path(rec)) as img:
            return flatten(img)


def frozen_toolset(
    world_dir: str | Path,
    crop_dir: str | None = None,
    *,
    hybrid: bool | None = None,
    embedder: Embedder | None = None,
    index_kind: IndexKind = "exact",
    top_k: int = 5,
) -> Toolset:
    """A `Toolset` over a built world: frozen text and image search, the layout grounder, the extractive summariser.

    Args:
        world_dir: a folder made by `deepmmsearch world build`.
        crop_dir: where crops are written (None keeps them inline).
        hybrid: use the world's dense page vectors too (None: when it has them).
        embedder: the image embedder the world was indexed with (default: the weight-free descriptor).
        index_kind: "exact" (numpy) or "hnsw" (FAISS) image search.
        top_k: hits per search.

    Raises:
        ValueError: `world_dir` is not a built world, or its image index was built with another embedder.
    """
    store = open_store(world_dir)
    text = FrozenTextSearch(store, TextIndex.load(store.root / "index" / "text", hybrid=hybrid))
    image = FrozenImageSearch(
        store, ImageIndex.load(store.root / "index" / "image", kind=index_kind), embedder or DescriptorEmbedder()
    )
    return Toolset(
        text_search=text,
        image_search=image,
        grounder=LayoutGrounder(),
        summarizer=ExtractiveSummarizer(),
        crop_dir=crop_dir,
        top_k=top_k,
    )
