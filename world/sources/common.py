"""Helpers the source loaders share: slugs, URLs, reading files into blobs, making facts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from world.facts import FactRecord, norm_name
from world.records import Blob

FROZEN_HOST = "https://frozen.web"


def slugify(text: str) -> str:
    """ASCII lower-case slug of letters, digits and dashes (`"Côte d'Ivoire"` → `"cote-d-ivoire"`)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"


def wiki_url(title: str) -> str:
    """The English Wikipedia URL of an article title."""
    return "https://en.wikipedia.org/wiki/" + quote(title.replace(" ", "_"), safe="()_,'-.:")


def frozen_url(source: str, slug: str) -> str:
    """URL of a page that has no canonical home on the web: `https://frozen.web/<source>/<slug>`."""
    return f"{FROZEN_HOST}/{source}/{slug}"


def file_blob(path: Path) -> Blob:
    """A blob that reads an image file as it is (no re-encoding), keeping its extension."""

    def blob() -> tuple[bytes, str]:
        return path.read_bytes(), path.suffix.lstrip(".").lower()

    return blob


def svg_blob(path: Path, fill: str | None = None, long_side: int = 256) -> Blob:
    """A blob that renders an SVG file to PNG; `fill` sets the colour of monochrome icons without one."""

    def blob() -> tuple[bytes, str]:
        from world.sources.svg import render_svg

        svg = path.read_text(encoding="utf-8")
        if fill is not None:
            svg = svg.replace("<svg ", f'<svg fill="{fill}" ', 1)
        return render_svg(svg, long_side=long_side), "png"

    return blob


def bytes_blob(data: bytes, ext: str) -> Blob:
    """A blob over bytes already in memory."""

    def blob() -> tuple[bytes, str]:
        return data, ext

    return blob


class FactMaker(Protocol):
    """Makes one fact of the entity it was made for (`fact_maker`)."""

    def __call__(
        self, relation: str, value: str, page_url: str, value_aliases: Iterable[str] = (), numeric: float | None = None
    ) -> FactRecord:
        """The fact `relation` = `value`, stated on the page at `page_url`."""
        ...


def fact_maker(entity: str, name: str, kind: str, aliases: Iterable[str] = ()) -> FactMaker:
    """A maker of one entity's facts, so a loader states the entity (id, name, kind, aliases) once, not per fact."""
    alias_list = name_aliases(name, aliases)

    def make(
        relation: str, value: str, page_url: str, value_aliases: Iterable[str] = (), numeric: float | None = None
    ) -> FactRecord:
        others = [v for v in dict.fromkeys(value_aliases) if v and v != value]
        return FactRecord(entity, name, kind, relation, value, page_url, list(alias_list), others, numeric)

    return make


def name_aliases(name: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that add a join key to `name`: in order, each normalised name once, none empty.

    A name in a script `norm_name` cannot spell (Cyrillic, Han, IPA, …) normalises to "" or to a fragment, which
    would join unrelated entities; it is dropped rather than kept as an accepted answer nobody can type.
    """
    seen = {norm_name(name)}
    out = []
    for alias in candidates:
        key = norm_name(alias)
        if key and key not in seen and _latin(alias):
            seen.add(key)
            out.append(alias.strip())
    return out


def _latin(text: str) -> bool:
    """Whether every letter of `text` is an ASCII letter once accents are taken off ("Côte" yes, "Føroyar" no)."""
    return all(ch.isascii() for ch in unicodedata.normalize("NFKD", text) if ch.isalpha())
