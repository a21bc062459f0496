"""The SQLite record/replay cache: keys, modes, replay without network, misses, sharing between threads."""

from __future__ import annotations

import io
import threading

import pytest
from mock_search_apis import Reply, mock_api
from PIL import Image

from tools.base import Hit, ToolError
from tools.cache import CachedImageSearch, CachedTextSearch, SearchCache, image_key, normalise_query
from tools.live import Backoff, LensImageSearch, TavilyTextSearch

FAST = Backoff(attempts=2, initial=0.01, max_delay=0.02)


class Counting:
    """A text/image backend that counts its calls (and can be made to fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def search(self, arg, k: int) -> list[Hit]:
        self.calls += 1
        if self.fail:
            raise ToolError("backend down")
        label = arg if isinstance(arg, str) else f"img{arg.size}"
        return [Hit(title=f"{label} {i}", url=f"https://x/{i}", snippet="s", score=1.0 - i / 10) for i in range(k)]


class Exploding:
    def search(self, arg, k: int) -> list[Hit]:
        raise AssertionError("replay must not call the backend")


def test_normalise_query():
    assert normalise_query("  Capital   of\tFRANCE ") == "capital of france"
    assert normalise_query("Ｃａｐｉｔａｌ") == "capital"  # NFKC folds full-width letters


def test_image_key_is_by_pixels_not_encoding():
    img = Image.new("RGB", (40, 30), "#0055A4")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    again = Image.open(io.BytesIO(buf.getvalue()))
    assert image_key(img) == image_key(again) == image_key(img.convert("RGBA"))
    assert image_key(img) != image_key(Image.new("RGB", (30, 40), "#0055A4"))
    assert image_key(img) != image_key(Image.new("RGB", (40, 30), "#0055A5"))


def test_record_then_replay(tmp_path):
    backend = Counting()
    cache = SearchCache(tmp_path / "c.sqlite", "record")
    search = CachedTextSearch(backend, cache, name="tavily")
    first = search.search("Capital of France", 5)
    assert search.search("capital  of france", 5) == first and backend.calls == 1  # normalised key
    assert search.search("capital of france", 3) == first[:3] and backend.calls == 1  # smaller k from the entry
    bigger = search.search("capital of france", 8)  # larger k: a new call, which replaces the entry
    assert backend.calls == 2
    cache.close()

    replay = CachedTextSearch(Exploding(), SearchCache(tmp_path / "c.sqlite", "replay"), name="tavily")
    assert replay.search("CAPITAL OF FRANCE", 5) == bigger[:5]
    with pytest.raises(ToolError, match="no tavily result for 'capital of italy'"):
        replay.search("capital of Italy", 5)


def test_backend_name_is_part_of_the_key(tmp_path):
    cache = SearchCache(tmp_path / "c.sqlite")
    CachedTextSearch(Counting(), cache, name="a").search("q", 2)
    with pytest.raises(ToolError):
        CachedTextSearch(Exploding(), SearchCache(tmp_path / "c.sqlite", "replay"), name="b").search("q", 2)


def test_short_answers_serve_any_k(tmp_path):
    class Two(Counting):
        def search(self, arg, k):
            return super().search(arg, 2)

    backend = Two()
    search = CachedTextSearch(backend, SearchCache(tmp_path / "c.sqlite"))
    search.search("rare", 5)
    assert len(search.search("rare", 10)) == 2 and backend.calls == 1  # the backend had nothing more


def test_errors_are_not_recorded(tmp_path):
    cache = SearchCache(tmp_path / "c.sqlite")
    with pytest.raises(ToolError, match="backend down"):
        CachedTextSearch(Counting(fail=True), cache).search("q", 2)
    assert len(cache) == 0


def test_off_mode_touches_no_file(tmp_path):
    backend = Counting()
    search = CachedTextSearch(backend, SearchCache(tmp_path / "never.sqlite", "off"))
    search.search("q", 2)
    search.search("q", 2)
    assert backend.calls == 2 and not (tmp_path / "never.sqlite").exists()


def test_bad_mode_and_missing_replay_file(tmp_path):
    with pytest.raises(ValueError, match="not one of"):
        SearchCache(tmp_path / "c.sqlite", "write")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record one first"):
        SearchCache(tmp_path / "missing.sqlite", "replay")


def test_image_cache(tmp_path):
    backend = Counting()
    cache = SearchCache(tmp_path / "c.sqlite")
    search = CachedImageSearch(backend, cache, name="lens")
    img = Image.new("RGB", (40, 30), "red")
    hits = search.search(img, 3)
    assert search.search(img.copy(), 3) == hits and backend.calls == 1
    replay = CachedImageSearch(Exploding(), SearchCache(tmp_path / "c.sqlite", "replay"), name="lens")
    assert replay.search(img, 2) == hits[:2]
    with pytest.raises(ToolError, match="no lens result for image 40x30"):
        replay.search(Image.new("RGB", (40, 30), "blue"), 2)


def test_threads_share_one_cache(tmp_path):
    cache = SearchCache(tmp_path / "c.sqlite")
    search = CachedTextSearch(Counting(), cache)
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                search.search(f"q{(n + i) % 7}", 3)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) == 7


def test_live_backends_record_then_replay_without_network(tmp_path):
    """Record through the mock Tavily and Lens APIs, stop them, replay from the file alone."""
    flag = Image.new("RGB", (96, 64), "#169B62")
    with mock_api() as api:
        api.queue("/search", Reply(500, {}))  # a retried failure on the way is fine
        cache = SearchCache(tmp_path / "live.sqlite")
        text = CachedTextSearch(TavilyTextSearch("tvly-k", api.url, backoff=FAST), cache, name="tavily")
        image = CachedImageSearch(LensImageSearch(f"{api.url}/lens", "k", backoff=FAST), cache, name="lens")
        recorded = (text.search("capital of Ireland", 5), image.search(flag, 5))
        text.search("capital of Ireland", 5)
        assert api.calls("/search") == 2 and api.calls("/lens/search") == 1
        dead = api.url
    cache.close()
    replay = SearchCache(tmp_path / "live.sqlite", "replay")
    text = CachedTextSearch(TavilyTextSearch("tvly-k", dead, backoff=FAST), replay, name="tavily")
    image = CachedImageSearch(LensImageSearch(f"{dead}/lens", "k", backoff=FAST), replay, name="lens")
    assert (text.search("Capital of Ireland", 5), image.search(flag, 5)) == recorded
    with pytest.raises(ToolError, match="replay cache has no tavily result"):
        text.search("capital of Japan", 5)
