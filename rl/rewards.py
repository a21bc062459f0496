"""GRPO rewards: small, pure functions of a finished rollout, and the rubric that turns them into TRL reward functions.

The paper's reward (§4, paper.md) is `0.9 × correctness + 0.1 × format`: correctness is the judge's verdict on the
final answer (rule-based offline, the paper's LLM judge online: any `evals.judge.Judge`), format is whether every
turn followed the protocol and the run ended with an answer. Optional terms shape tool use: a cost per executed
search, the same cost charged only to runs whose answer is right, a cost per tool the question did not need and one
per search-required question left without a search (both read from the generator's labels, like the gold answer),
and a penalty per call the limits refused.

`Rubric.functions()` returns one TRL reward function per non-zero term, and `Rubric.weights()` their weights for
`GRPOConfig.reward_weights`: TRL then logs each term as `rewards/<name>/mean` and `/std` and sums them weighted,
which is the paper's formula when only the two paper terms are on. A rollout reaches the functions as the
`rollout` keyword (`RolloutOutcome.to_dict()`, produced by `rl.rollout`), the gold answer as the dataset columns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from typing_extensions import TypedDict

from evals.judge import Gold, Judge, RuleJudge
from evals.records import SEARCH_TYPES, crop_attempts, crop_needed, repeated_queries


class RolloutOutcome(TypedDict):
    """What the rewards and monitors read from a finished graph run (JSON-serialisable)."""

    answer: str | None
    stop_reason: str
    turns: int
    valid_turns: int
    """Turns that parsed as `<reason>` + one action."""
    tool_calls: int
    image_searches: int
    text_searches: int
    crops: int
    crop_attempts: int
    """Crops the policy chose, also those whose grounding failed (`crops` counts only the crops that were cut)."""
    repeated_queries: int
    """Text searches that repeated an earlier query word for word."""
    refused_calls: int
    response_tokens: int


def outcome_from_state(state: dict[str, Any]) -> RolloutOutcome:
    """The outcome of a final `AgentState`."""
    c = state.get("counters", {})
    turns = state.get("turns", [])
    observations = [dict(o) for o in state.get("observations", [])]
    return RolloutOutcome(
        answer=state.get("answer"),
        stop_reason=str(state.get("stop_reason") or ""),
        turns=int(c.get("turns", len(turns))),
        valid_turns=sum(t.get("parse_error") is None for t in turns),
        tool_calls=int(c.get("tool_calls", 0)),
        image_searches=int(c.get("image_searches", 0)),
        text_searches=int(c.get("text_searches", 0)),
        crops=int(c.get("crops", 0)),
        crop_attempts=crop_attempts(observations),
        repeated_queries=repeated_queries(observations),
        refused_calls=int(c.get("refused_calls", 0)),
        response_tokens=int(c.get("response_tokens", 0)),
    )


def gold_of(
    answer: str, aliases: Sequence[str] | None = None, numeric: float | None = None, tolerance: float = 0.0
) -> Gold:
    """The `Gold` of a question row (the `hf/questions` columns)."""
    return Gold(answer, tuple(aliases or ()), numeric, float(tolerance or 0.0))


def correctness(outcome: RolloutOutcome, question: str, gold: Gold, judge: Judge) -> float:
    """1.0 if the run answered and the judge accepts the answer, else 0.0."""
    if outcome["stop_reason"] != "answered" or not outcome["answer"]:
        return 0.0
    return 1.0 if judge.judge(question, outcome["answer"], gold).correct else 0.0


def format_validity(outcome: RolloutOutcome) -> float:
    """1.0 if every turn was well-formed protocol and the run ended with an answer, else 0.0.

    No turn order is imposed: answering at once, searching by image then text, or refining a text query five times
    are all valid; what is checked is the grammar of each turn (`policy.protocol.parse_step`) and that the run
    finished by answering rather than by hitting the turn or token limit.
    """
    answered = outcome["stop_reason"] == "answered" and bool(outcome["answer"])
    return 1.0 if answered and outcome["turns"] > 0 and outcome["valid_turns"] == outcome["turns"] else 0.0


def search_cost(outcome: RolloutOutcome) -> float:
    """Minus the number of executed searches (weight it by the cost per search)."""
    return -float(outcome["image_searches"] + outcome["text_searches"])


def correct_search_cost(outcome: RolloutOutcome, correct: float) -> float:
    """Minus the number of executed searches of a run judged right (`correct` 1.0), else 0.

    A plain search cost also pays a wrong run for not searching, so in a group where nobody finds the answer the
    run that gave up at once earns the most, and GRPO learns to stop searching (measured with the format term,
    which rewards the same). Charged only to right answers, the cost ranks right runs by how few searches they
    needed (a search-free question answered from the picture beats the same answer after a search) and leaves a
    group of wrong runs without signal.
    """
    return search_cost(outcome) if correct > 0 else 0.0


def _check_search_type(search_type: str) -> None:
    if search_type not in SEARCH_TYPES:
        raise ValueError(f"unknown search_type {search_type!r}: expected one of {SEARCH_TYPES}")


def needless_search(outcome: RolloutOutcome, search_type: str, target: str | None = None) -> float:
    """Minus the searches (and chosen crops) of a run on a search-free question, else 0 (by the labels).

    The search-free half of `needless_tools`, without its cost on unneeded crops: whether a crop is needed is a second
    decision (`<img_search>` then `><` for the whole picture, or `>` and a region), as weakly conditioned as the first
    on a 2-core policy, and charging crops on single pictures taught whole-picture searches on composites too (crops
    chosen where one is needed fell from 61% to 23% and to 2% in two runs). `target` is unused (the label terms'
    signature).

    Raises:
        ValueError: an unknown search type.
    """
    _check_search_type(search_type)
    if search_type != "none":
        return 0.0
    failed_crops = max(0, outcome["crop_attempts"] - outcome["crops"])
    return -float(outcome["image_searches"] + outcome["text_searches"] + failed_crops)


def needless_tools(outcome: RolloutOutcome, search_type: str, target: str | None) -> float:
    """Minus the tool actions the question did not need, by the generator's labels.

    Any search or crop on a search-free question counts; on other questions, a crop where none is needed
    (`evals.records.crop_needed`: only an object of a composite picture takes one) and a text search repeating an
    earlier query word for word (it returns what the agent has already read; a refined query costs nothing).

    The paper's GRPO ends with fewer unnecessary crops; on 2 cores GRPO learned the opposite, because correctness
    alone rarely shows that a search cost an answer (a search-free group is usually all right or all wrong) while
    every search-required success pays for searching everywhere. The generator knows which tools a question needs
    (`search_type`, `target`), so the reward can judge the decision itself, as the judge reads the gold answer:
    labels enter the reward only, never the prompt. A chosen crop counts even where grounding failed (the image
    search it opens never ran); the cost does not depend on the verdict, so a group that answered wrongly without
    searching still ranks above a run that also searched.

    Raises:
        ValueError: an unknown search type.
    """
    if search_type == "none":
        return needless_search(outcome, search_type)
    _check_search_type(search_type)
    unneeded_crops = 0 if crop_needed(target, search_type) else outcome["crop_attempts"]
    return -float(unneeded_crops + outcome["repeated_queries"])


def missing_search(outcome: RolloutOutcome, search_type: str, target: str | None = None) -> float:
    """-1 for a run that ended a search-required question without choosing any search, else 0 (by the labels).

    The counterpart of `needless_tools`: charged alone, a cost on needless searches made GRPO stop searching
    everywhere within fifteen steps on 2 cores (the policy's decision to search is weakly conditioned on the question,
    so "do not search" learned on search-free questions carried over). With both, each decision has a cost on the
    questions where it is wrong, and only telling the questions apart pays. A chosen crop counts as a search even
    where grounding failed. `target` is unused (the signature of the label terms).

    Raises:
        ValueError: an unknown search type.
    """
    _check_search_type(search_type)
    chosen = outcome["image_searches"] + outcome["text_searches"] + outcome["crop_attempts"]
    return -1.0 if search_type != "none" and chosen == 0 else 0.0


def refused_calls(outcome: RolloutOutcome) -> float:
    """Minus the number of tool calls the limits refused (a second image search, an eleventh call …)."""
    return -float(outcome["refused_calls"])


@dataclass(frozen=True)
class Rubric:
    """Weights of the reward terms (the paper: 0.9 correctness, 0.1 format, nothing else)."""

    correctness: float = 0.9
    format: float = 0.1
    search_cost: float = 0.0
    """Per executed search, e.g. 0.02 to discourage searches the policy does not need."""
    correct_search_cost: float = 0.0
    """Per executed search of a run whose answer is right (`correct_search_cost`): fewer searches where they were
    not needed, without rewarding a wrong run for giving up."""
    needless_tools: float = 0.0
    """Per tool action the question did not need (`needless_tools`: a search on a search-free question, a crop where
    none is needed, a repeated query); needs the `search_type` and `target` columns."""
    needless_search: float = 0.0
    """Per search on a search-free question (`needless_search`, the search-free half of `needless_tools`)."""
    missing_search: float = 0.0
    """Per run that ended a search-required question without a search (`missing_search`); needs `search_type`."""
    refused_calls: float = 0.0
    """Per refused tool call."""

    def __post_init__(self) -> None:
        if all(w == 0 for w in self.terms().values()):
            raise ValueError("every reward weight is 0: GRPO would have nothing to learn from")

    def terms(self) -> dict[str, float]:
        """Each term's weight, by name."""
        return {
            "correctness": self.correctness,
            "format": self.format,
            "search_cost": self.search_cost,
            "correct_search_cost": self.correct_search_cost,
            "needless_tools": self.needless_tools,
            "needless_search": self.needless_search,
            "missing_search": self.missing_search,
            "refused_calls": self.refused_calls,
        }

    def weights(self) -> list[float]:
        """The weights of `functions()`, in order (`GRPOConfig.reward_weights`)."""
        return [w for w in self.terms().values() if w != 0]

    def functions(self, judge: Judge | None = None) -> list[Callable[..., list[float]]]:
        """TRL reward functions for the non-zero terms; the correctness one judges with `judge` (default: rules)."""
        verdicts = Verdicts(judge or RuleJudge())  # shared: each rollout is judged once per step
        makers: dict[str, Callable[[], Callable[..., list[float]]]] = {
            "correctness": lambda: _judged_function("correctness", verdicts, lambda _, r: r, log_latency=True),
            "format": lambda: _outcome_function("format", format_validity),
            "search_cost": lambda: _outcome_function("search_cost", search_cost),
            "correct_search_cost": lambda: _judged_function("correct_search_cost", verdicts, correct_search_cost),
            "needless_tools": lambda: _labelled_function("needless_tools", needless_tools),
            "needless_search": lambda: _labelled_function("needless_search", needless_search),
            "missing_search": lambda: _labelled_function("missing_search", missing_search),
            "refused_calls": lambda: _outcome_function("refused_calls", refused_calls),
        }
        return [makers[name]() for name, w in self.terms().items() if w != 0]

    def total(
        self,
        outcome: RolloutOutcome,
        question: str,
        gold: Gold,
        judge: Judge | None = None,
        *,
        search_type: str | None = None,
        target: str | None = None,
    ) -> float:
        """The weighted reward of one rollout (what TRL computes from `functions()` and `weights()`).

        Raises:
            ValueError: a term that reads the labels is weighted but no `search_type` was given.
        """
        right = correctness(outcome, question, gold, judge or RuleJudge())
        if (self.needless_tools or self.needless_search or self.missing_search) and search_type is None:
            raise ValueError("the label terms (needless_tools, needless_search, missing_search) need a search_type")
        parts = {
            "correctness": right,
            "format": format_validity(outcome),
            "search_cost": search_cost(outcome),
            "correct_search_cost": correct_search_cost(outcome, right),
            "needless_tools": needless_tools(outcome, search_type, target) if search_type is not None else 0.0,
            "needless_search": needless_search(outcome, search_type) if search_type is not None else 0.0,
            "missing_search": missing_search(outcome, search_type) if search_type is not None else 0.0,
            "refused_calls": refused_calls(outcome),
        }
        return sum(w * parts[name] for name, w in self.terms().items())


class Verdicts:
    """The judge's verdicts, remembered by (question, answer, gold): terms that need the verdict share one judge call.

    TRL calls each reward function on the same rollouts in turn; with an LLM judge a second call per rollout would
    double the judge's latency. Bounded: the memory is cleared when it outgrows `max_size`.
    """

    def __init__(self, judge: Judge, max_size: int = 4096) -> None:
        """Remember up to `max_size` verdicts of `judge`."""
        self.judge = judge
        self.max_size = max_size
        self._seen: dict[tuple[str, str, str, Gold], float] = {}

    def __call__(self, outcome: RolloutOutcome, question: str, gold: Gold) -> float:
        """`correctness` of one rollout, judged at most once."""
        key = (question, outcome["stop_reason"], outcome["answer"] or "", gold)
        if key not in self._seen:
            if len(self._seen) >= self.max_size:
                self._seen.clear()
            self._seen[key] = correctness(outcome, question, gold, self.judge)
        return self._seen[key]


def _judged_function(
    name: str, verdicts: Verdicts, term: Callable[[RolloutOutcome, float], float], *, log_latency: bool = False
) -> Callable[..., list[float]]:
    """A TRL reward function of each rollout and its verdict (judged from the rollout and the gold columns)."""

    def reward(
        *,
        rollout: list[RolloutOutcome],
        question: list[str],
        answer: list[str],
        aliases: list[list[str] | None],
        numeric: list[float | None],
        tolerance: list[float | None],
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        started = time.perf_counter()
        right = [
            verdicts(o, q, gold_of(a, al, n, t or 0.0))
            for o, q, a, al, n, t in zip(rollout, question, answer, aliases, numeric, tolerance, strict=True)
        ]
        if log_latency and log_metric is not None:
            log_metric("judge/seconds_per_answer", (time.perf_counter() - started) / max(1, len(right)))
        return [term(o, r) for o, r in zip(rollout, right, strict=True)]

    reward.__name__ = name
    return reward


def _labelled_function(
    name: str, term: Callable[[RolloutOutcome, str, str | None], float]
) -> Callable[..., list[float]]:
    """A TRL reward function of each rollout and its question's labels (the `search_type` and `target` columns)."""

    def reward(
        *,
        rollout: list[RolloutOutcome],
        search_type: list[str] | None = None,
        target: list[str | None] | None = None,
        **_: Any,
    ) -> list[float]:
        if search_type is None:
            raise ValueError(f"reward {name} needs a search_type column in the GRPO dataset")
        targets = target if target is not None else [None] * len(rollout)
        return [term(o, s, t) for o, s, t in zip(rollout, search_type, targets, strict=True)]

    reward.__name__ = name
    return reward


def _outcome_function(name: str, term: Callable[[RolloutOutcome], float]) -> Callable[..., list[float]]:
    def reward(*, rollout: list[RolloutOutcome], **_: Any) -> list[float]:
        return [term(o) for o in rollout]

    reward.__name__ = name
    return reward
