"""Sub-national divisions and their flags: Debian `kgeography-data` maps and pip `open-flags` SVGs.

KGeography's `.kgm` map files list divisions (states, provinces, regions, …) with their capital and flag PNG; every
division with a flag or a capital gets a page, and every flag an image. open-flags adds 348 sub-national flag SVGs
(USA, Canada, Mexico, Brazil, Russia, Indonesia, Germany, England, South Korea, Marshall Islands), rendered with
resvg. Near-duplicates are left out so that every flag is drawn once in the world: KGeography's continent and world
maps (their divisions are countries, whose flags come from the Factbook), and open-flags countries that KGeography
already covers. So is KGeography's map of the continents, whose "capitals" are their highest peaks. Licences:
KGeography GPL-2.0-or-later; open-flags GPL-3.0.

Facts (kind "division"): the flag as an `image` fact, the capital where the map gives one, and the country. A map's
own name is not always a country ("Andhra Pradesh", "USA", "Sweden by Counties"), so `KGEO_PLACES` says how the
page names the map's area and which country that is; the page states both.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import fact_maker, file_blob, frozen_url, slugify, svg_blob
from world.sources.packages import Package

KGEO = "kgeography"
KGEO_PACKAGE = Package("deb", "kgeography-data", "4:22.12.3-1")
KGEO_LICENCE = "GPL-2.0-or-later (KGeography)"
OPEN_FLAGS = "openflags"
OPEN_FLAGS_PACKAGE = Package("pip", "open-flags", "0.0.2")
OPEN_FLAGS_LICENCE = "GPL-3.0 (open-flags)"
OPEN_FLAGS_COVERED = frozenset({"usa", "canada", "germany", "brazil", "russia"})
"""open-flags countries whose divisions' flags KGeography already has."""
KGEO_SKIPPED_KINDS = frozenset({"Countries", "Continents"})
INDIAN_STATES = frozenset(
    {
        "andhrapradesh",
        "arunachalpradesh",
        "assam",
        "bihar",
        "chhattisgarh",
        "goa",
        "gujarat",
        "haryana",
        "himachal_pradesh",
        "jharkhand",
        "manipur",
        "sikkim",
        "tamilnadu",
        "tripura",
        "westbengal",
    }
)
"""KGeography maps of one Indian state's districts."""
KGEO_PLACES: dict[str, tuple[str, str | None]] = {
    "bosnia-herzegovina": ("Bosnia and Herzegovina", "Bosnia and Herzegovina"),
    "catalonia_comarques": ("Catalonia, Spain", "Spain"),
    "denmark_counties": ("Denmark (1970-2006)", "Denmark"),
    "great-britain_counties": ("Great Britain (historic counties)", "United Kingdom"),
    "ireland_provinces": ("Ireland", None),  # the island: Ulster lies partly in the United Kingdom
    "latvia": ("Latvia (before 2009)", "Latvia"),
    "netherlands": ("the Netherlands", "Netherlands"),
    "new-zealand": ("New Zealand", "New Zealand"),
    "portugal_provinces": ("Portugal (traditional provinces)", "Portugal"),
    "republic_of_ireland": ("Ireland", "Ireland"),
    "southkorea": ("South Korea", "South Korea"),
    "sri-lanka": ("Sri Lanka", "Sri Lanka"),
    "usa": ("the United States", "United States"),
    "virginia": ("Virginia, United States", "United States"),
    "waters_world-class": ("the world", None),
    "zaire2006": ("the Democratic Republic of the Congo", "Democratic Republic of the Congo"),
}
"""KGeography map → (how a page names its area, the country the area lies in), where the map's name is no country."""


def kgeo_place(stem: str, area: str) -> tuple[str, str | None]:
    """How a page names a KGeography map's area, and the country the area lies in (None when it is no country's).

    The map's name is the country itself once its qualifiers are off ("Albania (Districts)", "Sweden by
    Counties", "Portugal Districts"), except for the maps `KGEO_PLACES` and `INDIAN_STATES` name.
    """
    if stem in KGEO_PLACES:
        return KGEO_PLACES[stem]
    if stem in INDIAN_STATES:
        return f"{area}, India", "India"
    country = re.sub(r"\s*\(.*\)$|\s+by \w+$|\s+Districts$", "", area)
    return country, country


def _spellings(capital: str) -> list[str]:
    """Other accepted forms of a capital written with a gloss.

    "São Paulo (city)" → ["São Paulo"]; "Farg'ona (Fergana)" → ["Farg'ona", "Fergana"].
    """
    m = re.fullmatch(r"(.+?) \((.+)\)", capital)
    if m is None:
        return []
    return [m[1], m[2]] if m[2][:1].isupper() else [m[1]]


def _division_text(name: str, kind: str, area: str, country: str | None, capital: str | None, has_flag: bool) -> str:
    text = f"{name} is one of the {kind} of {area}."
    if country and country not in area:
        text += f" Country: {country}."
    if capital:
        text += f" The capital of {name} is {capital}."
    if has_flag:
        text += f" {name} has its own flag."
    return text


def load_kgeography(root: Path) -> SourceOutput:
    """Read every KGeography map: division pages and flag images.

    Args:
        root: the unpacked Debian package.

    Returns:
        Pages for divisions with a capital or a flag; one image per division flag.
    """
    base = root / "usr" / "share" / "kgeography"
    pages, images, facts, seen, flags_used = [], [], [], set(), set()
    for kgm in sorted(base.glob("*.kgm")):
        tree = ET.parse(kgm).getroot()
        area = (tree.findtext("name") or kgm.stem).strip()
        kind = (tree.findtext("divisionsName") or "divisions").strip()
        if kind in KGEO_SKIPPED_KINDS:
            continue
        kind = "districts" if kind == "District" else kind.lower()  # the Indian state maps say "District"
        where, country = kgeo_place(kgm.stem, area)
        for div in tree.iter("division"):
            name = (div.findtext("name") or "").strip()
            if not name or div.findtext("ignore") == "yes":
                continue
            capital = (div.findtext("capital") or "").strip() or None
            flag = (div.findtext("flag") or "").strip() or None
            flag_path = base / "flags" / flag if flag else None
            has_flag = flag_path is not None and flag_path.is_file() and flag not in flags_used
            if has_flag:
                flags_used.add(str(flag))
            if not (capital or has_flag):
                continue
            slug = f"{slugify(kgm.stem)}-{slugify(name)}"
            if slug in seen:
                continue
            seen.add(slug)
            url = frozen_url(KGEO, slug)
            title = f"{name} ({area})"
            text = _division_text(name, kind, where, country, capital, has_flag)
            pages.append(PageRecord(f"{KGEO}:{slug}", url, title, text, KGEO, KGEO_LICENCE))
            make = fact_maker(f"{KGEO}:{slug}", name, "division")
            facts += [make("capital", capital, url, _spellings(capital))] if capital else []
            facts += [make("country", country, url)] if country else []
            if has_flag and flag_path is not None:
                record = ImageRecord(
                    id=f"{KGEO}:flag-{slug}",
                    file="",
                    page_url=url,
                    title=f"Flag of {name}",
                    description=f"The flag of {name}, one of the {kind} of {where}.",
                    source=KGEO,
                    licence=KGEO_LICENCE,
                    author="KGeography contributors",
                    origin=f"kgeography-data:flags/{flag}",
                )
                images.append(ImageItem(record, file_blob(flag_path)))
                facts.append(make("image", record.id, url))
    return SourceOutput(pages=pages, images=images, facts=facts)


def load_open_flags(root: Path) -> SourceOutput:
    """Read the open-flags sub-national SVGs: a page and a rendered image per flag.

    Args:
        root: the unpacked wheel.

    Returns:
        One page and one image per flag.
    """
    pages, images, facts = [], [], []
    for svg in sorted((root / "open_flags" / "flags").glob("*/*.svg")):
        country, region = svg.parent.name, svg.stem
        if country in OPEN_FLAGS_COVERED:
            continue
        name = region.replace("-", " ").replace("_", " ").title()
        where = country.replace("-", " ").title()
        slug = f"{slugify(country)}-{slugify(region)}"
        url = frozen_url(OPEN_FLAGS, slug)
        text = f"Flag of {name}, a region of {where}. {name} is a sub-national division of {where}."
        page = PageRecord(
            f"{OPEN_FLAGS}:{slug}", url, f"Flag of {name} ({where})", text, OPEN_FLAGS, OPEN_FLAGS_LICENCE
        )
        pages.append(page)
        record = ImageRecord(
            id=f"{OPEN_FLAGS}:flag-{slug}",
            file="",
            page_url=url,
            title=f"Flag of {name} ({where})",
            description=f"The flag of {name}, a sub-national division of {where}.",
            source=OPEN_FLAGS,
            licence=OPEN_FLAGS_LICENCE,
            author="open-flags contributors",
            origin=f"open-flags:open_flags/flags/{country}/{svg.name}",
        )
        images.append(ImageItem(record, svg_blob(svg)))
        make = fact_maker(f"{OPEN_FLAGS}:{slug}", name, "division")
        facts += [make("image", record.id, url), make("country", where, url)]
    return SourceOutput(pages=pages, images=images, facts=facts)
