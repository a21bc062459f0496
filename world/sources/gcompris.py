"""Real photos from Debian `gcompris-qt-data`: monuments and animals with their descriptions and provenance.

GCompris ships its activities as Qt resource bundles (`world.sources.rcc`). The "explore" activities pair each
Wikimedia Commons photo with a title and a paragraph (`board/board*.qml`); the categorization activity adds more
monument photos (titled from their file names). Each folder's `README` gives author, licence and Commons URL per
file. The game is GPL-3.0-or-later; each photo keeps its own licence (public domain, CC0 or CC BY-SA).
"""

from __future__ import annotations

import re
from pathlib import Path

from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources.common import bytes_blob, frozen_url, slugify
from world.sources.packages import Package
from world.sources.rcc import read_rcc

NAME = "gcompris"
PACKAGE = Package("deb", "gcompris-qt-data", "3.1-2")
LICENCE = "GPL-3.0-or-later (GCompris)"
EXPLORE = ("explore_monuments", "explore_world_animals", "explore_farm_animals")
CATEGORIES = {"categorization": "monuments"}

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


def load(root: Path) -> SourceOutput:
    """Extract the explore activities' photos and the categorization monuments.

    Args:
        root: the unpacked Debian package.

    Returns:
        One page (title + paragraph) and one photo per entry.
    """
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
            images.append(
                ImageItem(
                    _record(slug, path, title, text, prov.get(Path(path).name, {}), url), bytes_blob(data, "webp")
                )
            )
    return SourceOutput(pages=pages, images=images)
