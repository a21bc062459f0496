import json
import shutil
from pathlib import Path

import pytest

from world.build import build_world
from world.records import ImageRecord, PageRecord
from world.sources import plan
from world.sources.packages import Package, SourceError, fetch
from world.store import WorldStore, read_manifest, verify_world


def test_fixture_world_has_pages_images_and_manifest(world_dir: Path):
    m = read_manifest(world_dir)
    store = WorldStore.load(world_dir)
    assert m["size"] == "fixture"
    assert m["counts"] == {"pages": len(store.pages), "images": len(store.images), "facts": len(store.facts)}
    assert len(store.pages) >= 16 and len(store.images) >= 8
    assert (world_dir / "ATTRIBUTION.md").read_text().startswith("# Attribution")
    for rec in store.images:  # every image has a file and a page
        assert store.image_path(rec).is_file()
        assert store.page(rec.page_url) is not None
        assert rec.licence
    for p in store.pages:
        assert p.id and p.url and p.title and p.text and p.source and p.licence


def test_manifest_checksums_detect_tampering(tmp_path: Path, world_dir: Path):
    copy = tmp_path / "w"
    shutil.copytree(world_dir, copy)
    assert verify_world(copy) == []
    victim = next((copy / "sources" / "fixture" / "files").iterdir())
    victim.write_bytes(victim.read_bytes() + b"x")
    (copy / "sources" / "fixture" / "pages.jsonl").unlink()
    problems = verify_world(copy)
    assert any("checksum mismatch" in p and victim.name in p for p in problems)
    assert any(p.startswith("missing: sources/fixture/pages.jsonl") for p in problems)


def test_rebuild_is_idempotent_and_incremental(tmp_path: Path):
    out = tmp_path / "w"
    first = build_world("fixture", out)
    stamp = (out / "manifest.json").stat().st_mtime_ns
    again = build_world("fixture", out)
    assert again == first  # up to date: nothing rewritten
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    forced = build_world("fixture", out, force=True)
    assert forced["files"] == first["files"]  # same inputs, same bytes
    assert not list(tmp_path.glob(".w.*"))  # no temporary folders left behind


def test_changed_media_rebuilds_the_part(tmp_path: Path):
    out = tmp_path / "w"
    with_media = build_world("fixture", out)
    without = build_world("fixture", out, media=tmp_path / "no-media-here")
    if with_media["counts"]["images"] == 8:
        pytest.skip("the Factbook media folder is not beside the repository")
    assert without["counts"]["images"] == 8 and with_media["counts"]["images"] > 8
    assert without["key"] != with_media["key"]


def test_failed_download_names_package_and_leaves_world_untouched(tmp_path: Path, monkeypatch):
    import world.build as build_mod
    from world.sources import Step

    out = tmp_path / "w"
    good = build_world("fixture", out)
    bad = Package("npm", "no-such-package-xyz", "0.0.0")

    def failing_fetch(pkg: Package, cache: Path) -> Path:
        raise SourceError(f"{pkg}: download failed (404)")

    def bad_plan(size, media):
        return [Step("broken", (bad,), lambda root: None, {"v": 1})]

    monkeypatch.setattr(build_mod, "fetch", failing_fetch)
    monkeypatch.setattr(build_mod, "plan", bad_plan)
    with pytest.raises(SourceError, match="no-such-package-xyz@0.0.0"):
        build_world("fixture", out)
    assert json.loads((out / "manifest.json").read_text()) == good
    assert not list(tmp_path.glob(".w.*"))


def test_fetch_reports_a_missing_client(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm, no apt-get on PATH
    with pytest.raises(SourceError, match="npm package left-pad@1.3.0"):
        fetch(Package("npm", "left-pad", "1.3.0"), tmp_path / "cache")
    assert not (tmp_path / "cache" / "npm" / "left-pad-1.3.0").exists()


def test_store_round_trip(tmp_path: Path):
    from world.store import read_images, read_pages, write_jsonl

    pages = [PageRecord("s:a", "https://frozen.web/s/a", "Å title", "Text with “quotes”.", "s", "CC0")]
    images = [ImageRecord("s:i", "sources/s/files/i.png", "https://frozen.web/s/a", "T", "D", "s", "CC0", "me", "o")]
    assert write_jsonl(tmp_path / "p.jsonl", pages) == 1
    write_jsonl(tmp_path / "i.jsonl", images)
    assert read_pages(tmp_path / "p.jsonl") == pages
    assert read_images(tmp_path / "i.jsonl") == images


def test_plans_pin_every_package():
    full = plan("full", None)
    assert {s.name for s in full} >= {
        "wikipedia",
        "factbook",
        "countries",
        "gcompris",
        "logos",
        "emoji",
        "kgeography",
        "openflags",
    }
    for step in full:
        for pkg in step.packages:
            assert pkg.version and pkg.kind in ("pip", "npm", "deb")
    assert [s.name for s in plan("fixture", None)] == ["fixture"]
    assert len(plan("small", None)) < len(full)


@pytest.mark.slow
def test_full_world_reaches_the_issue_counts(tmp_path: Path):
    m = build_world("full")  # needs the registries on first run; cached after
    assert m["counts"]["pages"] >= 10_000
    assert m["counts"]["images"] >= 1_500
    assert m["counts"]["facts"] >= 20_000
