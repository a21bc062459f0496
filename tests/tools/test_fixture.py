"""The fixture-world backends: TF-IDF text search, thumbnail image search, the layout grounder, the summariser."""

from __future__ import annotations

import pytest
from PIL import Image

from tools.base import Hit, ToolError
from tools.fixture import (
    MAX_QUERY_CHARS,
    ExtractiveSummarizer,
    FixtureImageSearch,
    FixtureTextSearch,
    LayoutGrounder,
    fixture_toolset,
)
from tools.objects import find_objects
from tools.summarize import IMAGE_SENTENCES, TEXT_SENTENCES, sentences
from world.fixture import FixtureWorld, compose

COUNTRIES = ["France", "Italy", "Ireland", "Germany", "Netherlands", "Ukraine", "Japan", "Sweden"]

# --- text search ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_search(world: FixtureWorld) -> FixtureTextSearch:
    return FixtureTextSearch(world)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("capital of France", "France"),
        ("What is the capital of France?", "France"),
        ("CAPITAL   of   FRANCE!!!", "France"),
        ("population of Japan", "Japan"),
        ("Tokyo", "Tokyo"),
        ("Berlin largest city", "Berlin"),
        ("yellow Nordic cross", "Sweden"),
        ("red disc", "Japan"),
    ],
)
def test_text_search_ranks_best_page_first(text_search: FixtureTextSearch, query: str, first: str) -> None:
    hits = text_search.search(query, 5)
    assert hits[0].title == first
    assert all(isinstance(h, Hit) and h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.url for h in hits}) == len(hits)


def test_text_search_is_deterministic(world: FixtureWorld, text_search: FixtureTextSearch) -> None:
    query = "country in Europe"  # many pages tie on score: ordering must not depend on dict/set order
    first = text_search.search(query, 16)
    assert len(first) > 2
    assert text_search.search(query, 16) == first
    assert FixtureTextSearch(world).search(query, 16) == first
    # ties are broken by page id, not by the order pages were built in
    scores = [h.score for h in first]
    assert len(set(scores)) < len(scores)
    page_id = {p.url: p.id for p in world.pages}
    for a, b in zip(first, first[1:], strict=False):
        assert a.score > b.score or page_id[a.url] < page_id[b.url], (a, b)
    returned = [page_id[h.url] for h in first]
    assert returned != [p.id for p in world.pages if p.id in returned]  # differs from build order: tie-break shows


@pytest.mark.parametrize("k", [1, 2, 5, 100])
def test_text_search_respects_k(text_search: FixtureTextSearch, k: int) -> None:
    hits = text_search.search("capital", k)
    assert 1 <= len(hits) <= k
    assert hits == text_search.search("capital", 100)[:k]


@pytest.mark.parametrize(
    "query",
    ["", "   ", "\n\t", "x" * 10_000, "capital " * (MAX_QUERY_CHARS // 8 + 1)],
    ids=["empty", "spaces", "whitespace", "10k_chars", "just_over_limit"],
)
def test_text_search_rejects_query(text_search: FixtureTextSearch, query: str) -> None:
    with pytest.raises(ToolError):
        text_search.search(query, 5)


def test_text_search_accepts_limit_length(text_search: FixtureTextSearch) -> None:
    query = ("France " * MAX_QUERY_CHARS)[:MAX_QUERY_CHARS]
    assert text_search.search(query, 5)[0].title == "France"


@pytest.mark.parametrize("query", ["zebra quantum xylophone", "???", "日本の首都"])
def test_text_search_no_overlap_returns_nothing(text_search: FixtureTextSearch, query: str) -> None:
    assert text_search.search(query, 5) == []


# --- image search ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_search(world: FixtureWorld) -> FixtureImageSearch:
    return FixtureImageSearch(world)


@pytest.mark.parametrize("country", COUNTRIES)
def test_image_search_finds_each_flag(world: FixtureWorld, image_search: FixtureImageSearch, country: str) -> None:
    hits = image_search.search(world.flag(country), 5)
    assert len(hits) == 5
    assert hits[0].image_id == f"img-flag-{country.lower()}"
    assert hits[0].title == f"Flag of {country}"
    assert hits[0].url == f"https://fixture.web/wiki/{country}"
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert hits[0].score > hits[1].score


@pytest.mark.parametrize("country", COUNTRIES)
def test_image_search_scaled_flag(world: FixtureWorld, image_search: FixtureImageSearch, country: str) -> None:
    big = world.flag(country).resize((300, 200), Image.Resampling.NEAREST)
    assert image_search.search(big, 1)[0].image_id == f"img-flag-{country.lower()}"


@pytest.mark.parametrize(
    "row", [["Japan", "France", "Germany"], ["Italy", "Ireland", "Sweden"], ["Netherlands", "Ukraine"]]
)
def test_image_search_crop_from_composite(world: FixtureWorld, image_search: FixtureImageSearch, row) -> None:
    composite = compose([world.flag(c) for c in row])
    objects = find_objects(composite)
    assert len(objects) == len(row)
    for country, obj in zip(row, objects, strict=True):
        hits = image_search.search(composite.crop(obj.box), 3)
        assert hits[0].image_id == f"img-flag-{country.lower()}", (country, obj.box)


def test_image_search_respects_k(world: FixtureWorld, image_search: FixtureImageSearch) -> None:
    assert len(image_search.search(world.flag("France"), 2)) == 2
    assert len(image_search.search(world.flag("France"), 100)) == len(world.images)


# --- grounding ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three(world: FixtureWorld) -> tuple[Image.Image, list]:
    """Japan, France, Germany left to right, and the boxes `find_objects` gives them (in reading order)."""
    composite = compose([world.flag("Japan"), world.flag("France"), world.flag("Germany")])
    boxes = [o.box for o in find_objects(composite)]
    assert len(boxes) == 3
    return composite, boxes


@pytest.mark.parametrize(
    ("expression", "index"),
    [
        ("left", 0),
        ("the flag on the left", 0),
        ("leftmost", 0),
        ("first", 0),
        ("the first flag", 0),
        ("1st from the left", 0),
        ("the flag in the middle", 1),
        ("middle", 1),
        ("the centre one", 1),
        ("second from the left", 1),
        ("second", 1),
        ("second from the right", 1),
        ("second to last", 1),
        ("right", 2),
        ("the rightmost flag", 2),
        ("third", 2),
        ("the 3rd flag", 2),
        ("first from the right", 2),
        ("last", 2),
        ("the last flag", 2),
        ("third from the right", 0),
        ("LEFT", 0),
    ],
)
def test_grounder_positions(three, expression: str, index: int) -> None:
    composite, boxes = three
    assert LayoutGrounder().ground(composite, expression) == boxes[index]


@pytest.mark.parametrize(
    "expression",
    ["fourth", "the fourth flag from the left", "tenth", "fourth from the right", "fourth to last"],
)
def test_grounder_ordinal_out_of_range(three, expression: str) -> None:
    with pytest.raises(ToolError, match="only 3 objects"):
        LayoutGrounder().ground(three[0], expression)


@pytest.mark.parametrize("expression", ["the flag", "that one", "flag of a country", "", "   "])
def test_grounder_ambiguous_or_empty(three, expression: str) -> None:
    with pytest.raises(ToolError):
        LayoutGrounder().ground(three[0], expression)


@pytest.mark.parametrize("expression", ["the flag", "left", "right", "the middle one", "first", "last", "anything"])
def test_grounder_single_object(world: FixtureWorld, expression: str) -> None:
    single = compose([world.flag("Sweden")])
    (obj,) = find_objects(single)
    assert LayoutGrounder().ground(single, expression) == obj.box


@pytest.mark.parametrize(
    "blank",
    [Image.new("RGB", (300, 120), "#D9D9D9"), Image.new("RGB", (40, 40), "white"), Image.new("RGB", (3, 3))],
    ids=["grey", "white", "tiny"],
)
@pytest.mark.parametrize("expression", ["left", "the flag in the middle", "the flag"])
def test_grounder_blank_image(blank: Image.Image, expression: str) -> None:
    with pytest.raises(ToolError, match="no object"):
        LayoutGrounder().ground(blank, expression)


# --- summariser -----------------------------------------------------------------------------------------------------

FILLER = [f"Filler sentence number {i} mentions unrelated weather in {i} towns." for i in range(20)]
RELEVANT = "The capital of France is Paris."


def distinct_sentences(page: int, n: int) -> str:
    """`n` sentences that share few words with each other or with another page's sentences."""
    return " ".join(f"Page {page} note {j} concerns topic{page}x{j} and item{page}y{j}." for j in range(n))


def n_sentences(summary: str) -> int:
    return sum(len(sentences(part.split(": ", 1)[1])) for part in summary.split("[")[1:])


@pytest.mark.parametrize(("kind", "limit"), [("text", 12), ("image", 5)])
def test_summarizer_sentence_limits(kind: str, limit: int) -> None:
    assert {"text": TEXT_SENTENCES, "image": IMAGE_SENTENCES}[kind][1] == limit
    hits = [Hit(f"Page {i}", f"https://x/{i}", distinct_sentences(i, 20), 1.0 / (i + 1)) for i in range(8)]
    out = ExtractiveSummarizer().summarize("What is the weather?", hits, kind)  # type: ignore[arg-type]
    assert n_sentences(out) == limit


def test_summarizer_drops_mirrored_sentences() -> None:
    hits = [Hit(f"Mirror {i}", f"https://x/{i}", " ".join(FILLER[:3]), 1.0) for i in range(8)]
    out = ExtractiveSummarizer().summarize("Which flag?", hits, "image")
    assert out.startswith("[1] Mirror 0:")
    assert n_sentences(out) == 1


def test_summarizer_image_one_sentence_per_hit() -> None:
    hits = [Hit(f"Flag of C{i}", f"https://x/{i}", distinct_sentences(i, 3), 1.0) for i in range(8)]
    out = ExtractiveSummarizer().summarize("Which flag?", hits, "image")
    assert [p.split(":")[0] for p in out.split("[")[1:]] == [f"{i + 1}] Flag of C{i}" for i in range(5)]


@pytest.mark.parametrize("position", [0, 7, 19])
@pytest.mark.parametrize("limit", [1, 3])
def test_summarizer_prefers_relevant_sentence(position: int, limit: int) -> None:
    body = FILLER[:position] + [RELEVANT] + FILLER[position:]
    hits = [
        Hit("Weather", "https://x/weather", " ".join(FILLER), 1.0),
        Hit("Europe", "https://x/europe", " ".join(body), 0.5),
    ]
    out = ExtractiveSummarizer(text_sentences=limit).summarize("What is the capital of France?", hits, "text")
    assert RELEVANT in out
    assert n_sentences(out) == limit


def test_summarizer_with_fixture_search(world: FixtureWorld) -> None:
    tools = fixture_toolset(world)
    question = "What is the capital of the country whose flag is shown?"
    hits = tools.text_search.search("capital of France", 5)
    out = tools.summarizer.summarize(question, hits, "text")
    assert "Paris" in out
    assert out.startswith("[1] France:")
    assert n_sentences(out) <= 12


@pytest.mark.parametrize(("text", "image"), [(0, 5), (12, 0)])
def test_summarizer_rejects_bad_limits(text: int, image: int) -> None:
    with pytest.raises(ValueError):
        ExtractiveSummarizer(text_sentences=text, image_sentences=image)
