"""The LLM judge against a scripted OpenAI-compatible server on 127.0.0.1 (tests/policy/mock_openai.py); offline.

Run: python -m pytest -q tests/evals/test_llm_judge.py
"""

from __future__ import annotations

import pytest
from mock_openai import MockOpenAI, Reply

from evals.judge import Gold, Judgement, RuleJudge
from evals.llm_judge import (
    UNPARSEABLE,
    BothJudges,
    JudgeError,
    LLMJudge,
    Verdicts,
    agreement,
    format_gold,
    parse_verdict,
)
from tools.live import Backoff, ChatEndpoint

KEY = "sk-test-SECRET-4242"
FAST = Backoff(attempts=3, initial=0.01, max_delay=0.02)
PARIS = Gold("Paris", aliases=("City of Light", "Paname"))


def server(*replies: str | Reply):
    return MockOpenAI([r if isinstance(r, Reply) else Reply(r) for r in replies], vllm=False)


def llm(mock, prompt="eval", **kw) -> LLMJudge:
    return LLMJudge(ChatEndpoint(mock.url, "judge-model", api_key=KEY, backoff=FAST), prompt=prompt, **kw)


def sent_prompt(mock, i: int = -1) -> str:
    (message,) = mock.received[i].body["messages"]
    assert message["role"] == "user"
    return message["content"]


# --- the prompt ------------------------------------------------------------------------------------------------------


def test_eval_prompt_shows_question_prediction_gold_and_aliases():
    with server("[CORRECT]") as mock:
        verdict = llm(mock).judge("Which city is shown?", "It is Paris.", PARIS)
    assert verdict == Judgement(True, "judge said correct", None)
    request = mock.received[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "judge-model" and request.body["temperature"] == 0.0
    prompt = sent_prompt(mock)
    assert "Question: Which city is shown?" in prompt
    assert "Ground-Truth Answer(s):\n- Paris\n- City of Light\n- Paname\n" in prompt
    assert prompt.endswith("Predicted Answer: It is Paris.")
    assert "[CORRECT] or [INCORRECT]" in prompt and "semantically equivalent to at least one" in prompt


def test_reward_prompt_has_the_e6_rules_and_format():
    with server("MATCH: true\nREASON: same city") as mock:
        verdict = llm(mock, prompt="reward").judge("Which city?", "Paname", PARIS)
    assert verdict == Judgement(True, "judge said correct: same city", None)
    prompt = sent_prompt(mock)
    assert "matches ANY of the gold answers" in prompt
    assert '"5.2" does not match "52"' in prompt and '"3 km" matches "3000 m"' in prompt
    assert "MATCH: true or false\nREASON:" in prompt
    assert "Gold answer(s):\n- Paris\n- City of Light\n- Paname\n" in prompt
    assert prompt.endswith("Model's final answer: Paname")


def test_numeric_details_are_shown():
    gold = Gold("Mount Kilimanjaro height", numeric=5895.0, unit="m", tolerance=0.01)
    assert format_gold(gold) == (
        "- Mount Kilimanjaro height\nNumeric value: 5,895 m\n"
        "A numeric answer within ±1% of the ground-truth value is also correct."
    )
    assert format_gold(Gold("3", unit="km")) == "- 3\nNumbers in the ground truth are in km."
    assert format_gold(Gold("Paris")) == "- Paris"
    with server("[INCORRECT]") as mock:
        llm(mock).judge("How tall?", "about 5,000 m", gold)
    assert "±1%" in sent_prompt(mock) and "Numeric value: 5,895 m" in sent_prompt(mock)


def test_bad_arguments():
    endpoint = ChatEndpoint("http://127.0.0.1:9/v1", "m")
    with pytest.raises(ValueError, match="unknown judge prompt"):
        LLMJudge(endpoint, prompt="e5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tokens"):
        LLMJudge(endpoint, max_tokens=0)
    with pytest.raises(ValueError, match="primary"):
        BothJudges(LLMJudge(endpoint), primary="both")  # type: ignore[arg-type]


# --- reading the verdict ---------------------------------------------------------------------------------------------

REPLIES = [
    # E.5 tokens
    ("[CORRECT]", True),
    ("[INCORRECT]", False),
    ("  [correct]\n", True),
    ("[ Incorrect ]", False),
    ("The prediction names the same city.\n\n[CORRECT]", True),
    ("[CORRECT] or [INCORRECT]", None),  # an echo of the instructions is no verdict
    # E.6 fields
    ("MATCH: true\nREASON: same city", True),
    ("MATCH: false\nREASON: 52 is not 5.2", False),
    ("match: yes", True),
    ("**Verdict:** Incorrect", False),
    ("Judgement: correct", True),
    ("MATCH: true\nMATCH: false", None),
    # bare words
    ("Correct", True),
    ("correct.", True),
    ("Incorrect.", False),
    ("INCORRECT - the gold is Lyon", False),
    ("Not correct.", False),
    ("Yes", True),
    ("No, the prediction names another city.", False),
    ("True", True),
    ("false", False),
    ("No match", False),
    ("The answer names a different city.\nIncorrect", False),
    # JSON
    ('{"correct": true}', True),
    ('{"match": false, "reason": "different value"}', False),
    ('```json\n{"Verdict": "CORRECT"}\n```', True),
    ('{"verdict": "maybe"}', None),
    # reasoning models
    ("<think>Is Paname Paris? [INCORRECT]? No, it is a nickname.</think>\n[CORRECT]", True),
    ("<think>still thinking when the budget ran out [CORRECT]", None),
    # no verdict
    ("", None),
    ("   ", None),
    ("I cannot tell.", None),
    ("The predicted answer is correctly spelled.", None),
    ("Correctly spelled", None),
]


@pytest.mark.parametrize(("reply", "expected"), REPLIES)
def test_parse_verdict(reply: str, expected: bool | None):
    parsed = parse_verdict(reply)
    assert (parsed[0] if parsed else None) is expected


def test_parse_verdict_reads_the_reason():
    assert parse_verdict("MATCH: false\nREASON: 52 is not 5.2") == (False, "52 is not 5.2")
    assert parse_verdict('{"match": true, "reason": " NYC is New York City "}') == (True, "NYC is New York City")
    assert parse_verdict("[CORRECT]") == (True, "")


def test_unparseable_reply_is_wrong_and_counted():
    with server("I cannot tell.", "Hmm.", "[CORRECT]") as mock:
        judge = llm(mock)
        first = judge.judge("q", "Paris", PARIS)
        assert first.correct is False and first.matched is None
        assert first.reason == f"{UNPARSEABLE}: 'I cannot tell.'"
        assert judge.judge("q", "Paris", PARIS).reason.startswith("unparseable judge reply: ")
        assert judge.unparseable == 2
        # unparseable replies are not cached: the third call asks again and gets a verdict
        assert judge.judge("q", "Paris", PARIS).correct is True
    assert len(mock.received) == 3 and judge.calls == 3


def test_long_unparseable_reply_is_shortened():
    with server("blah " * 500) as mock:
        reason = llm(mock).judge("q", "Paris", PARIS).reason
    assert reason.startswith(UNPARSEABLE) and len(reason) < 260


# --- the endpoint ----------------------------------------------------------------------------------------------------


def test_http_500_then_success_is_retried():
    with server(Reply(status=500, error="overloaded"), "[INCORRECT]") as mock:
        verdict = llm(mock).judge("q", "Lyon", PARIS)
    assert verdict == Judgement(False, "judge said incorrect", None)
    assert len(mock.received) == 2


@pytest.mark.parametrize(
    ("replies", "match"),
    [
        ([Reply(status=500, error="down")] * 3, "failed after 3 tries: HTTP 500"),
        ([Reply(status=401, error="bad key")], "HTTP 401.*bad key"),
    ],
)
def test_failing_endpoint_raises_judge_error(replies, match):
    with server(*replies) as mock:
        judge = llm(mock)
        with pytest.raises(JudgeError, match=match) as info:
            judge.judge("q", "Paris", PARIS)
    assert KEY not in str(info.value) and "judge-model" in str(info.value)
    assert len(mock.received) == len(replies)


def test_unreachable_endpoint_raises_judge_error():
    judge = LLMJudge(ChatEndpoint("http://127.0.0.1:9/v1", "m", api_key=KEY, timeout=0.5, backoff=FAST))
    with pytest.raises(JudgeError, match="connection failed") as info:
        judge.judge("q", "Paris", PARIS)
    assert KEY not in str(info.value) and KEY not in repr(judge)


def test_cache_and_empty_prediction():
    with server("[CORRECT]", "[INCORRECT]") as mock:
        judge = llm(mock)
        assert judge.judge("q", "Paris", PARIS).correct is True
        assert judge.judge("q", "Paris", PARIS).correct is True  # cached
        assert judge.judge("q", "Lyon", PARIS).correct is False
        assert judge.judge("q", "  ", PARIS) == Judgement(False, "empty prediction", None)
    assert len(mock.received) == 2
    assert (judge.calls, judge.cache_hits) == (2, 1)


def test_cache_can_be_bounded_or_off():
    with server("[CORRECT]", "[CORRECT]", "[CORRECT]") as mock:
        judge = llm(mock, cache_size=1)
        judge.judge("q", "Paris", PARIS)
        judge.judge("q", "Paname", PARIS)  # evicts Paris
        judge.judge("q", "Paris", PARIS)
    assert len(mock.received) == 3
    with server("[CORRECT]", "[CORRECT]") as mock:
        judge = llm(mock, cache_size=0)
        judge.judge("q", "Paris", PARIS)
        judge.judge("q", "Paris", PARIS)
    assert len(mock.received) == 2 and judge.cache_hits == 0


# --- agreement -------------------------------------------------------------------------------------------------------


def test_agreement_hand_table():
    # 20 both true, 5 only a, 10 only b, 15 both false: po = 0.7, pe = 0.5·0.6 + 0.5·0.4 = 0.5, kappa = 0.4
    a = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert agreement(a, b) == {
        "n": 50,
        "both_true": 20,
        "a_true_b_false": 5,
        "a_false_b_true": 10,
        "both_false": 15,
        "agree": 35,
        "rate": 0.7,
        "kappa": 0.4,
    }
    assert agreement(b, a)["kappa"] == 0.4


def test_agreement_edge_cases():
    assert agreement([True, False], [True, False])["kappa"] == 1.0
    assert agreement([True, False], [False, True])["kappa"] == -1.0
    assert agreement([True, True], [True, True])["kappa"] is None  # pe = 1: kappa undefined
    assert agreement([True, True], [True, True])["rate"] == 1.0
    empty = agreement([], [])
    assert empty["n"] == 0 and empty["rate"] is None and empty["kappa"] is None
    with pytest.raises(ValueError, match="got 2 and 1"):
        agreement([True, False], [True])


# --- both judges -----------------------------------------------------------------------------------------------------


def test_both_judges_report_both_verdicts():
    with server("[INCORRECT]", "[CORRECT]") as mock:
        both = BothJudges(llm(mock))
        v = both.judge_all("Which city?", "Paris", PARIS)
        assert isinstance(v, Verdicts)
        assert v.primary == "llm:judge-model" and both.name == "llm:judge-model"
        assert v.verdict == Judgement(False, "judge said incorrect", None)
        assert v.judgements["rule"] == RuleJudge().judge("Which city?", "Paris", PARIS)
        assert v.judgements["rule"].correct is True and not v.agree
        assert v.to_record() == {
            "rule": {"correct": True, "reason": "exact match after normalisation"},
            "llm:judge-model": {"correct": False, "reason": "judge said incorrect"},
        }
        # the Judge protocol: the primary verdict
        assert both.judge("Which city?", "Paname", PARIS) == Judgement(True, "judge said correct", None)


def test_both_judges_with_the_rule_primary():
    with server("[INCORRECT]") as mock:
        both = BothJudges(llm(mock), primary="rule")
        v = both.judge_all("Which city?", "Paris", PARIS)
    assert both.name == v.primary == "rule"
    assert v.verdict.correct is True and v.judgements["llm:judge-model"].correct is False


def test_both_judges_propagate_endpoint_failure():
    with server(*[Reply(status=503)] * 3) as mock:
        with pytest.raises(JudgeError):
            BothJudges(llm(mock)).judge("q", "Paris", PARIS)


def test_agreement_over_both_judges():
    replies = ["[CORRECT]", "[CORRECT]", "[INCORRECT]", "[CORRECT]"]
    predictions = ["Paris", "the city of Paris, France", "Lyon", "Lutetia"]
    with server(*replies) as mock:
        both = BothJudges(llm(mock))
        verdicts = [both.judge_all("Which city?", p, PARIS) for p in predictions]
    rule = [v.judgements["rule"].correct for v in verdicts]
    model = [v.judgements["llm:judge-model"].correct for v in verdicts]
    assert rule == [True, True, False, False]
    stats = agreement(rule, model)
    assert (stats["agree"], stats["a_false_b_true"], stats["kappa"]) == (3, 1, 0.5)
