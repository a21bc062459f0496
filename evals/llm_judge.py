"""The paper's LLM judge behind any OpenAI-compatible chat endpoint, and its agreement with the rule judge.

`LLMJudge` implements the `evals.judge.Judge` protocol with one of two prompts, both re-worded from the paper's
appendix as paper.md paraphrases it:

- `"eval"` (App. E.5, the evaluation metric, paper.md §5.2): an impartial judge of a VQA answer; the ground truth may
  list alternative correct answers, and the prediction is correct when it is semantically equivalent to at least one
  of them. The judge replies with only `[CORRECT]` or `[INCORRECT]`.
- `"reward"` (App. E.6, the GRPO reward, paper.md §4.3): a strict short-answer matcher with five rules (semantic
  equivalence; articles, punctuation, word order and case do not matter; one gold answer is enough; numeric ranges,
  rounding and unit conversions; a substantive difference in entity or value does not match). The judge replies
  `MATCH: true/false` and then `REASON: ...`.

What goes beyond the paper:

- The ground-truth block lists the answer and its aliases one per line, and, when the `Gold` has them, its numeric
  value, its unit and its relative tolerance ("a value within ±5% of ... is also correct"). The LLM then sees what
  `RuleJudge` sees. Both prompts show the question (paper.md lists it among the E.5 inputs only).
- An empty prediction is judged wrong without a call, as `RuleJudge` does.
- Replies are read leniently (`parse_verdict`), so a judge that answers "Correct.", `{"match": true}` or
  "**Verdict:** incorrect" is understood. A reply without a verdict becomes a wrong `Judgement` whose reason starts
  with "unparseable judge reply: ", and `LLMJudge.unparseable` counts it; it never raises.
- A small in-memory cache keyed by (model, prompt, question, prediction, gold) saves repeated calls. Resumable runs
  keep verdicts in their records, so the cache need not survive the process.

An endpoint that keeps failing (after the retries of `tools.live.ChatEndpoint`) raises `JudgeError`; whether to stop
or to skip the example is the harness's decision.

`BothJudges` runs `RuleJudge` and an `LLMJudge` on each prediction and returns both verdicts with the primary one;
`agreement` compares two columns of verdicts (agreement rate, Cohen's kappa, the four cells).

Not covered: the judge sees no image (the paper's judge inputs are question, ground truth and response), and there is
no batching or concurrency beyond what the caller does (the judge is thread-safe).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from evals.judge import Gold, Judgement, RuleJudge
from tools.base import ToolError

if TYPE_CHECKING:
    from tools.live import ChatEndpoint

PromptName = Literal["eval", "reward"]

EVAL_PROMPT = """\
You are an impartial judge evaluating the answer to a visual question answering (VQA) task. You are given the \
question, the ground-truth answer(s) and a predicted answer.

The ground truth may list several alternative correct answers. The predicted answer is correct if it is semantically \
equivalent to at least one of them.

Respond with only [CORRECT] or [INCORRECT].

Question: {question}
Ground-Truth Answer(s):
{references}
Predicted Answer: {prediction}"""
"""App. E.5 (paper.md §5.2), re-worded: the evaluation judge."""

REWARD_PROMPT = """\
You are a strict judge of short-answer matching. Decide whether the model's final answer matches ANY of the gold \
answers.

Rules:
1. Semantic equivalence counts: synonyms, paraphrases and common aliases match ("NYC" matches "New York City").
2. Ignore articles, punctuation, word order and letter case.
3. Matching one gold answer is enough.
4. Numbers match if any of these holds:
   a. the answer is a range that contains the gold value ("20 to 24" matches "21");
   b. one is a reasonable rounding of the other ("176" matches "176.124");
   c. they are equal after a unit conversion ("3 km" matches "3000 m").
5. A substantive difference in entity or value does not match ("5.2" does not match "52"; "10-15" does not match \
"16").

Reply in exactly this format:
MATCH: true or false
REASON: one short sentence

Question: {question}
Gold answer(s):
{references}
Model's final answer: {prediction}"""
"""App. E.6 (paper.md §4.3), re-worded: the reward judge."""

PROMPTS: dict[str, str] = {"eval": EVAL_PROMPT, "reward": REWARD_PROMPT}

UNPARSEABLE = "unparseable judge reply"
"""The start of the reason of a verdict read from a reply that gives none."""
_MAX_REASON_CHARS = 200


class JudgeError(Exception):
    """The judge endpoint kept failing (refused, timed out, malformed answers); the message holds no credentials."""


# ---------------------------------------------------------------------------------------------------------------------
# Prompt


def _number(value: float) -> str:
    """68374591.0 -> "68,374,591"; 176.124 -> "176.124"."""
    return f"{int(value):,}" if value.is_integer() else repr(value)


def format_gold(gold: Gold) -> str:
    """The ground-truth block of the prompts: one answer per line, then the numeric details the `Gold` has.

    Example:
        >>> print(format_gold(Gold("68,374,591", aliases=("68.4 million",), tolerance=0.05)))
        - 68,374,591
        - 68.4 million
        A numeric answer within ±5% of the ground-truth value is also correct.
    """
    lines = [f"- {text}" for text in gold.answers]
    if gold.numeric is not None:
        lines.append(f"Numeric value: {_number(gold.numeric)}{f' {gold.unit}' if gold.unit else ''}")
    elif gold.unit:
        lines.append(f"Numbers in the ground truth are in {gold.unit}.")
    if gold.tolerance:
        lines.append(f"A numeric answer within ±{gold.tolerance * 100:g}% of the ground-truth value is also correct.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# Reply parsing

_THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.IGNORECASE | re.DOTALL)
_BRACKET_RE = re.compile(r"\[\s*(in)?correct\s*\]", re.IGNORECASE)
_FIELD_RE = re.compile(
    r"^[\W_]*(?:match(?:es)?|verdict|correct|is[ _]correct|judge?ment|result|decision)[*_\s]*[:=](.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_REASON_RE = re.compile(r"^[\W_]*(?:reason|explanation|rationale)[*_\s]*:[*_\s]*(.+)$", re.IGNORECASE | re.MULTILINE)
_WORD_RE = re.compile(
    r"(not\s+correct|not\s+a\s+match|no\s+match|incorrect|correct|mismatch|match(?:es)?|wrong|yes|no|true|false)\b"
)
_WORDS = {"correct": True, "match": True, "matches": True, "yes": True, "true": True}
_JSON_KEYS = ("correct", "is_correct", "match", "matches", "verdict", "judgement", "judgment", "result")
_STRIP = " \t\r\n*_`\"'[]().:,;!-"


def _word_verdict(text: str, whole: bool = False) -> bool | None:
    """The verdict a phrase leads with ("Correct.", "no, ...", "NOT CORRECT"); with `whole`, only a bare verdict."""
    text = text.strip(_STRIP).casefold()
    m = _WORD_RE.match(text)
    if m is None or (whole and m.end() != len(text)):
        return None
    return _WORDS.get(m.group(1), False)


def _only(verdicts: Sequence[bool]) -> bool | None:
    """The verdict when all agree; None when there are none or they conflict."""
    return verdicts[0] if verdicts and len(set(verdicts)) == 1 else None


def _from_json(text: str) -> tuple[bool, str] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    fields = {str(k).casefold(): v for k, v in obj.items()}
    reason = fields.get("reason")
    for key in _JSON_KEYS:
        value = fields.get(key)
        verdict = (
            value if isinstance(value, bool) else _word_verdict(value, whole=True) if isinstance(value, str) else None
        )
        if verdict is not None:
            return verdict, reason.strip() if isinstance(reason, str) else ""
    return None


def parse_verdict(reply: str) -> tuple[bool, str] | None:
    r"""Read a judge's verdict from its reply: (correct, the judge's stated reason or ""), or None if it gives none.

    Tried in order; the first source that yields a verdict decides, and a source that contradicts itself (both
    `[CORRECT]` and `[INCORRECT]`) gives None rather than a guess:

    1. a JSON object with a boolean or verdict-word field (`correct`, `match`, `verdict`, ...) and optional `reason`;
    2. the E.5 tokens `[CORRECT]` / `[INCORRECT]`, anywhere;
    3. field lines such as `MATCH: true` (E.6) or `**Verdict:** Incorrect`;
    4. the first line's leading word: correct / incorrect / not correct, yes / no, true / false, match / no match;
    5. a last line that is only such a word.

    `<think>` blocks of reasoning models are dropped first.

    Example:
        >>> parse_verdict("MATCH: false\nREASON: 52 is not 5.2")
        (False, '52 is not 5.2')
        >>> parse_verdict("[CORRECT]"), parse_verdict("I cannot tell.")
        ((True, ''), None)
    """
    text = _THINK_RE.sub("", reply).strip()
    if not text:
        return None
    parsed = _from_json(text)
    if parsed is not None:
        return parsed
    reason_match = _REASON_RE.search(text)
    reason = reason_match.group(1).strip(_STRIP) if reason_match else ""
    brackets = [m.group(1) is None for m in _BRACKET_RE.finditer(text)]
    if brackets:
        verdict = _only(brackets)
        return None if verdict is None else (verdict, reason)
    fields = [v for m in _FIELD_RE.finditer(text) if (v := _word_verdict(m.group(1))) is not None]
    if fields:
        verdict = _only(fields)
        return None if verdict is None else (verdict, reason)
    lines = [line for line in text.splitlines() if line.strip(_STRIP)]
    for verdict in (
        _word_verdict(lines[0]) if lines else None,
        _word_verdict(lines[-1], whole=True) if lines else None,
    ):
        if verdict is not None:
            return verdict, reason
    return None


# ---------------------------------------------------------------------------------------------------------------------
# The judge


class LLMJudge:
    """The paper's LLM judge (paper: gpt-5-chat-latest) through an OpenAI-compatible chat endpoint.

    Args:
        endpoint: the chat endpoint; its base URL, model, key, timeout, retries and temperature live there.
        prompt: "eval" (App. E.5, `[CORRECT]`/`[INCORRECT]`) or "reward" (App. E.6, `MATCH:`/`REASON:`).
        max_tokens: the reply budget; raise it for reasoning models that think before answering.
        cache_size: how many verdicts to keep in memory (least recently used go first); 0 turns the cache off.

    Example:
        >>> from tools.live import ChatEndpoint
        >>> judge = LLMJudge(ChatEndpoint("http://127.0.0.1:8000/v1", "gpt-5-chat-latest"))
        >>> judge.name
        'llm:gpt-5-chat-latest'
    """

    def __init__(
        self, endpoint: ChatEndpoint, prompt: PromptName = "eval", max_tokens: int = 256, cache_size: int = 100_000
    ) -> None:
        if prompt not in PROMPTS:
            raise ValueError(f"unknown judge prompt {prompt!r}; use 'eval' (App. E.5) or 'reward' (App. E.6)")
        if max_tokens < 1 or cache_size < 0:
            raise ValueError(f"need max_tokens ≥ 1 and cache_size ≥ 0, got {max_tokens} and {cache_size}")
        self.endpoint = endpoint
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, str, str, Gold], Judgement] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = 0
        """Requests sent to the endpoint (each may have been retried inside `ChatEndpoint`)."""
        self.cache_hits = 0
        self.unparseable = 0
        """Replies that gave no verdict (judged wrong)."""

    @property
    def name(self) -> str:
        """The judge's name in result records: "llm:<model>"."""
        return f"llm:{self.endpoint.model}"

    def __repr__(self) -> str:
        return f"LLMJudge({self.endpoint!r}, prompt={self.prompt!r})"

    def render(self, question: str, prediction: str, gold: Gold) -> str:
        """The user message sent for one prediction."""
        return PROMPTS[self.prompt].format(
            question=question.strip(), references=format_gold(gold), prediction=prediction.strip()
        )

    def judge(self, question: str, prediction: str, gold: Gold) -> Judgement:
        """Judge `prediction` against `gold` with one chat call (or none: empty prediction, cached verdict).

        Returns:
            The verdict. Its reason is "judge said correct" or "judge said incorrect", followed by ": <reason>" when
            the reply gives one; "unparseable judge reply: <reply>" for a reply without a verdict (judged wrong);
            "empty prediction" without a call. `matched` is None: the judge does not say which gold answer matched.

        Raises:
            JudgeError: the endpoint kept failing.
        """
        if not prediction.strip():
            return Judgement(False, "empty prediction", None)
        key = (self.endpoint.model, self.prompt, question, prediction, gold)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return cached
            self.calls += 1
        messages = [{"role": "user", "content": self.render(question, prediction, gold)}]
        try:
            reply = self.endpoint.complete(
                messages, self.max_tokens, what=f"the LLM judge endpoint ({self.endpoint.model})"
            )
        except ToolError as exc:
            raise JudgeError(str(exc)) from exc
        parsed = parse_verdict(reply)
        if parsed is None:
            with self._lock:
                self.unparseable += 1
            # not cached: a later call may get a readable reply
            return Judgement(False, f"{UNPARSEABLE}: {_shorten(reply)!r}", None)
        correct, why = parsed
        reason = f"judge said {'correct' if correct else 'incorrect'}" + (f": {_shorten(why)}" if why else "")
        verdict = Judgement(correct, reason, None)
        if self.cache_size:
            with self._lock:
                self._cache[key] = verdict
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return verdict


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


# ---------------------------------------------------------------------------------------------------------------------
# Two judges and their agreement


@dataclass(frozen=True)
class Verdicts:
    """Several judges' verdicts on one prediction, one of them primary."""

    primary: str
    """The name of the judge whose verdict counts (`ResultRecord.judge`)."""
    judgements: dict[str, Judgement]
    """Judge name ("rule", "llm:<model>") -> its verdict."""

    @property
    def verdict(self) -> Judgement:
        """The primary judge's verdict."""
        return self.judgements[self.primary]

    @property
    def agree(self) -> bool:
        """Whether every judge reached the same verdict."""
        return len({j.correct for j in self.judgements.values()}) == 1

    def to_record(self) -> dict[str, dict[str, Any]]:
        """The `ResultRecord.judgements` field: name -> {"correct", "reason"}."""
        return {name: {"correct": j.correct, "reason": j.reason} for name, j in self.judgements.items()}


class BothJudges:
    """Run the rule judge and an LLM judge on each prediction; the primary one decides.

    It is itself a `Judge` (`judge` returns the primary verdict); `judge_all` returns both, so the harness can store
    both in its records and report `agreement` over them.

    Args:
        llm: the LLM judge.
        rule: the rule judge; None means `RuleJudge()`.
        primary: which verdict counts: "llm" (the paper's metric) or "rule".
    """

    def __init__(self, llm: LLMJudge, rule: RuleJudge | None = None, primary: Literal["llm", "rule"] = "llm") -> None:
        if primary not in ("llm", "rule"):
            raise ValueError(f"primary must be 'llm' or 'rule', got {primary!r}")
        self.llm = llm
        self.rule = rule or RuleJudge()
        self.primary = primary

    @property
    def name(self) -> str:
        """The primary judge's name ("rule" or "llm:<model>")."""
        return self.llm.name if self.primary == "llm" else "rule"

    def judge_all(self, question: str, prediction: str, gold: Gold) -> Verdicts:
        """Both verdicts, under the names "rule" and "llm:<model>".

        Raises:
            JudgeError: the LLM judge's endpoint kept failing.
        """
        rule = self.rule.judge(question, prediction, gold)
        llm = self.llm.judge(question, prediction, gold)
        return Verdicts(self.name, {"rule": rule, self.llm.name: llm})

    def judge(self, question: str, prediction: str, gold: Gold) -> Judgement:
        """The primary verdict (`Judge` protocol)."""
        return self.judge_all(question, prediction, gold).verdict


def agreement(a: Sequence[bool], b: Sequence[bool]) -> dict[str, Any]:
    """How often two judges agree, over the same predictions in the same order.

    Args:
        a: the first judge's verdicts.
        b: the second judge's verdicts.

    Returns:
        `n`; the four cells `both_true`, `a_true_b_false`, `a_false_b_true`, `both_false`; `agree` (count); `rate`
        (agree / n); and `kappa`, Cohen's kappa (po - pe) / (1 - pe) where pe is the agreement expected from each
        judge's own rate of "correct". `rate` is None when n = 0; `kappa` is None when pe = 1 (both judges constant
        and identical, or n = 0).

    Raises:
        ValueError: the sequences differ in length.

    Example:
        >>> agreement([True, True, False, False], [True, False, False, False])["kappa"]
        0.5
    """
    if len(a) != len(b):
        raise ValueError(f"agreement needs two verdicts per prediction; got {len(a)} and {len(b)}")
    n = len(a)
    both_true = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    both_false = n - both_true - a_only - b_only
    agree = both_true + both_false
    a_true, b_true = both_true + a_only, both_true + b_only
    # with counts: kappa = (n·agree - chance) / (n² - chance), chance = n²·pe; one division keeps it exact
    chance = a_true * b_true + (n - a_true) * (n - b_true)
    return {
        "n": n,
        "both_true": both_true,
        "a_true_b_false": a_only,
        "a_false_b_true": b_only,
        "both_false": both_false,
        "agree": agree,
        "rate": agree / n if n else None,
        "kappa": (n * agree - chance) / (n * n - chance) if n * n != chance else None,
    }
