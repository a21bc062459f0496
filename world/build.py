"""Build a frozen web: pinned public sources → a versioned page store, image store, indexes and a manifest.

    deepmmsearch world build --size fixture          # seconds, no network (tests, demos)
    deepmmsearch world build --size full             # ≥ 10,000 pages, ≥ 1,500 real images (a few minutes)
    python -m world.cli build --size small --out runs/world/small

A build is incremental and idempotent: a world whose manifest already has the requested key is left alone, and a
rebuild reuses every source part and index whose own key is unchanged (hard links, not copies). It is also atomic:
everything is written to a temporary sibling folder that replaces `out` only once complete, so a failed download
(a `SourceError` naming the package) or an interrupted run leaves the previous world, or none, never half of one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from rich.progress import track

from world.facts import FactRecord
from world.image_index import DescriptorEmbedder, Embedder, ImageIndex, flatten
from world.records import ImageItem, ImageRecord, PageRecord
from world.sources import Size, Step, plan
from world.sources.packages import fetch
from world.store import FORMAT_VERSION, MANIFEST, read_images, read_pages, sha256_file, write_jsonl
from world.text_index import BM25_B, BM25_K1, TITLE_WEIGHT, TextIndex

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILDER_VERSION = 3
"""Bump when the build writes different output for the same sources (invalidates every part and index)."""
STAMP = "stamp.json"
MIN_IMAGE_SIDE = 8


def default_out(size: Size) -> Path:
    """Where a world of `size` goes by default: `runs/world/<size>` under the repository root."""
    return REPO_ROOT / "runs" / "world" / size


def default_cache() -> Path:
    """The package download cache: `runs/cache` under the repository root."""
    return REPO_ROOT / "runs" / "cache"


def default_media() -> Path | None:
    """The CC0 Factbook media beside the repository (`../shared/data/factbook-media`), or None when absent."""
    path = REPO_ROOT.parent / "shared" / "data" / "factbook-media"
    return path if path.is_dir() else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _part_key(step: Step) -> str:
    return f"{step.key()}|builder={BUILDER_VERSION}"


def _stamp_matches(folder: Path, key: str) -> bool:
    stamp = folder / STAMP
    return stamp.is_file() and json.loads(stamp.read_text()).get("key") == key


def _link_tree(src: Path, dst: Path) -> None:
    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link)


def _check_image(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if min(img.size) < MIN_IMAGE_SIDE:
                return f"too small ({img.width}x{img.height})"
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        return f"unreadable ({exc})"
    return None


def _write_part(step: Step, roots: Sequence[Path], part: Path, progress: bool) -> dict:
    out = step.load(*roots)
    (part / "files").mkdir(parents=True)
    write_jsonl(part / "pages.jsonl", out.pages)
    page_urls = {p.url for p in out.pages}
    records: list[ImageRecord] = []
    skipped = 0
    for item in track(out.images, description=f"{step.name}: images", disable=not progress or not out.images):
        record = _write_image(item, part, page_urls)
        if record is None:
            skipped += 1
        else:
            records.append(record)
    write_jsonl(part / "images.jsonl", records)
    facts = _checked_facts(step.name, out.facts, out.pages, records, {i.record.id for i in out.images})
    write_jsonl(part / "facts.jsonl", facts)
    info = {
        "key": _part_key(step),
        "pages": len(out.pages),
        "images": len(records),
        "facts": len(facts),
        "skipped_images": skipped,
    }
    (part / STAMP).write_text(json.dumps(info, indent=1))
    return info


def _checked_facts(
    source: str, facts: list[FactRecord], pages: list[PageRecord], written: list[ImageRecord], image_ids: set[str]
) -> list[FactRecord]:
    """The facts a part keeps: those of images that were not skipped, each checked against its page and image.

    Synthesis trusts a fact's value to be findable on its page and its image to exist, so a loader that breaks
    that is a bug to fail on here, like an image without a page; only a skipped image drops its facts silently.

    Raises:
        ValueError: a fact names another source's entity or a page the source lacks, a relation value is not in
            its page's text, or an image fact names an image the source never had or one on another page.
    """
    text_of = {p.url: p.text for p in pages}
    page_of = {r.id: r.page_url for r in written}
    kept = []
    for f in facts:
        where = f"fact {f.entity} {f.relation}={f.value!r}"
        if not f.entity.startswith(f"{source}:") or not f.value:
            raise ValueError(f"{where}: entity ids are `{source}:<slug>` and values are never empty")
        if f.page_url not in text_of:
            raise ValueError(f"{where} points at {f.page_url}, which its source has no page for")
        if f.relation != "image":
            if f.value not in text_of[f.page_url]:
                raise ValueError(f"{where}: the value is not in the text of {f.page_url}")
        elif f.value not in image_ids:
            raise ValueError(f"{where}: the source has no such image")
        elif f.value not in page_of:
            continue  # the image was skipped (unreadable or too small)
        elif page_of[f.value] != f.page_url:
            raise ValueError(f"{where}: the image belongs to {page_of[f.value]}, not {f.page_url}")
        kept.append(f)
    return kept


def _write_image(item: ImageItem, part: Path, page_urls: set[str]) -> ImageRecord | None:
    rec = item.record
    if rec.page_url not in page_urls:
        raise ValueError(f"image {rec.id} points at {rec.page_url}, which its source has no page for")
    try:
        data, ext = item.blob()
    except ValueError as exc:  # an SVG the renderer refuses
        log.warning("skipping image %s: %s", rec.id, exc)
        return None
    problem = _check_image(data)
    if problem:
        log.warning("skipping image %s: %s", rec.id, problem)
        return None
    rel = Path("files") / f"{rec.id.split(':', 1)[1]}.{ext}"
    (part / rel).write_bytes(data)
    return ImageRecord(**{**rec.__dict__, "file": f"sources/{part.name}/{rel.as_posix()}"})


def _build_indexes(
    tmp: Path, old: Path, names: list[str], embedder: Embedder, hybrid: bool, progress: bool
) -> dict[str, dict]:
    pages: list[PageRecord] = []
    images: list[ImageRecord] = []
    for name in names:
        pages += read_pages(tmp / "sources" / name / "pages.jsonl")
        images += read_images(tmp / "sources" / name / "images.jsonl")
    part_sums = {n: sha256_file(tmp / "sources" / n / f) for n in names for f in ("pages.jsonl", "images.jsonl")}
    text_key = _digest(
        json.dumps(
            [part_sums.get(n) for n in names] + [hybrid, "bm25s", BM25_K1, BM25_B, TITLE_WEIGHT, BUILDER_VERSION]
        )
    )
    image_key = _digest(
        json.dumps(
            [sha256_file(tmp / "sources" / n / "images.jsonl") for n in names] + [embedder.name, BUILDER_VERSION]
        )
    )
    info: dict[str, dict] = {}
    for kind, key in (("text", text_key), ("image", image_key)):
        target, previous = tmp / "index" / kind, old / "index" / kind
        if _stamp_matches(previous, key):
            log.info("%s index unchanged: reusing it", kind)
            _link_tree(previous, target)
        elif kind == "text":
            log.info("indexing %d pages", len(pages))
            TextIndex.build(pages, hybrid=hybrid, show_progress=progress).save(target)
        else:
            vectors = [
                embedder.embed([flatten(Image.open(tmp / rec.file))])[0]
                for rec in track(images, description="image index", disable=not progress)
            ]
            dim = len(vectors[0]) if vectors else 1
            ImageIndex(np.stack(vectors) if vectors else np.zeros((0, dim), np.float32), embedder.name).save(target)
        (target / STAMP).write_text(json.dumps({"key": key}))
        info[kind] = {"key": key}
    info["text"]["hybrid"] = hybrid
    info["image"]["embedder"] = embedder.name
    return info


def _attribution(steps: list[Step], counts: dict[str, dict]) -> str:
    lines = ["# Attribution and licences", "", "This frozen web is built from these pinned public sources.", ""]
    for s in steps:
        pkgs = ", ".join(str(p) for p in s.packages) or "no package (generated locally)"
        c = counts[s.name]
        lines += [
            f"## {s.name}",
            f"- packages: {pkgs}",
            f"- home: {s.homepage}",
            f"- licence: {s.licence}",
            f"- pages: {c['pages']}, images: {c['images']}, facts: {c['facts']}",
            "",
        ]
    lines += [
        "Each image record also carries its own `licence`, `author` and `origin` (upstream URL or package "
        "path). Wikipedia text is CC BY-SA 4.0: reuse it with attribution to the Wikipedia contributors. "
        "Logos are trademarks of their owners."
    ]
    return "\n".join(lines) + "\n"


def _swap(tmp: Path, out: Path) -> None:
    if out.exists():
        trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(trash)
        tmp.rename(out)
        shutil.rmtree(trash)
    else:
        tmp.rename(out)


def build_world(
    size: Size,
    out: Path | None = None,
    *,
    cache: Path | None = None,
    media: Path | None = None,
    embedder: Embedder | None = None,
    hybrid: bool = False,
    force: bool = False,
    progress: bool = False,
) -> dict:
    """Build (or bring up to date) the world of `size` in `out` and return its manifest.

    Args:
        size: "fixture" (offline, seconds), "small" or "full".
        out: the world folder; default `runs/world/<size>`.
        cache: the package download cache; default `runs/cache`.
        media: the Factbook media folder; default `../shared/data/factbook-media` when it exists.
        embedder: the image embedder; default `DescriptorEmbedder()` (no weights).
        hybrid: also embed pages with the packaged MiniLM model for hybrid text search.
        force: rebuild every part even if its key is unchanged.
        progress: show progress bars.

    Returns:
        The manifest (also written to `out/manifest.json`).

    Raises:
        SourceError: a package could not be downloaded or unpacked (the message names it); `out` is untouched.
    """
    started = time.perf_counter()
    out = Path(out) if out is not None else default_out(size)
    cache = Path(cache) if cache is not None else default_cache()
    media = media if media is not None else default_media()
    if media is None and size != "fixture":
        log.warning(
            "the CIA Factbook media (../shared/data/factbook-media) is not there: building without its flags "
            "and maps; pass --media DIR to include them"
        )
    embedder = embedder or DescriptorEmbedder()
    steps = plan(size, media)
    world_key = _digest(
        json.dumps(
            [s.key() for s in steps]
            + [embedder.name, hybrid, BM25_K1, BM25_B, TITLE_WEIGHT, BUILDER_VERSION, FORMAT_VERSION]
        )
    )
    if not force and (out / MANIFEST).is_file():
        manifest = json.loads((out / MANIFEST).read_text())
        if manifest.get("key") == world_key:
            log.info("%s is up to date (key %s)", out, world_key)
            return manifest
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.parent / f".{out.name}.building-{uuid.uuid4().hex[:8]}"
    try:
        (tmp / "sources").mkdir(parents=True)
        counts: dict[str, dict] = {}
        for step in steps:
            part, previous = tmp / "sources" / step.name, out / "sources" / step.name
            if not force and _stamp_matches(previous, _part_key(step)):
                log.info("%s: unchanged, reusing it", step.name)
                _link_tree(previous, part)
                counts[step.name] = json.loads((part / STAMP).read_text())
                continue
            roots = [fetch(p, cache) for p in step.packages]
            log.info("%s: reading %s", step.name, ", ".join(str(p) for p in step.packages) or "generated data")
            counts[step.name] = _write_part(step, roots, part, progress)
        reusable = tmp / "nothing-to-reuse" if force else out  # where unchanged indexes may be linked from
        indexes = _build_indexes(tmp, reusable, [s.name for s in steps], embedder, hybrid, progress)
        (tmp / "ATTRIBUTION.md").write_text(_attribution(steps, counts))
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {
            "format_version": FORMAT_VERSION,
            "builder_version": BUILDER_VERSION,
            "size": size,
            "key": world_key,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 2),
            "counts": {
                "pages": sum(c["pages"] for c in counts.values()),
                "images": sum(c["images"] for c in counts.values()),
                "facts": sum(c["facts"] for c in counts.values()),
            },
            "disk_bytes": sum((tmp / f).stat().st_size for f in files),
            "sources": {
                s.name: {
                    "packages": [p.spec for p in s.packages],
                    "registry": [p.kind for p in s.packages],
                    "licence": s.licence,
                    "homepage": s.homepage,
                    "pages": counts[s.name]["pages"],
                    "images": counts[s.name]["images"],
                    "facts": counts[s.name]["facts"],
                    "key": _digest(s.key()),
                }
                for s in steps
            },
            "indexes": indexes,
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        _swap(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("built %s: %s in %.1f s", out, manifest["counts"], manifest["build_seconds"])
    return manifest
