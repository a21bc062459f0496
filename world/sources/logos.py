"""Brand logos from npm `simple-icons`: 3,470 monochrome SVG icons with title, brand colour and source URL.

Each icon is rendered in its brand colour on white; its page gives the brand name, aliases, colour and where the
logo was taken from. The package is CC0; the trademarks remain with their owners (see the package's DISCLAIMER).

Facts (kind "brand", with the package's aliases): the logo as an `image` fact and the brand colour ("#FF0000").
"""

from __future__ import annotations

import json
from pathlib import Path

from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import fact_maker, frozen_url, svg_blob
from world.sources.packages import Package

NAME = "logos"
PACKAGE = Package("npm", "simple-icons", "16.37.0")
LICENCE = "CC0 1.0 (simple-icons); trademarks belong to their owners"


def _aliases(entry: dict) -> list[str]:
    aliases = entry.get("aliases", {})
    out = list(aliases.get("aka", []))
    out += [v for v in aliases.get("loc", {}).values()]
    out += [d["title"] for d in aliases.get("dup", [])]
    return out


def load(root: Path, limit: int | None = None) -> SourceOutput:
    """Read the icon list: one page and one rendered logo per brand.

    Args:
        root: the unpacked npm package.
        limit: keep only the first `limit` icons (None keeps all).

    Returns:
        Brand pages and their logos.
    """
    pkg = root / "package"
    entries = json.loads((pkg / "data" / "simple-icons.json").read_text("utf-8"))[:limit]
    pages, images, facts = [], [], []
    for e in entries:
        svg = pkg / "icons" / f"{e['slug']}.svg"
        if not svg.is_file():
            continue
        url = frozen_url(NAME, e["slug"])
        aliases = _aliases(e)
        text = f"{e['title']} is a brand whose logo is shown in its brand colour #{e['hex']}."
        if aliases:
            text += f" Also known as {', '.join(aliases)}."
        text += f" Logo source: {e['source']}."
        if "license" in e:
            text += f" Logo licence: {e['license'].get('type', 'custom')}."
        pages.append(PageRecord(f"{NAME}:{e['slug']}", url, f"{e['title']} logo", text, NAME, LICENCE))
        record = ImageRecord(
            id=f"{NAME}:{e['slug']}",
            file="",
            page_url=url,
            title=f"{e['title']} logo",
            description=f"The logo of {e['title']} in its brand colour #{e['hex']}.",
            source=NAME,
            licence=LICENCE,
            author=e["title"],
            origin=e["source"],
        )
        images.append(ImageItem(record, svg_blob(svg, fill=f"#{e['hex']}")))
        make = fact_maker(f"{NAME}:{e['slug']}", e["title"], "brand", aliases)
        facts += [make("image", record.id, url), make("colour", f"#{e['hex']}", url)]
    return SourceOutput(pages=pages, images=images, facts=facts)
