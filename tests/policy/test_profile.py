"""Prompt profiles: the compact prompts, summary budgets through the graph, and the profile file of checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph import RunConfig, build_graph
from graph.demo import DEMO_SCRIPT
from policy.profile import PROFILE_FILE, PROFILES, get_profile, load_profile
from policy.prompts import INITIAL_PROMPT, after_error, after_image_search, after_text_search, initial_prompt
from policy.scripted import ScriptedPolicy
from tools.base import Hit
from tools.summarize import ExtractiveSummarizer, sentences


def test_compact_prompts_are_short_and_carry_the_question_and_the_information():
    question = "What is the capital of the country whose flag is on the left?"
    compact = initial_prompt(question, style="compact")
    assert question in compact and len(compact) < len(INITIAL_PROMPT) / 4
    for tag in ("<reason>", "<answer>", "<img_search>", "<text_search>"):
        assert tag in compact
    assert "without searching" in initial_prompt(question, "direct", "compact")
    for turn in (after_image_search, after_text_search, after_error):
        text = turn("[1] Paris: the capital.", "compact")
        assert text.startswith("<information>[1] Paris: the capital.</information>\n")
        assert len(text) < 120
        assert turn("x", "compact") != turn("x", "paper")


def test_unknown_styles_and_profiles_are_refused():
    with pytest.raises(ValueError, match="style"):
        initial_prompt("q", style="terse")
    with pytest.raises(ValueError, match="style"):
        RunConfig(style="terse")
    with pytest.raises(ValueError, match="text_sentences"):
        RunConfig(text_sentences=0)
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("tiny")


def test_summary_limit_keeps_the_best_sentences():
    hits = [
        Hit("France", "u1", "France is in Europe. It has many rivers. The capital of France is Paris.", 1.0),
        Hit("Lyon", "u2", "Lyon is a city in France. It is known for food.", 0.5),
    ]
    summ = ExtractiveSummarizer()
    full = summ.summarize("What is the capital of France?", hits, "text")
    one = summ.summarize("What is the capital of France?", hits, "text", limit=1)
    assert len(sentences(full.split(": ", 1)[1])) > 1
    assert one == "[1] France: The capital of France is Paris."
    with pytest.raises(ValueError, match="limit"):
        summ.summarize("q", hits, "text", limit=0)


def test_compact_profile_runs_through_the_graph(tools, inputs):
    context = get_profile("compact").run_config(RunConfig(max_turns=6))
    assert (context.style, context.text_sentences, context.max_turns) == ("compact", 3, 6)
    out = build_graph(ScriptedPolicy(DEMO_SCRIPT), tools).invoke(inputs, context=context)
    assert out["answer"] == "Paris"
    users = ["".join(p.get("text") or "" for p in m["content"]) for m in out["messages"] if m["role"] == "user"]
    assert users[0].startswith("Question: ")
    assert users[1].endswith("Answer, or search by text.")  # after the image search
    assert users[-1].endswith("Answer, or search again.")  # after the last text search
    for obs in out["observations"]:
        if obs["tool"] in ("image_search", "text_search") and obs["text"]:
            assert obs["text"].count("[") <= 3  # at most three sentences, so at most three hit groups


def test_profile_file_round_trip_and_tampering(tmp_path: Path):
    assert load_profile(tmp_path) is None  # a stock checkpoint has none
    get_profile("compact").save(tmp_path)
    assert load_profile(tmp_path) == PROFILES["compact"]
    data = json.loads((tmp_path / PROFILE_FILE).read_text())
    (tmp_path / PROFILE_FILE).write_text(json.dumps({**data, "text_sentences": 7}))
    with pytest.raises(ValueError, match="does not match"):
        load_profile(tmp_path)
