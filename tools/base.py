"""Shared tool records and the backend interfaces every search/grounding implementation satisfies.

Records that live in the graph state (`ImageRef`) are JSON-serialisable TypedDicts so that checkpoints, streaming
and trajectory logs work unchanged. Records that stay inside one node (`Hit`, `ToolResult`) are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from PIL import Image
from typing_extensions import TypedDict

Box = tuple[int, int, int, int]
"""Pixel box `(x0, y0, x1, y1)` on the referenced image: x0 < x1, y0 < y1, x1/y1 exclusive."""


class ImageRef(TypedDict):
    """A reference to an image the agent has seen or made; never the pixels themselves."""

    id: str
    """Stable id: `"original"` for the question image, `"crop-<n>"` for crops."""
    uri: str
    """A local file path or a `data:image/...;base64,` URL."""
    width: int
    height: int
    parent: str | None
    """Id of the image this one was cut from, or None for the question image."""
    box: list[int] | None
    """The crop box on the parent image, `[x0, y0, x1, y1]`, or None."""


@dataclass(frozen=True)
class Hit:
    """One search result: a page for text search, an image with its page for image search."""

    title: str
    url: str
    snippet: str
    score: float
    image_id: str | None = None
    """Id of the matched image in the index (image search only)."""


class ToolError(Exception):
    """A failure the agent caused or the world caused (bad box, no hits, timeout): becomes an observation.

    Backends raise it with a message written for the model; the graph turns it into an error observation.
    """


@dataclass(frozen=True)
class ToolResult:
    """What one tool call produced: the text the model will read, the hits behind it, or an error."""

    tool: Literal["crop", "image_search", "text_search"]
    text: str = ""
    hits: tuple[Hit, ...] = ()
    error: str | None = None
    box: Box | None = None
    """The crop box on the original image (crop only)."""

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None


class TextSearchBackend(Protocol):
    """Searches pages by a free-text query."""

    def search(self, query: str, k: int) -> list[Hit]:
        """Return up to `k` hits, best first; raise `ToolError` for a query the backend cannot serve."""
        ...


class ImageSearchBackend(Protocol):
    """Searches images by an image (a Lens-style search: visually similar images with their page)."""

    def search(self, image: Image.Image, k: int) -> list[Hit]:
        """Return up to `k` hits, best first; raise `ToolError` for an image the backend cannot serve."""
        ...


class Grounder(Protocol):
    """Turns a referring expression into a box on an image."""

    def ground(self, image: Image.Image, expression: str) -> Box:
        """Return the pixel box of the region `expression` refers to; raise `ToolError` when nothing matches."""
        ...


class Summarizer(Protocol):
    """Condenses search hits into the text the policy reads (paper: an LLM summariser)."""

    def summarize(
        self,
        question: str,
        hits: list[Hit],
        kind: Literal["text", "image"],
        query: str = "",
        limit: int | None = None,
    ) -> str:
        """Summarise `hits` with respect to the original `question` (and the search `query` that found them).

        `limit` caps the summary's sentences (None: the summariser's own budget for `kind`).
        """
        ...


@dataclass
class Toolset:
    """The backends one graph uses; injected into `graph.build_graph` at build time."""

    text_search: TextSearchBackend
    image_search: ImageSearchBackend
    grounder: Grounder
    summarizer: Summarizer
    crop_dir: str | None = None
    """Folder where crops are written (they enter the state as `ImageRef`s); None keeps them inline as data URLs."""
    top_k: int = field(default=5, metadata={"help": "Hits per search (paper: 5)."})
