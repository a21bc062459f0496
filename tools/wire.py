"""The JSON bodies of the search server's HTTP API (`tools.server`) and its client (`tools.remote`).

    GET  /health                → {"status": "ok", "backends": {...}, "limits": {...}}
    POST /v1/search/text        {"query": "capital of France", "k": 5}               → SearchResponse
    POST /v1/search/image       {"image": "<data URL or base64>", "k": 5}            → SearchResponse
    POST /v1/ground             {"image": "...", "expression": "the flag on the left"} or {"image": "...",
                                 "box": [x0, y0, x1, y1]}                             → GroundResponse
    errors                      4xx/5xx → {"error": "<one line for people and the model>", "type": "..."}

Images travel as base64, with or without a `data:image/...;base64,` prefix; the client sends lossless PNG so the
server searches exactly the pixels the agent cropped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.base import Hit

ErrorType = Literal["bad_request", "too_large", "tool_error", "internal"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HitBody(BaseModel):
    """One search hit on the wire (mirrors `tools.base.Hit`)."""

    title: str
    url: str
    snippet: str
    score: float
    image_id: str | None = None

    @classmethod
    def of(cls, hit: Hit) -> HitBody:
        """The wire form of a hit."""
        return cls(title=hit.title, url=hit.url, snippet=hit.snippet, score=hit.score, image_id=hit.image_id)

    def hit(self) -> Hit:
        """Back to a `Hit`."""
        return Hit(title=self.title, url=self.url, snippet=self.snippet, score=self.score, image_id=self.image_id)


class TextSearchRequest(_Body):
    """POST /v1/search/text."""

    query: str
    k: int = 5


class ImageSearchRequest(_Body):
    """POST /v1/search/image."""

    image: str
    k: int = 5


class GroundRequest(_Body):
    """POST /v1/ground: exactly one of `expression` and `box`."""

    image: str
    expression: str | None = None
    box: list[int] | None = None


class SearchResponse(BaseModel):
    """Hits, best first."""

    hits: list[HitBody]


class GroundResponse(BaseModel):
    """The box on the image (clamped to it) and the image's size."""

    box: list[int]
    width: int
    height: int


class ErrorResponse(BaseModel):
    """Every error body."""

    error: str
    type: ErrorType
