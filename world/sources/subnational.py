"""Sub-national divisions and their flags: Debian `kgeography-data` maps and pip `open-flags` SVGs.

KGeography's `.kgm` map files list divisions (states, provinces, regions, …) with their capital and flag PNG; every
division with a flag or a capital gets a page, and every flag an image. open-flags adds 348 sub-national flag SVGs
(USA, Canada, Mexico, Brazil, Russia, Indonesia, Germany, England, South Korea, Marshall Islands), rendered with
resvg. Near-duplicates are left out so that every flag is drawn once in the world: KGeography's continent and world
maps (their divisions are countries, whose flags come from the Factbook), and open-flags countries that KGeography
already covers. Licences: KGeography GPL-2.0-or-later; open-flags GPL-3.0.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import file_blob, frozen_url, slugify, svg_blob
from world.sources.packages import Package

KGEO = "kgeography"
KGEO_PACKAGE = Package("deb", "kgeography-data", "4:22.12.3-1")
KGEO_LICENCE = "GPL-2.0-or-later (KGeography)"
OPEN_FLAGS = "openflags"
OPEN_FLAGS_PACKAGE = Package("pip", "open-flags", "0.0.2")
OPEN_FLAGS_LICENCE = "GPL-3.0 (open-flags)"
OPEN_FLAGS_COVERED = frozenset({"usa", "canada", "germany", "brazil", "russia"})
"""open-flags countries whose divisions' flags KGeography already has."""


def _division_text(name: str, kind: str, area: str, capital: str | None, has_flag: bool) -> str:
    text = f"{name} is one of the {kind.lower()} of {area}."
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
    pages, images, seen, flags_used = [], [], set(), set()
    for kgm in sorted(base.glob("*.kgm")):
        tree = ET.parse(kgm).getroot()
        area = (tree.findtext("name") or kgm.stem).strip()
        kind = (tree.findtext("divisionsName") or "divisions").strip()
        if kind == "Countries":
            continue
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
            text = _division_text(name, kind, area, capital, has_flag)
            pages.append(PageRecord(f"{KGEO}:{slug}", url, title, text, KGEO, KGEO_LICENCE))
            if has_flag and flag_path is not None:
                record = ImageRecord(
                    id=f"{KGEO}:flag-{slug}",
                    file="",
                    page_url=url,
                    title=f"Flag of {name}",
                    description=f"The flag of {name}, one of the {kind.lower()} of {area}.",
                    source=KGEO,
                    licence=KGEO_LICENCE,
                    author="KGeography contributors",
                    origin=f"kgeography-data:flags/{flag}",
                )
                images.append(ImageItem(record, file_blob(flag_path)))
    return SourceOutput(pages=pages, images=images)


def load_open_flags(root: Path) -> SourceOutput:
    """Read the open-flags sub-national SVGs: a page and a rendered image per flag.

    Args:
        root: the unpacked wheel.

    Returns:
        One page and one image per flag.
    """
    pages, images = [], []
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
    return SourceOutput(pages=pages, images=images)
