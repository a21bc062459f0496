"""The records of DeepMMSearchVQA: a question with its labels and gold chain, as one JSON line."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal

SearchType = Literal["none", "image", "text", "mixed"]
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class Hop:
    """One step of a question's gold chain: the tool that makes it, the query, and the page that holds the fact."""

    tool: Literal["image_search", "text_search"]
    query: str
    """The referring expression (or "<img>") for image search; the precise query for text search."""
    entity: str
    """Name of the entity the hop starts from (for image search: the entity the image shows)."""
    relation: str
    """"image" for identification, else the relation looked up."""
    value: str
    """What the hop yields: the entity's name for image search, the fact's value for text search."""
    page_url: str
    aliases: list[str] = field(default_factory=list)
    """Other written forms of `value` that count as finding it ("Turkey" for "Türkiye", "26,402,841 (2025 est.)")."""


@dataclass(frozen=True)
class Question:
    """A DeepMMSearchVQA question: image, text, answer and labels."""

    id: str
    split: Split
    question: str
    image: str
    """Path of the question image, relative to the dataset folder."""
    answer: str
    aliases: list[str] = field(default_factory=list)
    numeric: float | None = None
    tolerance: float = 0.0
    """Relative tolerance for numeric answers."""
    family: str = ""
    """Chain family, e.g. "flag>country>capital" or "visual:count"."""
    category: str = ""
    """Knowledge category (uniform sampling runs over these)."""
    search_type: SearchType = "none"
    hops: int = 0
    chain: list[Hop] = field(default_factory=list)
    target: str | None = None
    """Referring expression of the object the question is about in a composite; None for a single image."""
    box: list[int] | None = None
    """True box of that object."""
    answer_entity: str = ""
    """Split group of the question (the country, brand, … it is about): never shared across splits."""
    image_ids: list[str] = field(default_factory=list)
    """World images drawn in the question image (target first): never shared across splits."""

    @property
    def search_required(self) -> bool:
        """Whether the question needs a tool call."""
        return self.search_type != "none"

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Question:
        """Inverse of `to_dict`."""
        chain = [Hop(**h) for h in data.get("chain", [])]
        return cls(**{**data, "chain": chain})

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Question:
        """Parse one JSON line."""
        return cls.from_dict(json.loads(line))
