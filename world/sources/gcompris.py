"""Real photos from Debian `gcompris-qt-data`: monuments and animals with their descriptions and provenance.

GCompris ships its activities as Qt resource bundles (`world.sources.rcc`). The "explore" activities pair each
Wikimedia Commons photo with a title and a paragraph (`board/board*.qml`); the categorization activity adds more
monument photos (titled from their file names). Each folder's `README` gives author, licence and Commons URL per
file. The game is GPL-3.0-or-later; each photo keeps its own licence (public domain, CC0 or CC BY-SA).

Facts: each photo is an `image` fact of its monument or animal (a monument photographed twice is one entity). A
monument's country is the one country its page names, if it names exactly one (country names from npm
`world-countries`, so "a gift from the people of France" on the Statue of Liberty's page leaves it without one);
an animal's continent likewise.
"""

from __future__ import annotations

import re
from pathlib import Path

from world.facts import FactRecord
from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import bytes_blob, fact_maker, frozen_url, slugify
from world.sources.countries import common_names
from world.sources.packages import Package
from world.sources.rcc import read_rcc

NAME = "gcompris"
PACKAGE = Package("deb", "gcompris-qt-data", "3.1-2")
LICENCE = "GPL-3.0-or-later (GCompris)"
EXPLORE = ("explore_monuments", "explore_world_animals", "explore_farm_animals")
CATEGORIES = {"categorization": "monuments"}
KINDS = {
    "explore_monuments": "monument",
    "explore_world_animals": "animal",
    "explore_farm_animals": "animal",
    "categorization": "monument",
}
"""Activity → the kind of entity its photos show."""
CONTINENTS = ("Africa", "Antarctica", "Asia", "Australia", "Europe", "North America", "Oceania", "South America")

_ENTRY = re.compile(
    r'"title"\s*:\s*qsTr\("(?P<title>(?:[^"\\]|\\.)*)"\)\s*,\s*"text"\s*:\s*qsTr\("(?P<text>(?:[^"\\]|\\.)*)"\)'
    r'.*?"image2"\s*:\s*"qrc:/(?P<image>[^"]+)"',
    re.S,
)


def parse_provenance(readme: str) -> dict[str, dict[str, str]]:
    """File name → {"author", "licence", "origin"} from a GCompris resource README."""
    out: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", readme):
        fields: dict[str, str] = {}
        files: list[str] = []
        in_files = False
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("Copyright", "License", "Source", "Files") and not in_files:
                fields[key.strip()] = value.strip()
                in_files = key.strip() == "Files"
                if in_files and value.strip():
                    files.append(value.strip())
            elif in_files and line.strip():
                files.append(line.strip())
        for f in files:
            out[Path(f).name] = {
                "author": fields.get("Copyright", ""),
                "licence": fields.get("License", ""),
                "origin": fields.get("Source", ""),
            }
    return out


def names_in(text: str, names: list[str]) -> list[str]:
    """The names that occur in `text` as whole words, a name inside a longer one not counted.

    "Papua New Guinea" is not also "Guinea", and "New Mexico" is not "Mexico" (a US state, not the country).
    """
    spans = [
        (m.start(), m.end(), name)
        for name in names
        for m in re.finditer(rf"(?<![\w-])(?<!New ){re.escape(name)}(?![\w-])", text)
    ]
    inside = {s for s in spans for o in spans if o != s and o[0] <= s[0] and s[1] <= o[1]}
    return sorted({s[2] for s in spans if s not in inside})


def _facts(
    kind: str, title: str, page: PageRecord, image_id: str, countries: list[str], names: dict[str, str]
) -> list[FactRecord]:
    """An entry's facts: its photo, and the one country (monument) or continent (animal) its page names.

    `names` (entity id → name) makes a monument photographed twice one entity under its first title ("Statue of
    Liberty", not the file-name title "Statue Of Liberty" of its second photo).
    """
    places = names_in(page.text, countries if kind == "monument" else list(CONTINENTS))
    relation = "country" if kind == "monument" else "continent"
    short = title.removesuffix(f", {places[0]}") if len(places) == 1 else title  # "Taj Mahal, India"
    entity = f"{NAME}:{slugify(short)}"
    make = fact_maker(entity, names.setdefault(entity, short), kind, [title])
    facts = [make("image", image_id, page.url)]
    return facts + [make(relation, places[0], page.url)] if len(places) == 1 else facts


def _camel_title(stem: str) -> str:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem).replace("_", " ")
    return words[:1].upper() + words[1:]


def _record(slug: str, path: str, title: str, text: str, prov: dict[str, str], url: str) -> ImageRecord:
    licence = prov.get("licence") or LICENCE
    return ImageRecord(
        id=f"{NAME}:{slug}",
        file="",
        page_url=url,
        title=title,
        description=text,
        source=NAME,
        licence=licence,
        author=prov.get("author", ""),
        origin=prov.get("origin") or f"gcompris-qt-data:{path}",
    )


def load(root: Path, countries_root: Path) -> SourceOutput:
    """Extract the explore activities' photos and the categorization monuments.

    Args:
        root: the unpacked Debian package.
        countries_root: the unpacked npm `world-countries` (the country names monument pages are read for).

    Returns:
        One page (title + paragraph) and one photo per entry, and their facts.
    """
    countries = common_names(countries_root)
    facts: list[FactRecord] = []
    names: dict[str, str] = {}
    rcc_dir = root / "usr" / "share" / "gcompris-qt" / "rcc"
    pages: list[PageRecord] = []
    images: list[ImageItem] = []
    seen: set[str] = set()
    for activity in EXPLORE:
        files = dict(read_rcc((rcc_dir / f"{activity}.rcc").read_bytes()))
        prov: dict[str, dict[str, str]] = {}
        for path, data in files.items():
            if path.endswith("README"):
                prov.update(parse_provenance(data.decode("utf-8")))
        for path, data in sorted(files.items()):
            if "/board/" not in path or not path.endswith(".qml"):
                continue
            for m in _ENTRY.finditer(data.decode("utf-8")):
                image_path = m["image"]
                if image_path not in files:
                    continue
                title, text = m["title"].replace('\\"', '"'), m["text"].replace('\\"', '"')
                slug = slugify(title)
                if slug in seen:
                    continue
                seen.add(slug)
                url = frozen_url(NAME, slug)
                pages.append(PageRecord(f"{NAME}:{slug}", url, title, f"{title}. {text}", NAME, LICENCE))
                name = Path(image_path).name
                record = _record(slug, image_path, title, text, prov.get(name, {}), url)
                images.append(ImageItem(record, bytes_blob(files[image_path], Path(name).suffix.lstrip("."))))
                facts += _facts(KINDS[activity], title, pages[-1], record.id, countries, names)
    for activity, folder in CATEGORIES.items():
        files = dict(read_rcc((rcc_dir / f"{activity}.rcc").read_bytes()))
        prefix = f"gcompris/src/activities/{activity}/resource/images/{folder}/"
        readme = files.get(prefix + "README", b"").decode("utf-8")
        prov = parse_provenance(readme)
        for path, data in sorted(files.items()):
            if not path.startswith(prefix) or not path.endswith(".webp"):
                continue
            stem = Path(path).stem
            title = _camel_title(stem)
            slug = f"{folder}-{slugify(title)}"
            if re.fullmatch(r"monument\d+", stem) or slug in seen:
                continue
            seen.add(slug)
            url = frozen_url(NAME, slug)
            text = f"{title}: a photo of a famous monument (GCompris {folder} collection)."
            pages.append(PageRecord(f"{NAME}:{slug}", url, title, text, NAME, LICENCE))
            record = _record(slug, path, title, text, prov.get(Path(path).name, {}), url)
            images.append(ImageItem(record, bytes_blob(data, "webp")))
            facts += _facts(KINDS[activity], title, pages[-1], record.id, countries, names)
    return SourceOutput(pages=pages, images=images, facts=facts)
