"""How the agent's first decision depends on the question: P(search) at the decision token, per kind of question.

The teacher opens every first reason with one fixed phrase, and the two decisions part at one token ("<reason>I
answer" / "<reason>I search", `sft.data.templates`). Scoring both openings by teacher forcing (one forward pass per
question, no decoding) gives the policy's probability of searching on each question. A greedy evaluation rounds that
probability to a choice; this shows it whole, and with it whether the decision follows the question (search-required
questions high, search-free ones low: AUROC near 1) or is one search rate shared by every question (AUROC near 0.5).
On 2 cores 300 questions take about 3 minutes, against about 13 for an evaluation.

    deepmmsearch decision --policy hf:runs/main/sft/final --data runs/main/data --split test --sample 300
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.records import EvalExample
from graph.subcommand import Subcommand

OPENINGS = ("<reason>I answer", "<reason>I search")
"""The teacher's first-turn openings of the two decisions (answer from the picture, search), in that order."""

EXIT_OK, EXIT_BAD_INPUT = 0, 2


@dataclass(frozen=True)
class DecisionConfig:
    """One probe of a checkpoint's first decision on frozen-web questions."""

    policy: str
    """`hf:DIR`: a local checkpoint (the probe needs the model's own log-probabilities)."""
    data: str
    """A generated DeepMMSearchVQA folder (its `questions.jsonl`), as for `deepmmsearch eval`."""
    split: str = "test"
    sample: int | None = None
    """A random sample of N questions, seeded by `seed`: the same questions `deepmmsearch eval --sample N` takes."""
    seed: int = 0
    batch_size: int = 16
    """Questions per forward pass."""
    profile: str | None = None
    """Prompt profile; None: the checkpoint's."""
    out: str | None = None
    """Write the per-question probabilities and the summary here (JSON); None: print only."""


def search_probabilities(
    policy: Any, examples: Sequence[EvalExample], style: str, batch_size: int = 16, progress: bool = True
) -> list[float]:
    """P(search) / (P(answer) + P(search)) at the token where the two openings part, per example.

    Args:
        policy: an `policy.hf.HFPolicy` (its `score_batch` teacher-forces a turn).
        examples: the questions, with their images.
        style: the prompt style the policy was trained with.
        batch_size: questions per forward pass.
        progress: show a progress bar.
    """
    from graph.view import progress_bar
    from nodes.reason import first_messages
    from policy.base import GenerationRequest, SamplingParams
    from tools.images import open_image

    out: list[float] = []
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("first decision", total=len(examples))
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            requests = [
                GenerationRequest(
                    messages=first_messages(ex.question, "agent", style),
                    images=[open_image(ex.image)],
                    params=SamplingParams(temperature=1.0),
                )
                for ex in chunk
            ]
            scored = policy.score_batch([r for r in requests for _ in OPENINGS], [t for _ in chunk for t in OPENINGS])
            for answer, search in zip(scored[::2], scored[1::2], strict=True):
                k = parting_index(answer.completion_ids, search.completion_ids)
                out.append(1.0 / (1.0 + math.exp(answer.logprobs[k] - search.logprobs[k])))
            bar.advance(task, len(chunk))
    return out


def parting_index(a: Sequence[int], b: Sequence[int]) -> int:
    """The first position where two token sequences differ.

    Raises:
        ValueError: one is a prefix of the other (the tokenizer merged the openings' parting words).
    """
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    raise ValueError("the two openings do not part at a token")


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(a random positive scores above a random negative), ties counting half; None if either side is empty."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def summarise(kinds: Sequence[str], probabilities: Sequence[float]) -> dict[str, Any]:
    """Mean P(search) and the share of questions a greedy decoder would search, per kind and for free vs required.

    `separation` is the AUROC of P(search) between search-required and search-free questions: 0.5 when the decision
    ignores which kind of question it is, 1.0 when every search-required question scores above every search-free one.
    """

    def stats(values: Sequence[float]) -> dict[str, Any]:
        n = len(values)
        return {
            "n": n,
            "p_search": round(sum(values) / n, 4) if n else None,
            "searched_greedily": round(sum(v > 0.5 for v in values) / n, 4) if n else None,  # search > answer there
        }

    by_kind: dict[str, list[float]] = {}
    for kind, p in zip(kinds, probabilities, strict=True):
        by_kind.setdefault(kind or "unknown", []).append(p)
    free = by_kind.get("none", [])
    required = [p for kind, values in by_kind.items() if kind not in ("none", "unknown") for p in values]
    separation = auroc(required, free)
    return {
        "kinds": {kind: stats(values) for kind, values in sorted(by_kind.items())},
        "search_free": stats(free),
        "search_required": stats(required),
        "separation": round(separation, 4) if separation is not None else None,
    }


def run_probe(cfg: DecisionConfig, progress: bool = True) -> dict[str, Any]:
    """Load the checkpoint and the questions, probe every question; the summary (and `cfg.out` written).

    Raises:
        ValueError: a policy that is not `hf:DIR`, bad options, or unreadable data.
    """
    from evals.loaders import load_benchmark
    from evals.run import sample_examples
    from policy.profile import get_profile
    from policy.spec import trained_profile

    if not cfg.policy.startswith("hf:"):
        raise ValueError(f"the probe reads a local checkpoint's log-probabilities: use hf:DIR, not {cfg.policy!r}")
    if (cfg.sample is not None and cfg.sample < 1) or cfg.batch_size < 1:
        raise ValueError("--sample and --batch-size must be ≥ 1")
    examples = load_benchmark("frozenweb", Path(cfg.data), split=cfg.split)
    examples = sample_examples(examples, cfg.sample, cfg.seed)
    from policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(cfg.policy[3:])
    style = get_profile(cfg.profile or trained_profile(cfg.policy)).style
    probabilities = search_probabilities(policy, examples, style, cfg.batch_size, progress)
    summary = {"config": asdict(cfg), **summarise([ex.search_type for ex in examples], probabilities)}
    if cfg.out:
        rows = [
            {"id": ex.id, "search_type": ex.search_type, "question": ex.question, "p_search": round(p, 5)}
            for ex, p in zip(examples, probabilities, strict=True)
        ]
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({**summary, "questions": rows}, indent=1))
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The probe's options."""
    p.add_argument("--policy", required=True, help="hf:DIR, the checkpoint to probe")
    p.add_argument("--data", required=True, help="a generated DeepMMSearchVQA folder (with questions.jsonl)")
    p.add_argument("--split", default="test", help="which split's questions (default: test)")
    p.add_argument("--sample", type=int, help="a random sample of N questions, as `deepmmsearch eval --sample N`")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--batch-size", type=int, default=16, help="questions per forward pass (default 16)")
    p.add_argument("--profile", help="prompt profile (default: the checkpoint's)")
    p.add_argument("--out", help="write the summary and every question's P(search) to this JSON file")


def handle(args: argparse.Namespace) -> int:
    """Run the probe for parsed arguments; print a table."""
    from rich.console import Console
    from rich.table import Table

    cfg = DecisionConfig(
        policy=args.policy,
        data=args.data,
        split=args.split,
        sample=args.sample,
        seed=args.seed,
        batch_size=args.batch_size,
        profile=args.profile,
        out=args.out,
    )
    try:
        summary = run_probe(cfg)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    table = Table(title=f"first decision of {cfg.policy[3:]} ({cfg.split})")
    for column in ("questions", "n", "mean P(search)", "searched greedily"):
        table.add_column(column, justify="left" if column == "questions" else "right")
    rows = [(f"search type {k}", v) for k, v in summary["kinds"].items()]
    rows += [("search-free", summary["search_free"]), ("search-required", summary["search_required"])]
    for name, s in rows:
        table.add_row(
            name,
            str(s["n"]),
            f"{s['p_search']:.3f}" if s["n"] else "-",
            f"{s['searched_greedily']:.0%}" if s["n"] else "-",
        )
    console = Console()
    console.print(table)
    console.print(f"separation (AUROC of P(search), required vs free): {summary['separation']}")
    return EXIT_OK


COMMAND = Subcommand(
    "decision",
    "probe a checkpoint's first decision (search or answer) per kind of question",
    __doc__ or "",
    "evals/decision.py",
    add_arguments,
    handle,
)
register = COMMAND.register
main = COMMAND.main


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python evals/decision.py` from the repo root
    sys.exit(main())
