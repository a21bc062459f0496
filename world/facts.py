"""Structured facts of the frozen web: what question synthesis chains over, each tied to the page that states it.

Pages are free text for the search engine; synthesis needs to know *which* entity an image shows and *which* value
a page gives for a relation, so every source also emits `FactRecord`s. Two kinds of fact:

- `relation == "image"`: `value` is the id of an image that shows the entity (a flag, a logo, a photo, a map);
- any other relation (`capital`, `currency`, `population`, `country`, `continent`, `colour`, …): `value` is the
  answer text, and it occurs verbatim in the text of the page at `page_url` (tested), so a search can find it.

Entities of different sources are joined by normalised name (`norm_name`) over `name` and `aliases`: the Factbook's
flag of "France" and the country page of "France" are one entity to synthesis.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FactRecord:
    """One fact about one entity."""

    entity: str
    """Entity id within its source, `<source>:<slug>`."""
    name: str
    """The entity's display name as pages write it ("France", "Bavaria", "Eiffel Tower")."""
    kind: str
    """What the entity is: country, division, monument, animal, brand, emoji."""
    relation: str
    value: str
    page_url: str
    """The page that states the fact (for `image` facts: the image's page)."""
    aliases: list[str] = field(default_factory=list)
    """Other names of the entity (joins across sources, accepted answers when the entity is the answer)."""
    value_aliases: list[str] = field(default_factory=list)
    """Other accepted forms of `value` ("Washington, D.C." for "Washington, DC")."""
    numeric: float | None = None
    """The value as a number where the relation is numeric (population, area); judges allow a tolerance."""

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> FactRecord:
        """Parse one JSON line."""
        return cls(**json.loads(line))


def norm_name(name: str) -> str:
    """Join key of an entity name: ASCII, lower case, words only, a leading "the" dropped."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    if words and words[0] == "the":
        words = words[1:]
    return " ".join(words)
