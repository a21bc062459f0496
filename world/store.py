"""The on-disk layout of a built world and read access to it.

    <world>/manifest.json            version, size, sources (package, licence, counts), checksums of every file
    <world>/ATTRIBUTION.md           where every source comes from and under which licence
    <world>/sources/<name>/pages.jsonl    one `PageRecord` per line
    <world>/sources/<name>/images.jsonl   one `ImageRecord` per line; `file` is relative to <world>
    <world>/sources/<name>/facts.jsonl    one `FactRecord` per line (`world.facts`): what its pages and images state
    <world>/sources/<name>/files/…        the image files
    <world>/sources/<name>/stamp.json     the key the part was built for (incremental builds reuse matching parts)
    <world>/index/text/, index/image/     the search indexes (`world.text_index`, `world.image_index`)

`WorldStore` loads the pages, image records and facts of a built world (not the pixels) and answers look-ups by
id/URL.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from world.facts import FactRecord
from world.records import ImageRecord, PageRecord

MANIFEST = "manifest.json"
FORMAT_VERSION = 2
"""Version of the on-disk layout; a world of another version must be rebuilt (2: every part has `facts.jsonl`)."""


class WorldError(ValueError):
    """A world folder that is missing, incomplete or of another format version."""


def write_jsonl(path: Path, records: Iterable[PageRecord | ImageRecord | FactRecord]) -> int:
    """Write records one per line; return how many were written."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(r.to_json() + "\n")
            n += 1
    return n


def read_pages(path: Path) -> list[PageRecord]:
    """Read a `pages.jsonl` file."""
    with path.open(encoding="utf-8") as f:
        return [PageRecord.from_json(line) for line in f if line.strip()]


def read_images(path: Path) -> list[ImageRecord]:
    """Read an `images.jsonl` file."""
    with path.open(encoding="utf-8") as f:
        return [ImageRecord.from_json(line) for line in f if line.strip()]


def read_facts(path: Path) -> list[FactRecord]:
    """Read a `facts.jsonl` file."""
    with path.open(encoding="utf-8") as f:
        return [FactRecord.from_json(line) for line in f if line.strip()]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(world_dir: Path) -> dict:
    """The manifest of a built world.

    Raises:
        WorldError: there is no manifest, or it is of another format version.
    """
    path = world_dir / MANIFEST
    if not path.is_file():
        raise WorldError(f"{world_dir}: not a built world (no {MANIFEST}; run `deepmmsearch world build`)")
    manifest = json.loads(path.read_text("utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise WorldError(
            f"{world_dir}: world format {manifest.get('format_version')} is not {FORMAT_VERSION}; rebuild it"
        )
    return manifest


def verify_world(world_dir: Path) -> list[str]:
    """Check every file against the manifest's checksums; return the problems (empty when the world is intact)."""
    manifest = read_manifest(world_dir)
    problems = []
    for rel, digest in manifest["files"].items():
        path = world_dir / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif sha256_file(path) != digest:
            problems.append(f"checksum mismatch: {rel}")
    return problems


@dataclass
class WorldStore:
    """The pages, image records and facts of a built world, loaded into memory (pixels stay on disk)."""

    root: Path
    manifest: dict
    pages: list[PageRecord]
    images: list[ImageRecord]
    facts: list[FactRecord] = field(default_factory=list)
    _page_by_url: dict[str, PageRecord] = field(default_factory=dict, repr=False)
    _image_by_id: dict[str, ImageRecord] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._page_by_url = {p.url: p for p in self.pages}
        self._image_by_id = {i.id: i for i in self.images}

    @classmethod
    def load(cls, world_dir: Path) -> WorldStore:
        """Load a built world.

        Raises:
            WorldError: `world_dir` is not a complete world of this format version.
        """
        manifest = read_manifest(world_dir)
        pages: list[PageRecord] = []
        images: list[ImageRecord] = []
        facts: list[FactRecord] = []
        for name in manifest["sources"]:
            part = world_dir / "sources" / name
            pages.extend(read_pages(part / "pages.jsonl"))
            images.extend(read_images(part / "images.jsonl"))
            facts.extend(read_facts(part / "facts.jsonl"))
        return cls(root=world_dir, manifest=manifest, pages=pages, images=images, facts=facts)

    def page(self, url: str) -> PageRecord | None:
        """The page at `url`, or None."""
        return self._page_by_url.get(url)

    def image(self, image_id: str) -> ImageRecord | None:
        """The image record with id `image_id`, or None."""
        return self._image_by_id.get(image_id)

    def image_path(self, record: ImageRecord) -> Path:
        """Where the image's file lies."""
        return self.root / record.file

    def facts_by_entity(self) -> dict[str, list[FactRecord]]:
        """Entity id → its facts, in load order (one source's entities; joining across sources is by `norm_name`)."""
        out: dict[str, list[FactRecord]] = defaultdict(list)
        for f in self.facts:
            out[f.entity].append(f)
        return dict(out)
