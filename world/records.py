"""The records of the frozen web: a page and an image, as sources produce them and the store keeps them.

Pages and image metadata are plain frozen dataclasses that serialise to one JSON object per line. An image's pixels
are not in the record: sources hand over a `Blob` (encoded bytes + file extension, made on demand so an incremental
build never renders what it already has) and the store writes the file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from world.facts import FactRecord


@dataclass(frozen=True)
class PageRecord:
    """A page of the frozen web."""

    id: str
    """Stable id, `<source>:<slug>`."""
    url: str
    """Canonical URL: the real page where one exists (Wikipedia, the Factbook), else `https://frozen.web/...`."""
    title: str
    text: str
    source: str
    """Name of the source loader that made it (`wikipedia`, `factbook`, …)."""
    licence: str

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> PageRecord:
        """Parse one JSON line."""
        return cls(**json.loads(line))


@dataclass(frozen=True)
class ImageRecord:
    """An image of the frozen web with the page it appears on."""

    id: str
    """Stable id, `<source>:<slug>`."""
    file: str
    """Path of the image file, relative to the world folder."""
    page_url: str
    """URL of the page the image belongs to (a `PageRecord.url` in the same world)."""
    title: str
    description: str
    source: str
    licence: str
    author: str = ""
    origin: str = ""
    """Where the pixels came from (package path or upstream URL), for attribution."""

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> ImageRecord:
        """Parse one JSON line."""
        return cls(**json.loads(line))


Blob = Callable[[], tuple[bytes, str]]
"""Makes an image file on demand: returns the encoded bytes and the extension (`"png"`, `"webp"`, …)."""


@dataclass(frozen=True)
class ImageItem:
    """What a source yields for an image: its record (with `file` left empty) and how to make its file."""

    record: ImageRecord
    blob: Blob


@dataclass(frozen=True)
class SourceOutput:
    """Everything one source contributes to a world."""

    pages: list[PageRecord]
    images: list[ImageItem]
    facts: list[FactRecord] = field(default_factory=list)
    """What the pages state and the images show (`world.facts`); checked against both when the part is written."""
