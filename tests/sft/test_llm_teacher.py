"""The LLM teacher: the same pipeline with an OpenAI-compatible model, against a local scripted server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mock_openai import MockOpenAI, Reply
from vqa_helpers import small_config

from sft.data.pipeline import ATTEMPTS, generate

ANSWER = "<reason>I count the flags in the picture.</reason>\n<answer>3</answer>"


def test_llm_teacher_runs_through_the_graph_and_is_judged(fact_world: Path, tmp_path: Path):
    with MockOpenAI([Reply(ANSWER) for _ in range(200)], vllm=False) as server:
        cfg = small_config(
            fact_world,
            tmp_path / "llm",
            n=2,
            rl_n=0,
            eval_n=0,
            search_free_share=1.0,
            teacher="openai",
            base_url=server.url,
            model="mock-vl",
        )
        summary = generate(cfg, progress=False)
        first = server.received[0].body
    recs = [json.loads(line) for line in (tmp_path / "llm" / ATTEMPTS).read_text().splitlines()]
    kept = [r for r in recs if r["use"] == "sft"]
    assert len(kept) == 2 and all(r["prediction"] == "3" and r["question"]["answer"] == "3" for r in kept)
    rejected = [r for r in recs if r["use"] == "none" and "question" in r]
    assert all(r["reason"].startswith("judge") for r in rejected)  # wrong answers are filtered, not kept
    assert summary["uses"]["sft"] == 2
    user = first["messages"][0]["content"]
    assert any(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/") for p in user)
    assert "You are an expert visual assistant" in json.dumps(user)  # the paper's initial prompt
    assert first["model"] == "mock-vl"


def test_openai_teacher_needs_an_endpoint(fact_world: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="base-url"):
        generate(small_config(fact_world, tmp_path / "x", teacher="openai"), progress=False)
