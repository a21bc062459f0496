"""Behaviour of the compiled agent graph with the scripted policy over the fixture world."""

from __future__ import annotations

import pytest

from graph import RunConfig, build_graph
from graph.demo import DEMO_SCRIPT
from policy.protocol import GIVE_UP_ANSWER
from policy.scripted import ByteChatTemplate, ScriptedPolicy
from tools.base import Toolset

R = "<reason>thinking</reason>"


def run(script: list[str], tools: Toolset, inputs: dict, **ctx) -> dict:
    return build_graph(ScriptedPolicy(script), tools).invoke(inputs, context=RunConfig(**ctx))


def tool_sequence(state: dict) -> list[str]:
    return [o["tool"] for o in state["observations"]]


def test_direct_answer(tools, inputs):
    out = run([f"{R}<answer>Paris</answer>"], tools, inputs)
    assert out["answer"] == "Paris"
    assert out["stop_reason"] == "answered"
    assert out["observations"] == []
    assert out["counters"]["turns"] == 1 and out["counters"]["tool_calls"] == 0
    assert [m["role"] for m in out["messages"]] == ["user", "assistant"]


def test_crop_image_text_refined_text_answer(tools, inputs):
    out = run(DEMO_SCRIPT, tools, inputs)
    assert out["answer"] == "Paris"
    assert tool_sequence(out) == ["crop", "image_search", "text_search", "text_search"]
    crop, image, first, second = out["observations"]
    assert crop["box"] == [144, 24, 240, 88]  # the middle flag of three 96x64 flags with 24 px gaps
    assert image["hits"][0]["title"] == "Flag of France"
    assert "Paris" in second["text"]
    assert out["counters"] == {
        "turns": 4,
        "tool_calls": 3,
        "image_searches": 1,
        "text_searches": 2,
        "crops": 1,
        "parse_errors": 0,
        "refused_calls": 0,
        "response_tokens": out["counters"]["response_tokens"],
    }
    # reflect records the refinement and what changed
    refl = out["reflections"]
    assert [r["tool"] for r in refl] == ["image_search", "text_search", "text_search"]
    assert refl[1]["refined_from"] is None
    assert refl[2]["refined_from"] == "France flag"
    assert "capital" in refl[2]["question_terms_found"]
    # the crop is a new image in the state, pointing back at the question image
    assert [i["id"] for i in out["images"]] == ["original", "crop-1"]
    assert out["images"][1]["parent"] == "original" and out["images"][1]["box"] == crop["box"]
    # tool results reach the model inside <information>, in the after-search templates
    user_turns = [m for m in out["messages"] if m["role"] == "user"][1:]
    assert all("<information>" in m["content"][0]["text"] for m in user_turns)
    assert "Review the image-search results" in user_turns[0]["content"][0]["text"]
    assert "Compare these results" in user_turns[1]["content"][0]["text"]


def test_whole_image_search(tools, inputs):
    out = run([f"{R}<img_search><img></img_search>", f"{R}<answer>flags</answer>"], tools, inputs)
    assert tool_sequence(out) == ["image_search"]
    assert out["observations"][0]["image_id"] == "original"
    assert out["counters"]["crops"] == 0 and out["counters"]["image_searches"] == 1


def test_explicit_box_search(tools, inputs):
    out = run([f"{R}<img_search>[24, 24, 120, 88]</img_search>", f"{R}<answer>Japan</answer>"], tools, inputs)
    assert tool_sequence(out) == ["crop", "image_search"]
    assert out["observations"][1]["hits"][0]["title"] == "Flag of Japan"


def test_parse_error_becomes_observation(tools, inputs):
    out = run(["<answer>no reason given</answer>", f"{R}<answer>Paris</answer>"], tools, inputs)
    assert out["answer"] == "Paris"
    assert out["turns"][0]["parse_error"] == "missing_reason"
    assert out["observations"][0]["tool"] == "format"
    assert out["counters"]["parse_errors"] == 1
    assert "Invalid format" in out["messages"][2]["content"][0]["text"]


def test_second_image_search_refused(tools, inputs):
    script = [
        f"{R}<img_search><img></img_search>",
        f"{R}<img_search>the flag on the left</img_search>",
        f"{R}<answer>x</answer>",
    ]
    out = run(script, tools, inputs)
    assert tool_sequence(out) == ["image_search", "crop"]
    assert "already used" in out["observations"][1]["error"]
    assert out["counters"]["image_searches"] == 1 and out["counters"]["refused_calls"] == 1
    assert out["counters"]["crops"] == 0


def test_crop_disabled_by_run_config(tools, inputs):
    out = run(
        [f"{R}<img_search>the flag on the left</img_search>", f"{R}<answer>x</answer>"],
        tools,
        inputs,
        allow_crop=False,
    )
    assert "disabled" in out["observations"][0]["error"]


def test_tool_call_cap(tools, inputs):
    script = [f"{R}<text_search>capital {i}</text_search>" for i in range(4)] + [f"{R}<answer>x</answer>"]
    out = run(script, tools, inputs, max_tool_calls=2)
    assert out["counters"]["tool_calls"] == 2 and out["counters"]["refused_calls"] == 2
    assert [o["error"] is not None for o in out["observations"]] == [False, False, True, True]
    assert "Tool-call limit" in out["observations"][2]["error"]
    assert out["answer"] == "x"


def test_max_turns_gives_up(tools, inputs):
    script = [f"{R}<text_search>France {i}</text_search>" for i in range(10)]
    out = run(script, tools, inputs, max_turns=3)
    assert out["counters"]["turns"] == 3
    assert out["answer"] == GIVE_UP_ANSWER and out["stop_reason"] == "max_turns"


def test_consecutive_format_errors_stop_the_run(tools, inputs):
    search, answer = f"{R}<text_search>France</text_search>", f"{R}<answer>x</answer>"
    script = ["no tags", search, "still no tags", "nor here", answer]
    out = run(script, tools, inputs, max_format_errors=2)
    # the valid search between the first two malformed turns resets the count: turns 3 and 4 stop it
    assert out["counters"]["turns"] == 4 and out["counters"]["parse_errors"] == 3
    assert out["answer"] == GIVE_UP_ANSWER and out["stop_reason"] == "format_errors"
    unlimited = run(script, tools, inputs)
    assert unlimited["answer"] == "x" and unlimited["counters"]["turns"] == 5


def test_turn_limit_wins_over_format_errors(tools, inputs):
    out = run(["bad", "bad", "bad"], tools, inputs, max_turns=2, max_format_errors=2)
    assert out["stop_reason"] == "max_turns"


def test_response_budget_stops_run(tools, inputs):
    long = f"<reason>{'word ' * 50}</reason><text_search>France</text_search>"
    out = run([long] * 5, tools, inputs, max_response_tokens=300)
    assert out["stop_reason"] == "response_budget"
    assert out["counters"]["response_tokens"] >= 300
    assert out["counters"]["turns"] < 5


class ExplodingSearch:
    """A text-search backend that fails like a live service."""

    def search(self, query: str, k: int):
        raise ConnectionError("search service unreachable")


def test_tool_backend_raising_is_observed(tools, inputs, caplog):
    broken = Toolset(
        text_search=ExplodingSearch(),
        image_search=tools.image_search,
        grounder=tools.grounder,
        summarizer=tools.summarizer,
    )
    out = run([f"{R}<text_search>France</text_search>", f"{R}<answer>x</answer>"], broken, inputs)
    obs = out["observations"][0]
    assert "ConnectionError" in obs["error"] and "unreachable" in obs["error"]
    assert out["answer"] == "x"
    assert "text search backend raised" in caplog.text


def test_grounding_failure_is_observed(tools, inputs):
    out = run([f"{R}<img_search>the fifth flag</img_search>", f"{R}<answer>x</answer>"], tools, inputs)
    assert tool_sequence(out) == ["crop"]
    assert "only 3 objects" in out["observations"][0]["error"]
    assert out["counters"]["image_searches"] == 0  # the image search was not spent


def test_box_outside_image_is_observed(tools, inputs):
    out = run([f"{R}<img_search>[5000, 5000, 6000, 6000]</img_search>", f"{R}<answer>x</answer>"], tools, inputs)
    assert "outside" in out["observations"][0]["error"]


def test_token_trace_is_exact(tools, inputs):
    out = run(DEMO_SCRIPT, tools, inputs)
    trace, template = out["trace"], ByteChatTemplate()
    full = template.encode(template.render(out["messages"], add_generation_prompt=False))
    assert trace["prompt_ids"] + trace["completion_ids"] == full
    assert len(trace["completion_ids"]) == len(trace["env_mask"]) == len(trace["logprobs"])
    policy_tokens = sum(len(template.completion(t["output"])) for t in out["turns"])
    assert sum(trace["env_mask"]) == policy_tokens == out["counters"]["response_tokens"]
    # every environment token decodes to text that the environment wrote, never to policy text
    env_text = bytes(i for i, m in zip(trace["completion_ids"], trace["env_mask"], strict=True) if m == 0).decode()
    assert "<information>" in env_text
    assert not any(t["output"] in env_text for t in out["turns"])


def test_concurrent_runs_share_one_graph(tools, inputs):
    graph = build_graph(ScriptedPolicy(DEMO_SCRIPT), tools)
    outs = graph.batch([inputs] * 4, context=RunConfig())
    assert [o["answer"] for o in outs] == ["Paris"] * 4
    assert len({tuple(o["trace"]["completion_ids"]) for o in outs}) == 1


def test_empty_question_is_rejected(tools, inputs):
    with pytest.raises(ValueError, match="question is empty"):
        run([f"{R}<answer>x</answer>"], tools, {**inputs, "question": "  "})


def test_graph_defaults_apply_to_runs_without_a_context(tools, inputs):
    from graph.build import with_defaults

    graph = with_defaults(build_graph(ScriptedPolicy(DEMO_SCRIPT), tools), RunConfig(max_turns=1))
    capped = graph.invoke(inputs)  # what a bare Studio run does: no context=
    assert capped["counters"]["turns"] == 1 and capped["stop_reason"] != "answered"
    free = graph.invoke(inputs, context=RunConfig())  # an explicit context wins
    assert free["stop_reason"] == "answered" and free["counters"]["turns"] > 1
