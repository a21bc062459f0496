"""Emoji from npm `openmoji`: colour SVGs with annotation, tags, group and author (CC BY-SA 4.0).

Skin-tone variants are left out (they repeat their base emoji), as are the `component` group and the `flags` group
(the world's country flags are the Factbook's; a second drawing of each would only make near-duplicates); everything
else (the landmarks, animals, food, objects and OpenMoji's own extras) gets a page and a rendered image.

Facts (kind "emoji", named by the capitalised annotation): the drawing as an `image` fact, its group and subgroup
as the page writes them ("animals nature", "animal mammal"). No emoji names a country: those are the skipped flags.
"""

from __future__ import annotations

import json
from pathlib import Path

from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import fact_maker, frozen_url, slugify, svg_blob
from world.sources.packages import Package

NAME = "emoji"
PACKAGE = Package("npm", "openmoji", "17.0.0")
LICENCE = "CC BY-SA 4.0 (OpenMoji)"
SKIP_GROUPS = frozenset({"component", "flags"})


def load(root: Path, limit: int | None = None) -> SourceOutput:
    """Read `openmoji.json`: one page and one rendered image per emoji.

    Args:
        root: the unpacked npm package.
        limit: keep only the first `limit` emoji (None keeps all).

    Returns:
        Emoji pages and images.
    """
    pkg = root / "package"
    entries = json.loads((pkg / "data" / "openmoji.json").read_text("utf-8"))
    kept = [e for e in entries if not e.get("skintone") and e["group"] not in SKIP_GROUPS][:limit]
    pages, images, facts = [], [], []
    for e in kept:
        svg = pkg / "color" / "svg" / f"{e['hexcode']}.svg"
        if not svg.is_file():
            continue
        slug = slugify(e["hexcode"])
        url = frozen_url(NAME, slug)
        name = e["annotation"][:1].upper() + e["annotation"][1:]
        tags = ", ".join(t for t in (e["tags"], e["openmoji_tags"]) if t)
        group = e["group"].replace("-", " ")
        sub = e["subgroups"].replace("-", " ")
        text = f"{name} is an emoji ({e['emoji']}, code {e['hexcode']}) in the group {group}, subgroup {sub}."
        if tags:
            text += f" Tags: {tags}."
        text += f" Drawn by {e['openmoji_author']} for OpenMoji."
        pages.append(PageRecord(f"{NAME}:{slug}", url, f"{name} (emoji)", text, NAME, LICENCE))
        record = ImageRecord(
            id=f"{NAME}:{slug}",
            file="",
            page_url=url,
            title=f"{name} (emoji)",
            description=f"The OpenMoji drawing of the {e['annotation']} emoji ({group}).",
            source=NAME,
            licence=LICENCE,
            author=e["openmoji_author"],
            origin=f"openmoji:color/svg/{e['hexcode']}.svg",
        )
        images.append(ImageItem(record, svg_blob(svg)))
        make = fact_maker(f"{NAME}:{slug}", name, "emoji")
        facts += [make("image", record.id, url), make("group", group, url), make("subgroup", sub, url)]
    return SourceOutput(pages=pages, images=images, facts=facts)
