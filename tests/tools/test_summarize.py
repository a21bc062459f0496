"""Summarisers: the extractive default (question-conditioned, paper's sentence budgets) and the LLM one on a mock."""

from __future__ import annotations

import pytest
from mock_search_apis import Reply, mock_api

from tools.base import Hit, ToolError
from tools.fixture import fixture_toolset
from tools.live import Backoff, ChatEndpoint
from tools.summarize import (
    IMAGE_SENTENCES,
    TEXT_SENTENCES,
    ExtractiveSummarizer,
    LLMSummarizer,
    content_words,
    sentences,
)

FAST = Backoff(attempts=3, initial=0.01, max_delay=0.02)
FILLER = " ".join(f"Filler sentence number {i} says nothing useful here." for i in range(8))


def n_sentences(summary: str) -> int:
    return sum(len(sentences(part.split(": ", 1)[1])) for part in summary.split("[")[1:])


@pytest.fixture
def hits() -> list[Hit]:
    return [
        Hit(
            "France", "https://w/France", f"France is a country in Europe. {FILLER} The capital of France is Paris.", 3
        ),
        Hit("Paris", "https://w/Paris", f"Paris is the capital and largest city of France. {FILLER}", 2),
        Hit("Flag of France", "https://w/Flag", f"The flag of France is a vertical tricolour. {FILLER}", 1),
        Hit("Lyon", "https://w/Lyon", f"Lyon is a city in France. {FILLER}", 0.5),
        Hit("Euro", "https://w/Euro", f"The euro is the currency of France. {FILLER}", 0.2),
    ]


def test_sentence_split_and_content_words():
    assert sentences("It is 3.5 m tall. The U.S. flag? Yes! 42 stars.") == [
        "It is 3.5 m tall.",
        "The U.S. flag?",
        "Yes!",
        "42 stars.",
    ]
    assert content_words("What is the capital of the countries whose flags are shown?") == [
        "capital",
        "countrie",
        "flag",
    ]


def test_text_summary_respects_budget_and_picks_answer_sentences(hits):
    summary = ExtractiveSummarizer().summarize("What is the capital of the country with this flag?", hits, "text")
    assert n_sentences(summary) == TEXT_SENTENCES[1]
    assert "The capital of France is Paris." in summary
    assert "Paris is the capital and largest city of France." in summary
    assert summary.startswith("[1] France: ")


def test_summary_is_conditioned_on_the_question(hits):
    s = ExtractiveSummarizer(text_sentences=2)
    assert "currency" in s.summarize("Which currency is used in this country?", hits, "text")
    assert "currency" not in s.summarize("What is the capital of this country?", hits, "text")


def test_image_summary_one_sentence_per_hit(hits):
    summary = ExtractiveSummarizer().summarize("Which country's flag is this?", hits, "image")
    assert n_sentences(summary) == IMAGE_SENTENCES[1]
    assert [p.split(":")[0] for p in summary.split("[")[1:]] == [
        "1] France",
        "2] Paris",
        "3] Flag of France",
        "4] Lyon",
        "5] Euro",
    ]
    assert "vertical tricolour" in summary  # the flag sentence wins for the flag question


def test_near_duplicates_are_dropped():
    same = "The capital of Japan is Tokyo."
    hits = [Hit(f"Mirror {i}", f"https://m/{i}", same, 1.0) for i in range(4)]
    summary = ExtractiveSummarizer().summarize("capital of Japan?", hits, "text")
    assert summary.count("Tokyo") == 1


def test_long_sentences_are_cut_and_empty_snippets_fall_back_to_titles():
    s = ExtractiveSummarizer(max_sentence_chars=40)
    out = s.summarize("x", [Hit("T", "u", "word " * 100 + ".", 1.0)], "text")
    assert out.endswith("…") and len(out) < 60
    assert s.summarize("x", [Hit("Only a title", "u", "", 1.0)], "image") == "[1] Only a title."


def test_fixture_toolset_uses_the_new_summariser(world):
    assert isinstance(fixture_toolset(world).summarizer, ExtractiveSummarizer)


def test_bad_limits():
    with pytest.raises(ValueError):
        ExtractiveSummarizer(text_sentences=0)


# --- LLM summariser on a mock OpenAI-compatible endpoint ------------------------------------------------------------


def llm(api, **kw) -> LLMSummarizer:
    return LLMSummarizer(ChatEndpoint(f"{api.url}/v1", "gpt-5-chat-latest", api_key="sk-test", backoff=FAST), **kw)


def test_llm_text_prompt_is_conditioned_on_the_original_question(hits):
    with mock_api() as api:
        out = llm(api).summarize("What is the capital of the country whose flag is on the left?", hits, "text")
        assert out == "The capital of France is Paris."
        _, headers, body = api.received[-1]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "gpt-5-chat-latest" and body["temperature"] == 0.0
    prompt = body["messages"][0]["content"]
    assert "Original question: What is the capital of the country whose flag is on the left?" in prompt
    assert "10–12 sentences" in prompt and "[5] Euro (https://w/Euro)" in prompt


def test_llm_image_prompt_uses_titles_and_descriptions(hits):
    with mock_api() as api:
        llm(api).summarize("ignored for image search", hits, "image")
        prompt = api.received[-1][2]["messages"][0]["content"]
    assert "Google Lens" in prompt and "4–5 sentences" in prompt
    assert "1. Title: France\n   Description: France is a country" in prompt
    assert "ignored for image search" not in prompt


def test_llm_cuts_long_snippets():
    with mock_api() as api:
        llm(api, max_snippet_chars=50).summarize("q", [Hit("T", "u", "x" * 5000, 1.0)], "text")
        assert "x" * 51 not in api.received[-1][2]["messages"][0]["content"]


def test_llm_retries_then_succeeds(hits):
    with mock_api() as api:
        api.queue("/v1/chat/completions", Reply(503, {"error": "overloaded"}), Reply(429, {"error": "slow down"}))
        assert "Paris" in llm(api).summarize("q", hits, "text")
        assert api.calls("/v1/chat/completions") == 3


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(200, {"choices": [{"message": {"content": "  "}}]}), "empty summary"),
        (Reply(200, {"choices": []}), "malformed"),
        (Reply(400, {"error": {"message": "context too long"}}), "HTTP 400.*context too long"),
        (Reply(delay_s=1.0, body={}), "timed out"),
    ],
)
def test_llm_failures_are_tool_errors(hits, reply, match):
    with mock_api() as api:
        api.queue("/v1/chat/completions", reply, reply)
        endpoint = ChatEndpoint(f"{api.url}/v1", "m", timeout=0.3, backoff=Backoff(attempts=2, initial=0.01))
        with pytest.raises(ToolError, match=match):
            LLMSummarizer(endpoint).summarize("q", hits, "text")


def test_llm_refuses_empty_hits():
    with pytest.raises(ToolError, match="no results"):
        LLMSummarizer(ChatEndpoint("http://127.0.0.1:9/v1", "m")).summarize("q", [], "text")
