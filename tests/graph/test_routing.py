"""Pure routing and limit functions: route_after_*, nodes.limits.refusal, nodes.reflect, RunConfig validation."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.runtime import Runtime

from graph.context import RunConfig, run_config
from graph.routing import route_after_crop, route_after_reason, route_after_reflect
from graph.state import Counters, Observation, new_counters
from nodes.limits import refusal
from nodes.reflect import content_words, information_text, reflect_on
from policy.protocol import ActionDict


def counters(**kw: int) -> Counters:
    c = new_counters()
    c.update(kw)  # type: ignore[typeddict-item]
    return c


def obs(
    tool: str = "text_search", error: str | None = None, query: str | None = "q", urls=(), **kw: Any
) -> Observation:
    return Observation(
        turn=kw.get("turn", 1),
        tool=tool,  # type: ignore[typeddict-item]
        query=query,
        image_id=kw.get("image_id"),
        box=kw.get("box"),
        hits=[{"title": kw.get("title", u.rsplit("/", 1)[-1]), "url": u, "snippet": "", "score": 1.0} for u in urls],
        text=kw.get("text", ""),
        error=error,
    )


def state(pending: ActionDict | None = None, observations=(), question: str = "What is this?", **c: int) -> dict:
    return {
        "question": question,
        "pending": pending,
        "observations": list(observations),
        "counters": counters(**c),
    }


def act(kind: str, text: str = "", box: list[int] | None = None) -> ActionDict:
    return ActionDict(kind=kind, text=text, box=box)  # type: ignore[typeddict-item]


def rt(**kw: Any) -> Runtime:
    return Runtime(context=RunConfig(**kw))


# --- route_after_reason ---------------------------------------------------------------------------------------------

REASON = [
    ("answer", state(act("answer", "Paris")), rt(), "answer"),
    ("answer_over_budget", state(act("answer", "Paris"), response_tokens=10**6), rt(), "answer"),
    ("text_search", state(act("text_search", "capital of France")), rt(), "text_search"),
    ("whole_image", state(act("img_search")), rt(), "image_search"),
    ("referring_expression", state(act("img_search", "the left flag")), rt(), "crop"),
    ("explicit_box", state(act("img_search", box=[0, 0, 10, 10])), rt(), "crop"),
    ("format_error", state(None, [obs("format", error="no action")]), rt(), "reflect"),
    ("format_error_after_search", state(None, [obs("text_search"), obs("format", error="x")]), rt(), "reflect"),
    ("budget_exhausted", state(act("text_search", "q"), response_tokens=8192), rt(), "answer"),
    ("budget_exceeded_img", state(act("img_search"), response_tokens=9000), rt(), "answer"),
    ("budget_not_yet", state(act("text_search", "q"), response_tokens=8191), rt(), "text_search"),
    ("small_budget", state(act("img_search", "left"), response_tokens=100), rt(max_response_tokens=100), "answer"),
    (
        "budget_on_format_error",
        state(None, [obs("format", error="x")], response_tokens=50),
        rt(max_response_tokens=50),
        "answer",
    ),
    (
        "no_context_defaults",
        state(act("text_search", "q"), response_tokens=8191),
        Runtime(context=None),
        "text_search",
    ),
    ("no_context_budget", state(act("text_search", "q"), response_tokens=8192), Runtime(context=None), "answer"),
    (
        "dict_context",
        state(act("text_search", "q"), response_tokens=5),
        Runtime(context={"max_response_tokens": 5}),
        "answer",
    ),
]


@pytest.mark.parametrize(("st", "runtime", "expected"), [r[1:] for r in REASON], ids=[r[0] for r in REASON])
def test_route_after_reason(st: dict, runtime: Runtime, expected: str) -> None:
    assert route_after_reason(st, runtime) == expected  # type: ignore[arg-type]


REASON_ERRORS = [
    ("nothing_pending_no_observation", state(None), "neither an action nor a format error"),
    ("nothing_pending_last_not_format", state(None, [obs("format", error="x"), obs("text_search")]), "neither"),
    ("nothing_pending_after_crop_error", state(None, [obs("crop", error="no object")]), "neither"),
    ("unknown_kind", state(act("shell", "rm -rf /")), "unknown action kind 'shell'"),
]


@pytest.mark.parametrize(("st", "match"), [r[1:] for r in REASON_ERRORS], ids=[r[0] for r in REASON_ERRORS])
def test_route_after_reason_errors(st: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        route_after_reason(st, rt())  # type: ignore[arg-type]


# --- route_after_crop / route_after_reflect -------------------------------------------------------------------------

CROP = [
    ("crop_ok", [obs("crop", query="left", box=[0, 0, 10, 10])], "image_search"),
    ("crop_failed", [obs("crop", error="no object matches 'left'")], "reflect"),
    ("crop_refused", [obs("crop", error="Cropped image search is disabled in this run.")], "reflect"),
    ("earlier_error_ignored", [obs("crop", error="bad"), obs("crop", box=[0, 0, 5, 5])], "image_search"),
    ("only_last_counts", [obs("crop", box=[0, 0, 5, 5]), obs("crop", error="bad")], "reflect"),
    ("empty_error_is_no_error", [obs("crop", error="")], "image_search"),
]


@pytest.mark.parametrize(("observations", "expected"), [r[1:] for r in CROP], ids=[r[0] for r in CROP])
def test_route_after_crop(observations: list, expected: str) -> None:
    assert route_after_crop(state(None, observations)) == expected  # type: ignore[arg-type]


REFLECT = [
    ("first_turn", 1, rt(), "reason"),
    ("below_default", 9, rt(), "reason"),
    ("at_default", 10, rt(), "answer"),
    ("beyond_default", 11, rt(), "answer"),
    ("single_turn", 1, rt(max_turns=1), "answer"),
    ("three_turns_at_two", 2, rt(max_turns=3), "reason"),
    ("three_turns_at_three", 3, rt(max_turns=3), "answer"),
    ("no_context", 10, Runtime(context=None), "answer"),
    ("dict_context", 2, Runtime(context={"max_turns": 2}), "answer"),
]


@pytest.mark.parametrize(("turns", "runtime", "expected"), [r[1:] for r in REFLECT], ids=[r[0] for r in REFLECT])
def test_route_after_reflect(turns: int, runtime: Runtime, expected: str) -> None:
    assert route_after_reflect(state(None, turns=turns), runtime) == expected  # type: ignore[arg-type]


def test_run_config_from_runtime() -> None:
    cfg = RunConfig(max_turns=3)
    assert run_config(Runtime(context=cfg)) is cfg
    assert run_config(Runtime(context=None)) == RunConfig()
    assert run_config(Runtime(context={"max_turns": 3})) == cfg
    with pytest.raises(ValueError):
        run_config(Runtime(context={"max_turns": 0}))


# --- refusal --------------------------------------------------------------------------------------------------------

TS = act("text_search", "capital of France")
WHOLE = act("img_search")
EXPR = act("img_search", "the left flag")
BOX = act("img_search", box=[0, 0, 10, 10])

REFUSAL = [
    # (name, action, counters, config, expected substring or None when allowed)
    ("text_first", TS, counters(), RunConfig(), None),
    ("whole_first", WHOLE, counters(), RunConfig(), None),
    ("expr_first", EXPR, counters(), RunConfig(), None),
    ("box_first", BOX, counters(), RunConfig(), None),
    ("tool_cap_text", TS, counters(tool_calls=10), RunConfig(), "Tool-call limit reached (10 calls)"),
    (
        "tool_cap_image",
        WHOLE,
        counters(tool_calls=3),
        RunConfig(max_tool_calls=3),
        "Tool-call limit reached (3 calls)",
    ),
    (
        "tool_cap_first",
        WHOLE,
        counters(tool_calls=3, image_searches=1),
        RunConfig(max_tool_calls=3),
        "Tool-call limit",
    ),
    ("below_tool_cap", TS, counters(tool_calls=9, text_searches=9), RunConfig(), None),
    ("second_image_search", WHOLE, counters(tool_calls=1, image_searches=1), RunConfig(), "only 1 time(s)"),
    ("second_image_search_crop", EXPR, counters(tool_calls=1, image_searches=1), RunConfig(), "already used"),
    ("second_allowed_when_two", BOX, counters(tool_calls=1, image_searches=1), RunConfig(max_image_searches=2), None),
    ("no_image_search_at_all", WHOLE, counters(), RunConfig(max_image_searches=0), "Image search is not available"),
    ("image_cap_not_text", TS, counters(tool_calls=1, image_searches=1), RunConfig(), None),
    ("crop_disabled_expr", EXPR, counters(), RunConfig(allow_crop=False), "Cropped image search is disabled"),
    ("crop_disabled_box", BOX, counters(), RunConfig(allow_crop=False), "<img_search><img></img_search>"),
    ("crop_disabled_whole_ok", WHOLE, counters(), RunConfig(allow_crop=False), None),
    ("crop_disabled_text_ok", TS, counters(), RunConfig(allow_crop=False), None),
    ("text_cap", TS, counters(tool_calls=1, text_searches=1), RunConfig(max_text_searches=1), "only 1 time(s)"),
    ("text_cap_zero", TS, counters(), RunConfig(max_text_searches=0), "Text search is not available"),
    ("text_below_cap", TS, counters(tool_calls=1, text_searches=1), RunConfig(max_text_searches=2), None),
    ("text_cap_not_image", WHOLE, counters(tool_calls=1, text_searches=1), RunConfig(max_text_searches=1), None),
    ("text_uncapped", TS, counters(tool_calls=5, text_searches=5), RunConfig(max_text_searches=None), None),
]


@pytest.mark.parametrize(("action", "cnt", "cfg", "expected"), [r[1:] for r in REFUSAL], ids=[r[0] for r in REFUSAL])
def test_refusal(action: ActionDict, cnt: Counters, cfg: RunConfig, expected: str | None) -> None:
    why = refusal(action, cnt, cfg)
    if expected is None:
        assert why is None
    else:
        assert why is not None and expected in why


# --- reflect --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("What is the capital of the country whose flag is shown?", ["capital", "country", "flag"]),
        ("Paris, PARIS and paris!", ["paris"]),
        ("a I x 7 42", ["42"]),
        ("", []),
        ("the of and", []),
    ],
)
def test_content_words(text: str, words: list[str]) -> None:
    assert content_words(text) == words


Q = "What is the capital of the country whose flag is shown?"
FR = "https://fixture.web/wiki/France"
PA = "https://fixture.web/wiki/Paris"
DE = "https://fixture.web/wiki/Germany"


def test_reflect_marks_refinement_and_sources() -> None:
    first = obs("text_search", query="France", urls=[FR, DE], text="France is a country in Europe.", turn=2)
    second = obs("text_search", query="capital of France", urls=[FR, PA, PA], text="The capital is Paris.", turn=3)
    r = reflect_on(state(None, [first, second], question=Q), second)  # type: ignore[arg-type]
    assert r["turn"] == 3
    assert r["tool"] == "text_search"
    assert r["query"] == "capital of France"
    assert r["refined_from"] == "France"
    assert r["new_sources"] == [PA]  # deduplicated, in hit order
    assert r["repeated_sources"] == [FR]
    assert r["question_terms_found"] == ["capital"]
    assert r["question_terms_missing"] == ["country", "flag"]
    assert "refining 'France'" in r["note"] and "1 new source(s), 1 seen before" in r["note"]


def test_reflect_first_search_refines_nothing() -> None:
    only = obs("text_search", query="France", urls=[FR, PA], text="France is a country; its flag is blue.")
    r = reflect_on(state(None, [only], question=Q), only)  # type: ignore[arg-type]
    assert r["refined_from"] is None
    assert r["new_sources"] == [FR, PA]
    assert r["repeated_sources"] == []
    assert r["question_terms_found"] == ["country", "flag"]
    assert "refining" not in r["note"]


@pytest.mark.parametrize(
    ("earlier", "last", "refined_from"),
    [
        # the most recent successful text query is the one refined
        ([obs(query="a"), obs(query="b")], obs(query="c"), "b"),
        # failed text searches and other tools are skipped
        ([obs(query="a"), obs(query="b", error="timeout")], obs(query="c"), "a"),
        ([obs(query="a"), obs("image_search", query=None)], obs(query="c"), "a"),
        ([obs("image_search", query=None), obs("crop", query="left")], obs(query="c"), None),
        # an image search never refines a text query
        ([obs(query="a")], obs("image_search", query=None), None),
    ],
)
def test_reflect_refined_from(earlier: list, last: Observation, refined_from: str | None) -> None:
    r = reflect_on(state(None, [*earlier, last], question=Q), last)  # type: ignore[arg-type]
    assert r["refined_from"] == refined_from


def test_reflect_counts_image_search_sources_against_text_search() -> None:
    text = obs("text_search", query="France", urls=[FR])
    image = obs("image_search", query=None, urls=[FR, DE], title="Flag of France", text="A tricolour.")
    r = reflect_on(state(None, [text, image], question=Q), image)  # type: ignore[arg-type]
    assert r["new_sources"] == [DE]
    assert r["repeated_sources"] == [FR]
    assert "flag" in r["question_terms_found"]  # from the hit titles
    assert "(whole image)" in r["note"]


def test_reflect_error_observation() -> None:
    failed = obs("text_search", query="capital of France", error="the query is empty")
    r = reflect_on(state(None, [failed], question=Q), failed)  # type: ignore[arg-type]
    assert r["new_sources"] == [] and r["repeated_sources"] == []
    assert r["note"] == "text_search gave no evidence: the query is empty"
    assert information_text(failed) == "the query is empty"


def test_information_text() -> None:
    assert information_text(obs("text_search", text="Paris.")) == "Paris."
    with pytest.raises(ValueError):
        information_text(obs("crop", box=[0, 0, 5, 5]))


# --- RunConfig ------------------------------------------------------------------------------------------------------

BAD_CONFIGS = [
    {"max_turns": 0},
    {"max_turns": -1},
    {"max_tool_calls": 0},
    {"max_response_tokens": 0},
    {"max_new_tokens": 0},
    {"max_image_searches": -1},
    {"max_text_searches": -1},
    {"max_format_errors": 0},
    {"temperature": -0.1},
    {"top_p": 0.0},
    {"top_p": -0.5},
    {"top_p": 1.01},
]


@pytest.mark.parametrize(
    "kw", BAD_CONFIGS, ids=[next(iter(k)) + "=" + str(next(iter(k.values()))) for k in BAD_CONFIGS]
)
def test_run_config_rejects(kw: dict) -> None:
    with pytest.raises(ValueError):
        RunConfig(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"max_turns": 1, "max_tool_calls": 1, "max_response_tokens": 1, "max_new_tokens": 1},
        {"max_image_searches": 0, "max_text_searches": 0},
        {"max_text_searches": None},
        {"temperature": 0.0, "top_p": 1.0},
        {"temperature": 1.5, "top_p": 0.01},
        {"allow_crop": False},
    ],
)
def test_run_config_accepts(kw: dict) -> None:
    cfg = RunConfig(**kw)
    for k, v in kw.items():
        assert getattr(cfg, k) == v


def test_run_config_is_frozen_and_keyword_only() -> None:
    cfg = RunConfig()
    with pytest.raises(AttributeError):
        cfg.max_turns = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        RunConfig(3)  # type: ignore[misc]
