"""What result records derive from a trajectory: repeated text queries, and whether the question needs a crop."""

from __future__ import annotations

import pytest

from evals.judge import Gold
from evals.records import EvalExample, crop_by_need, needs_crop, repeated_queries


def obs(tool: str, query: str | None, error: str | None = None) -> dict:
    return {"turn": 1, "tool": tool, "query": query, "box": None, "text": "", "error": error, "hits": []}


@pytest.mark.parametrize(
    ("observations", "repeats"),
    [
        ([obs("text_search", "capital of Peru"), obs("text_search", "Peru capital city")], 0),  # a refinement
        ([obs("text_search", "capital of Peru"), obs("text_search", "  Capital of  PERU")], 1),  # the same query
        ([obs("text_search", "a"), obs("text_search", "a"), obs("text_search", "a")], 2),
        ([obs("text_search", "a", error="refused: text search limit"), obs("text_search", "a")], 0),  # not executed
        ([obs("image_search", "the flag"), obs("text_search", "the flag")], 0),  # only text queries count
    ],
)
def test_repeated_queries_counts_word_for_word_repeats(observations: list[dict], repeats: int):
    assert repeated_queries(observations) == repeats


def example(search_type: str, meta: dict) -> EvalExample:
    return EvalExample("q1", "frozenweb", "Q?", "img.png", Gold("Lima"), search_type=search_type, meta=meta)


@pytest.mark.parametrize(
    ("search_type", "meta", "need"),
    [
        ("mixed", {"question": {"target": "the flag on the left"}}, True),
        ("image", {"question": {"target": ""}}, False),  # a single picture: search it whole
        ("none", {"question": {"target": "the flag on the left"}}, False),  # answered from the picture
        ("image", {}, None),  # a benchmark that does not record it
    ],
)
def test_needs_crop_takes_a_target_and_an_image_search(search_type: str, meta: dict, need: bool | None):
    assert needs_crop(example(search_type, meta)) is need


def test_crop_by_need_splits_the_crop_share():
    def rec(need: bool | None, crops: int, observations: tuple[dict, ...] = ()) -> dict:
        cut = [obs("crop", "the flag on the left")] * crops  # a crop that was cut, as the graph records it
        return {"needs_crop": need, "counters": {"crops": crops}, "observations": [*cut, *observations]}

    failed = obs("crop", "the logo", error="grounding failed: no object found in the image")
    records = [rec(True, 1), rec(True, 0), rec(False, 1), rec(False, 0, (failed,)), rec(False, 0), rec(False, 0)]
    assert crop_by_need([*records, rec(None, 1)]) == {"needed": 0.5, "unneeded": 0.5}  # a failed crop was chosen too
    assert crop_by_need([rec(None, 1)]) == {"needed": None, "unneeded": None}
