"""Helpers the source loaders share: slugs, URLs, reading files into blobs."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

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
