"""Structured facts of the frozen web: written per source part, checked against pages and images, read back."""

import json
from pathlib import Path

import pytest
from PIL import Image

from world.build import build_world, default_cache, default_media
from world.facts import FactRecord, norm_name
from world.fixture import COUNTRIES
from world.records import ImageItem, ImageRecord, PageRecord, SourceOutput
from world.sources import countries, factbook, gcompris, logos, plan, subnational
from world.sources.common import bytes_blob, fact_maker, name_aliases
from world.sources.fixture import millions
from world.sources.packages import fetch
from world.store import WorldError, WorldStore


def assert_facts_hold(facts: list[FactRecord], pages: list[PageRecord], images: dict[str, str]) -> None:
    """Every relation value is on its page, every image fact names an image of that page (id → page URL)."""
    text = {p.url: p.text for p in pages}
    for f in facts:
        assert f.page_url in text, f
        if f.relation == "image":
            assert images.get(f.value) == f.page_url, f
        else:
            assert f.value in text[f.page_url], f


def test_fixture_world_has_facts_that_hold(world_dir: Path):
    store = WorldStore.load(world_dir)
    assert store.manifest["counts"]["facts"] == len(store.facts) > 0
    assert_facts_hold(store.facts, store.pages, {i.id: i.page_url for i in store.images})
    by_entity = store.facts_by_entity()
    for name, capital, population, continent, _ in COUNTRIES:
        facts = {f.relation: f for f in by_entity[f"fixture:{name.lower()}"]}
        assert (facts["capital"].value, facts["continent"].value) == (capital, continent)
        assert facts["population"].numeric == millions(population)
        assert store.image(facts["image"].value) is not None


def test_a_world_without_facts_must_be_rebuilt(tmp_path: Path, world_dir: Path):
    import shutil

    copy = tmp_path / "w"
    shutil.copytree(world_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))  # built before facts
    with pytest.raises(WorldError, match="rebuild it"):
        WorldStore.load(copy)


def test_fact_json_round_trip():
    fact = FactRecord(
        "factbook:iv",
        "Côte d'Ivoire",
        "country",
        "population",
        "31,855,971 (2025 est.)",
        "https://www.cia.gov/x",
        aliases=["Ivory Coast"],
        value_aliases=["31,855,971"],
        numeric=31855971.0,
    )
    assert FactRecord.from_json(fact.to_json()) == fact
    assert "Côte" in fact.to_json()  # not escaped


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("The Gambia", "gambia"),
        ("Côte d'Ivoire", "cote d ivoire"),
        ("São Tomé and Príncipe", "sao tome and principe"),
        ("Holy See (Vatican City)", "holy see vatican city"),
        ("Washington, D.C.", "washington d c"),
        ("Theodore", "theodore"),
        ("Россия", ""),
    ],
)
def test_norm_name(name: str, key: str):
    assert norm_name(name) == key


def test_aliases_drop_repeats_and_unspellable_names():
    assert name_aliases("France", ["FRANCE", "French Republic", "République française", "Франция", "ʁɛpublik"]) == [
        "French Republic",
        "République française",
    ]
    make = fact_maker("s:x", "X", "country", ["Y"])
    assert make("capital", "Z", "u", ["Z", "W", "W"]).value_aliases == ["W"]


def _step_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: SourceOutput) -> Path:
    """Build a world from one step that returns `out`."""
    import world.build as build_mod
    from world.sources import Step

    monkeypatch.setattr(build_mod, "plan", lambda size, media: [Step("s", (), lambda: out, {"v": len(out.facts)})])
    build_world("fixture", tmp_path / "w")
    return tmp_path / "w"


def _png(side: int) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (side, side), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_build_drops_facts_of_skipped_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    page = PageRecord("s:a", "https://frozen.web/s/a", "A", "A is in Europe.", "s", "CC0")
    images = [
        ImageItem(ImageRecord(f"s:{n}", "", page.url, n, n, "s", "CC0"), bytes_blob(_png(side), "png"))
        for n, side in (("big", 32), ("tiny", 2))
    ]
    make = fact_maker("s:a", "A", "country")
    facts = [
        make("image", "s:big", page.url),
        make("image", "s:tiny", page.url),
        make("continent", "Europe", page.url),
    ]
    store = WorldStore.load(_step_world(tmp_path, monkeypatch, SourceOutput([page], images, facts)))
    assert [(f.relation, f.value) for f in store.facts] == [("image", "s:big"), ("continent", "Europe")]
    assert store.manifest["sources"]["s"]["facts"] == 2


@pytest.mark.parametrize(
    ("fact", "problem"),
    [
        (FactRecord("s:a", "A", "country", "capital", "Paris", "https://frozen.web/s/a"), "not in the text"),
        (FactRecord("s:a", "A", "country", "capital", "Europe", "https://frozen.web/s/b"), "no page"),
        (FactRecord("s:a", "A", "country", "image", "s:nope", "https://frozen.web/s/a"), "no such image"),
        (FactRecord("t:a", "A", "country", "continent", "Europe", "https://frozen.web/s/a"), "entity ids"),
    ],
)
def test_build_refuses_facts_that_do_not_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fact, problem):
    page = PageRecord("s:a", "https://frozen.web/s/a", "A", "A is in Europe.", "s", "CC0")
    with pytest.raises(ValueError, match=problem):
        _step_world(tmp_path, monkeypatch, SourceOutput([page], [], [fact]))
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("Paris", ["Paris"]),
        ("Washington, D.C.", ["Washington, D.C."]),
        ("Tashkent (Toshkent)", ["Tashkent", "Toshkent"]),
        ("Gitega (political capital), Bujumbura (commercial capital)", ["Gitega", "Bujumbura"]),
        ("Santiago; note - Valparaiso is the seat of the national legislature", ["Santiago"]),
        ("Chisinau in Romanian (Kishinev in Russian)", ["Chisinau", "Kishinev"]),
        (
            "Rangoon (aka Yangon, continues to be recognized ...); Nay Pyi Taw is the administrative capital",
            ["Rangoon", "Yangon"],
        ),
        ("Suva (on Viti Levu)", ["Suva"]),
        ("no official capital; government offices in the Yaren District", []),
        ("", []),
    ],
)
def test_factbook_capital_names(field: str, names: list[str]):
    assert factbook.capital_names(field) == names


def test_factbook_profile_facts():
    profile = {
        "Government": {
            "Country name": {
                "conventional long form": {"text": "Swiss Confederation"},
                "conventional short form": {"text": "Switzerland"},
                "local short form": {"text": "Schweiz (German)/ Suisse (French)"},
                "local long form": {"text": "none"},
            },
            "Capital": {"name": {"text": "Bern"}},
        },
        "People and Society": {"Population": {"total": {"text": "8,925,741 (2025 est.)"}}},
        "Geography": {"Area": {"total ": {"text": "41,277 sq km"}}},
    }
    facts = {f.relation: f for f in factbook.profile_facts(profile, "sz", "Switzerland", [])}
    assert facts["capital"].value == "Bern" and facts["area"].numeric == 41277
    assert (facts["population"].value, facts["population"].numeric) == ("8,925,741 (2025 est.)", 8925741)
    assert facts["capital"].aliases == ["Swiss Confederation", "Schweiz", "Suisse"]
    assert factbook.profile_facts({"Introduction": {}}, "xx", "World", []) == []


def test_countries_facts(tmp_path: Path):
    (tmp_path / "package").mkdir()
    c = {
        "name": {"common": "Nepal", "official": "Federal Democratic Republic of Nepal", "native": {}},
        "altSpellings": ["NP", "Nepāl"],
        "capital": ["Kathmandu"],
        "languages": {"nep": "Nepali"},
        "currencies": {"NPR": {"name": "Nepalese rupee", "symbol": "₨"}},
        "borders": [],
        "landlocked": True,
        "area": 147181,
        "region": "Asia",
        "subregion": "Southern Asia",
        "cca2": "NP",
        "cca3": "NPL",
        "tld": [".np"],
        "flag": "🇳🇵",
        "demonyms": {"eng": {"m": "Nepalese"}},
    }
    (tmp_path / "package" / "countries.json").write_text(json.dumps([c]))
    out = countries.load(tmp_path)
    assert_facts_hold(out.facts, out.pages, {})
    facts = {f.relation: f for f in out.facts}
    assert facts["area"].value == "147,181 km²" and facts["currency"].value_aliases == ["NPR"]
    assert facts["subregion"].value == "Southern Asia" and facts["language"].value == "Nepali"
    assert facts["capital"].aliases == ["Federal Democratic Republic of Nepal"]  # no ISO code, no repeat of the name


@pytest.mark.parametrize(
    ("stem", "area", "place"),
    [
        ("germany", "Germany", ("Germany", "Germany")),
        ("albania_districts", "Albania (Districts)", ("Albania", "Albania")),
        ("sweden", "Sweden by Counties", ("Sweden", "Sweden")),
        ("portugal_districts", "Portugal Districts", ("Portugal", "Portugal")),
        ("assam", "Assam", ("Assam, India", "India")),
        ("usa", "USA", ("the United States", "United States")),
        ("ireland_provinces", "Ireland (Provinces)", ("Ireland", None)),
    ],
)
def test_kgeography_places(stem: str, area: str, place: tuple[str, str | None]):
    assert subnational.kgeo_place(stem, area) == place


def test_gcompris_names_in():
    names = ["Guinea", "Papua New Guinea", "Mexico", "India", "France", "United States"]
    assert gcompris.names_in("A mask from Papua New Guinea.", names) == ["Papua New Guinea"]
    assert gcompris.names_in("Built in New Mexico, not in Mexico City.", names) == ["Mexico"]
    assert gcompris.names_in("Indiana is not India.", names) == ["India"]
    assert gcompris.names_in("A gift from France to the United States.", names) == ["France", "United States"]


def test_logo_facts(tmp_path: Path):
    pkg = tmp_path / "package"
    (pkg / "data").mkdir(parents=True)
    (pkg / "icons").mkdir()
    entry = {"title": "Acme", "slug": "acme", "hex": "CC0000", "source": "https://acme.example"}
    (pkg / "data" / "simple-icons.json").write_text(json.dumps([{**entry, "aliases": {"aka": ["Acme Corp"]}}]))
    (pkg / "icons" / "acme.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"/>')
    out = logos.load(tmp_path)
    assert_facts_hold(out.facts, out.pages, {i.record.id: i.record.page_url for i in out.images})
    assert [(f.relation, f.value, f.aliases) for f in out.facts] == [
        ("image", "logos:acme", ["Acme Corp"]),
        ("colour", "#CC0000", ["Acme Corp"]),
    ]


@pytest.mark.slow
def test_real_sources_facts_hold():
    """Every source read from the pinned packages (downloaded on first run, cached after): all its facts hold."""
    for step in plan("full", default_media()):
        out = step.load(*[fetch(p, default_cache()) for p in step.packages])
        assert_facts_hold(out.facts, out.pages, {i.record.id: i.record.page_url for i in out.images})
        assert out.facts or step.name == "wikipedia", step.name
