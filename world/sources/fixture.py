"""The fixture world as a source: `world.fixture`'s pages and drawn flags, plus a slice of the Factbook media.

It needs no network, so `build_world("fixture", ...)` runs in seconds for tests. When the CC0 Factbook media folder
is present (`../shared/data/factbook-media`), a dozen real flags and maps are added with short pages of their own, so
the fixture world also holds real images; without it the world is the drawn one alone.

Facts: every country has its flag (and map) as `image` facts, its capital, and for the drawn eight also population
and continent, each stated on the country's page.
"""

from __future__ import annotations

import io
from pathlib import Path

from world.facts import FactRecord
from world.fixture import COUNTRIES, build_fixture_world
from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import bytes_blob, fact_maker, file_blob, frozen_url, slugify

NAME = "fixture"
LICENCE = "CC0 1.0 (drawn for the project from the flags' public specifications)"
MEDIA_LICENCE = "CC0 1.0 (factbook/media)"
MEDIA_SLICE: dict[str, tuple[str, str]] = {
    "br": ("Brazil", "Brasilia"),
    "ca": ("Canada", "Ottawa"),
    "ch": ("China", "Beijing"),
    "in": ("India", "New Delhi"),
    "ks": ("South Korea", "Seoul"),
    "mx": ("Mexico", "Mexico City"),
    "np": ("Nepal", "Kathmandu"),
    "sf": ("South Africa", "Pretoria"),
    "sz": ("Switzerland", "Bern"),
    "tu": ("Turkey", "Ankara"),
    "uk": ("United Kingdom", "London"),
    "us": ("United States", "Washington, DC"),
}
"""GEC code → (country, capital) of the Factbook media included in the fixture world."""
CAPITAL_SPELLINGS = {"Washington, DC": ("Washington, D.C.",), "Brasilia": ("Brasília",)}
"""Other spellings of the slice's capitals, accepted as answers."""


def _png(image: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")  # type: ignore[attr-defined]
    return buf.getvalue()


def millions(text: str) -> float:
    """The number a fixture population gives ("5.3 million" → 5300000.0)."""
    number, unit = text.split()
    if unit != "million":
        raise ValueError(f"not a population in millions: {text!r}")
    return float(round(float(number) * 1_000_000))


def _drawn_facts(page_urls: dict[str, str]) -> list[FactRecord]:
    """The drawn countries' facts, from the same rows their pages are written from (`world.fixture.COUNTRIES`)."""
    facts = []
    for name, capital, population, continent, _ in COUNTRIES:
        slug = name.lower()
        make, url = fact_maker(f"{NAME}:{slugify(name)}", name, "country"), page_urls[name]
        facts += [
            make("image", f"{NAME}:flag-{slug}", url),
            make("capital", capital, url),
            make("population", population, url, numeric=millions(population)),
            make("continent", continent, url),
        ]
    return facts


def load(media: Path | None = None) -> SourceOutput:
    """The fixture pages and images.

    Args:
        media: the Factbook media folder; None (or a missing folder) leaves the real images out.

    Returns:
        The drawn world (16 pages, 8 flags) and, with `media`, 12 real flags, 12 maps and their pages.
    """
    fx = build_fixture_world()
    pages = [PageRecord(p.id.replace("page-", f"{NAME}:"), p.url, p.title, p.text, NAME, LICENCE) for p in fx.pages]
    images = [
        ImageItem(
            ImageRecord(
                id=i.id.replace("img-", f"{NAME}:"),
                file="",
                page_url=i.page_url,
                title=i.title,
                description=i.description,
                source=NAME,
                licence=LICENCE,
                author="deepmmsearch",
                origin="world.fixture.draw_flag",
            ),
            bytes_blob(_png(i.image), "png"),
        )
        for i in fx.images
    ]
    facts = _drawn_facts({p.title: p.url for p in pages})
    if media is None or not media.is_dir():
        return SourceOutput(pages=pages, images=images, facts=facts)
    for gec, (country, capital) in MEDIA_SLICE.items():
        url = frozen_url(NAME, f"factbook-{gec}")
        text = (
            f"{country} is a country whose capital is {capital}. The World Factbook shows the flag of {country} and "
            f"a labelled map of {country}."
        )
        pages.append(PageRecord(f"{NAME}:factbook-{gec}", url, country, text, NAME, MEDIA_LICENCE))
        make = fact_maker(f"{NAME}:{slugify(country)}", country, "country")
        facts.append(make("capital", capital, url, CAPITAL_SPELLINGS.get(capital, ())))
        for kind, title in (("flags", f"Flag of {country}"), ("maps", f"Map of {country}")):
            path = media / kind / f"{gec}.png"
            if not path.is_file():
                continue
            record = ImageRecord(
                id=f"{NAME}:{kind[:-1]}-{gec}",
                file="",
                page_url=url,
                title=title,
                description=f"{title}, from the CIA World Factbook.",
                source=NAME,
                licence=MEDIA_LICENCE,
                author="CIA World Factbook",
                origin=f"factbook/media:{kind}/{gec}.png",
            )
            images.append(ImageItem(record, file_blob(path)))
            facts.append(make("image", record.id, url))
    return SourceOutput(pages=pages, images=images, facts=facts)
