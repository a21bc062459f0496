import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.base import ToolError, Toolset
from tools.composites import jpeg, random_composite
from tools.frozen import FrozenImageSearch, FrozenTextSearch, frozen_toolset
from world.image_index import DescriptorEmbedder, ImageIndex, flatten
from world.text_index import TextIndex, snippet, tokenize


@pytest.fixture(scope="module")
def text(world_dir: Path) -> FrozenTextSearch:
    return FrozenTextSearch.open(world_dir)


@pytest.fixture(scope="module")
def images(world_dir: Path) -> FrozenImageSearch:
    return FrozenImageSearch.open(world_dir)


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("capital of Japan", "Japan"),
        ("Stockholm Sweden capital city", "Stockholm"),
        ("Kyiv", "Kyiv"),
        ("which country has the capital Amsterdam", "Netherlands"),
    ],
)
def test_text_search_ranks_the_right_page(text: FrozenTextSearch, query: str, title: str):
    hits = text.search(query, 5)
    assert title in [h.title for h in hits[:2]]
    assert all(h.url.startswith("https://") and h.snippet for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_text_search_is_deterministic_and_snippets_hold_the_fact(text: FrozenTextSearch):
    a, b = text.search("population of Germany", 3), text.search("population of Germany", 3)
    assert a == b
    assert "84 million" in a[0].snippet


def test_snippet_picks_the_matching_sentence():
    body = "Alpha is a town. Its mayor is Bob. The river Zed flows through it. Bread is cheap."
    assert snippet(body, "river zed", max_chars=30).startswith("The river Zed")
    assert tokenize("The Flags of Côte d'Ivoire") == ["flag", "cote", "d", "ivoire"]


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "empty"), ("   ", "empty"), ("x" * 10_000, "10000 characters"), ("the of and", "no searchable words")],
)
def test_text_search_rejects_bad_queries(text: FrozenTextSearch, query: str, message: str):
    with pytest.raises(ToolError, match=message):
        text.search(query, 5)


def test_unknown_words_give_no_hits(text: FrozenTextSearch):
    assert text.search("zzyzx qwxv", 5) == []


def test_bad_k_and_unknown_ids(text: FrozenTextSearch, images: FrozenImageSearch):
    with pytest.raises(ToolError, match="out of range"):
        text.search("Japan", 0)
    with pytest.raises(ToolError, match="no page"):
        text.page("fixture:atlantis")
    assert text.page("fixture:japan").title == "Japan"
    with pytest.raises(ToolError, match="no image"):
        images.image("fixture:flag-atlantis")


def test_image_search_finds_a_crop_of_a_composite(images: FrozenImageSearch):
    rng = random.Random(3)
    ids = [r.id for r in images.store.images]
    found = 0
    for t in range(len(ids)):
        pics = [images.image(ids[t]), images.image(ids[(t + 1) % len(ids)]), images.image(ids[(t + 5) % len(ids)])]
        comp = random_composite(pics, rng, n=3)
        x0, y0, x1, y1 = comp.boxes[comp.sources.index(0)]
        dx, dy = (x1 - x0) // 25, (y1 - y0) // 25  # ±4 % jitter
        crop = jpeg(comp.image.crop((x0 + dx, y0 - dy, x1 - dx, y1 + dy)), 75)
        hits = images.search(crop, 3)
        found += hits[0].image_id == ids[t]
        assert hits[0].url and hits[0].title and hits[0].snippet
    assert found / len(ids) >= 0.9


def test_image_search_exact_and_hnsw_agree(world_dir: Path, images: FrozenImageSearch):
    hnsw = FrozenImageSearch.open(world_dir, kind="hnsw")
    flag = images.image("fixture:flag-sweden")
    assert hnsw.search(flag, 1)[0].image_id == images.search(flag, 1)[0].image_id == "fixture:flag-sweden"


@pytest.mark.parametrize("size", [(1, 1), (4, 30)])
def test_image_search_rejects_tiny_images(images: FrozenImageSearch, size: tuple[int, int]):
    with pytest.raises(ToolError, match="at least"):
        images.search(Image.new("RGB", size, "red"), 5)


def test_image_search_rejects_huge_images(images: FrozenImageSearch):
    huge = Image.new("1", (20_000, 20_000))  # 50 MB as a bitmap; never described
    with pytest.raises(ToolError, match="pixel limit"):
        images.search(huge, 5)


def test_non_image_bytes_fail_before_the_backend():
    from tools.images import ImageError, open_image

    with pytest.raises(ImageError, match="not an image"):
        open_image("data:image/png;base64," + __import__("base64").b64encode(b"not a png").decode())


def test_descriptor_is_unit_norm_and_handles_transparency_and_odd_shapes():
    emb = DescriptorEmbedder()
    rgba = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    assert flatten(rgba).getpixel((0, 0)) == (255, 255, 255)
    for img in (rgba, Image.new("L", (300, 9)), Image.new("RGB", (9, 300), "blue"), Image.new("P", (50, 50))):
        v = emb.describe(img)
        assert v.dtype == np.float32 and abs(float(np.linalg.norm(v)) - 1) < 1e-5


def test_indexes_round_trip(tmp_path: Path, world_dir: Path):
    vec = ImageIndex.load(world_dir / "index" / "image")
    vec.save(tmp_path / "img")
    assert np.array_equal(ImageIndex.load(tmp_path / "img").vectors, vec.vectors)
    text = TextIndex.load(world_dir / "index" / "text")
    text.save(tmp_path / "txt")
    assert TextIndex.load(tmp_path / "txt").search("Tokyo", 3) == text.search("Tokyo", 3)


def test_frozen_toolset_is_a_toolset(world_dir: Path):
    tools = frozen_toolset(world_dir, top_k=3)
    assert isinstance(tools, Toolset) and tools.top_k == 3
    hits = tools.text_search.search("capital of Italy", tools.top_k)
    assert hits[0].title in ("Italy", "Rome")
    assert "Rome" in tools.summarizer.summarize("What is the capital of Italy?", hits, "text")


def test_frozen_toolset_refuses_a_missing_world(tmp_path: Path):
    with pytest.raises(ValueError, match="not a built world"):
        frozen_toolset(tmp_path)


def test_png_bytes_round_trip_through_search(images: FrozenImageSearch):
    buf = io.BytesIO()
    images.image("fixture:flag-japan").save(buf, format="PNG")
    assert images.search(Image.open(io.BytesIO(buf.getvalue())), 1)[0].image_id == "fixture:flag-japan"


@pytest.mark.parametrize("query", ["capital of Japan", "population population France", "flag tricolour Europe"])
def test_sparse_scores_equal_bm25s(text: FrozenTextSearch, query: str):
    index = text.index
    ours = index.sparse(query, index.n_docs)
    expected = index.bm25.get_scores([t for t in tokenize(query) if t in index.bm25.vocab_dict])
    assert {d for d, _ in ours} == set(np.flatnonzero(expected > 0).tolist())
    assert np.allclose([s for _, s in ours], expected[[d for d, _ in ours]])
    assert ours == sorted(ours, key=lambda t: (-t[1], t[0]))  # best first, ties by page order
