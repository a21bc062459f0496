"""The evaluation harness: the compiled agent graph over a benchmark, with a chosen policy, workflow and tools.

    python evals/run.py --benchmark frozenweb --data runs/data --policy oracle --out runs/eval/oracle-agent
    deepmmsearch eval --benchmark frozenweb --data runs/data --policy hf:runs/sft/final --workflow rag --out …

Policies: `oracle` (the programmatic teacher with the gold chain; frozen-web questions only), `scripted` (the fixed
search plan of `policy.scripted`), `hf:DIR` (a transformers checkpoint), `openai:MODEL` (any OpenAI-compatible
endpoint, `--base-url`). Workflows: `agent`, `direct`, `rag` (`evals.workflows`); ablations: `--no-crop`,
`--max-text-searches 1`. The run folder gets `results.jsonl` (one `ResultRecord` per example, appended as each
finishes, so a killed run resumes where it stopped) and `summary.json` (accuracy with a 95% Wilson interval, tool
use, throughput, the config, the git commit and the seed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.records import EvalExample, ResultRecord, crop_by_need, needs_crop, read_jsonl, repeated_queries, tool_use
from evals.workflows import WORKFLOWS, RAGPolicy, Workflow, workflow_config
from graph.state import AgentInput
from graph.subcommand import Subcommand
from graph.view import progress_bar
from policy.spec import policy_from_spec, trained_profile

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
EXIT_OK, EXIT_BAD_INPUT = 0, 2


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run: what is evaluated, how, and where the results go."""

    benchmark: str
    data: str
    """What the benchmark loader reads: a DeepMMSearchVQA folder for `frozenweb`, the annotation file otherwise."""
    out: str
    policy: str = "oracle"
    workflow: Workflow = "agent"
    split: str = "test"
    """frozenweb only: "test" or "validation"."""
    image_root: str | None = None
    world: str = "runs/world/full"
    limit: int | None = None
    """The first N examples in the benchmark's id order."""
    sample: int | None = None
    """A random sample of N examples (seeded by `seed`) instead; what the paper does on the large benchmarks."""
    concurrency: int = 4
    """Rollouts in flight at once for model policies (their calls are micro-batched); the oracle runs one by one."""
    seed: int = 0
    allow_crop: bool = True
    max_text_searches: int | None = None
    max_turns: int = 10
    max_new_tokens: int = 512
    max_format_errors: int | None = None
    """Stop a run after this many malformed turns in a row (None: only `max_turns` stops it)."""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    judge: str = "rule"
    """"rule" (offline), "llm" (the paper's LLM judge decides, the rule judge is recorded beside it) or "both"
    (the rule judge decides, the LLM judge is recorded beside it)."""
    judge_base_url: str | None = None
    judge_model: str | None = None
    model_name: str | None = None
    """Name of the model in reports (default: derived from `policy`)."""
    profile: str | None = None
    """Prompt style and summary budgets (`policy.profile`); None: the one an `hf:DIR` checkpoint was trained with,
    else "paper"."""

    def resolved_profile(self) -> str:
        """The profile this run uses (see `profile`)."""
        return self.profile if self.profile is not None else trained_profile(self.policy)

    @property
    def model(self) -> str:
        """The model's name in the report: `model_name`, else the checkpoint folder's name.

        Training writes every checkpoint as `<run>/final` or `<run>/checkpoint-N`, so those carry their run's folder
        (`sft/final`, `rl/final`): two runs' checkpoints then get two names, which the report needs to tell them apart.
        """
        if self.model_name:
            return self.model_name
        if not self.policy.startswith("hf:"):
            return self.policy
        folder = Path(self.policy.split(":", 1)[1])
        generic = folder.name == "final" or folder.name.startswith("checkpoint-")
        return f"{folder.parent.name}/{folder.name}" if generic and folder.parent.name else folder.name


def git_commit() -> str:
    """The repository's HEAD commit (with `-dirty` when the tree has changes), or "unknown"."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound at 0% and 100%, unlike the normal approximation)."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def make_policy(cfg: EvalConfig) -> Any:
    """The policy of an evaluation run (`policy_from_spec` with the run's options)."""
    return policy_from_spec(
        cfg.policy,
        concurrency=cfg.concurrency,
        base_url=cfg.base_url,
        api_key_env=cfg.api_key_env,
        max_turns=cfg.max_turns,
        allow_crop=cfg.allow_crop,
    )


def make_judge(cfg: EvalConfig) -> Any:
    """The judge a run asks for: `RuleJudge`, or `BothJudges` over the LLM judge's endpoint.

    Raises:
        ValueError: an unknown judge, or an LLM judge without `--judge-base-url` and `--judge-model`.
    """
    from evals.judge import RuleJudge

    if cfg.judge == "rule":
        return RuleJudge()
    if cfg.judge not in ("llm", "both"):
        raise ValueError(f"unknown judge {cfg.judge!r}: use rule, llm or both")
    if not (cfg.judge_base_url and cfg.judge_model):
        raise ValueError("an LLM judge needs --judge-base-url and --judge-model")
    import os

    from evals.llm_judge import BothJudges, LLMJudge
    from tools.live import ChatEndpoint

    endpoint = ChatEndpoint(cfg.judge_base_url, cfg.judge_model, api_key=os.environ.get(cfg.api_key_env))
    return BothJudges(LLMJudge(endpoint), primary="llm" if cfg.judge == "llm" else "rule")


def _record(cfg: EvalConfig, ex: EvalExample, state: dict[str, Any], seconds: float, judge: Any) -> ResultRecord:
    prediction = state.get("answer") or ""
    if hasattr(judge, "judge_all"):
        verdicts = judge.judge_all(ex.question, prediction, ex.gold)
        verdict, judge_name, judgements = verdicts.verdict, verdicts.primary, verdicts.to_record()
    else:
        verdict = judge.judge(ex.question, prediction, ex.gold)
        judge_name, judgements = "rule", {"rule": {"correct": verdict.correct, "reason": verdict.reason}}
    counters = dict(state.get("counters", {}))
    observations = [_observation(o) for o in state.get("observations", [])]
    return ResultRecord(
        id=ex.id,
        benchmark=ex.benchmark,
        workflow=cfg.workflow,
        model=cfg.model,
        question=ex.question,
        image=ex.image,
        gold=ex.to_dict()["gold"],
        prediction=prediction,
        correct=verdict.correct,
        judge=judge_name,
        reason=verdict.reason,
        category=ex.category,
        search_type=ex.search_type,
        stop_reason=state.get("stop_reason") or "",
        counters=counters,
        tool_use=tool_use(counters),
        refined=counters.get("text_searches", 0) > 1,  # executed searches only: refused calls do not count
        repeated_queries=repeated_queries(observations),
        needs_crop=needs_crop(ex),
        judgements=judgements,
        messages=[{"role": m["role"], "content": [dict(p) for p in m["content"]]} for m in state.get("messages", [])],
        observations=observations,
        seconds=round(seconds, 4),
    )


def _observation(o: Any) -> dict[str, Any]:
    hits = [{"title": h.get("title"), "url": h.get("url"), "score": h.get("score")} for h in o.get("hits", [])]
    keep = ("turn", "tool", "query", "box", "text", "error")
    return {**{k: o.get(k) for k in keep}, "hits": hits}


def _inputs(ex: EvalExample) -> AgentInput:
    from tools.images import make_ref, open_image

    return AgentInput(question=ex.question, image=make_ref(ex.image, open_image(ex.image)))


def _run_examples(cfg: EvalConfig, todo: list[EvalExample]) -> Iterator[tuple[EvalExample, dict[str, Any], float]]:
    """(example, final state, seconds) for each example, in order; the oracle one by one, models in batches."""
    from graph.build import build_graph
    from tools.defaults import default_toolset

    policy = make_policy(cfg)
    graph = build_graph(
        RAGPolicy(policy) if cfg.workflow == "rag" else policy, default_toolset(cfg.world, env=os.environ)
    )
    from policy.profile import get_profile

    context = get_profile(cfg.resolved_profile()).run_config(
        workflow_config(
            cfg.workflow,
            allow_crop=cfg.allow_crop,
            max_text_searches=cfg.max_text_searches,
            max_turns=cfg.max_turns,
            max_new_tokens=cfg.max_new_tokens,
            max_format_errors=cfg.max_format_errors,
        )
    )
    if cfg.policy == "oracle":
        from sft.data.questions import Question

        for ex in todo:
            if "question" not in ex.meta:
                raise ValueError(f"{ex.id}: the oracle needs the gold chain; only frozenweb questions carry it")
            policy.question = Question.from_dict(ex.meta["question"])
            t0 = time.perf_counter()
            state = graph.invoke(_inputs(ex), context=context)
            yield ex, state, time.perf_counter() - t0
        return
    step = max(1, cfg.concurrency)
    for i in range(0, len(todo), step):
        chunk = todo[i : i + step]
        t0 = time.perf_counter()
        states = graph.batch([_inputs(ex) for ex in chunk], context=context, config={"max_concurrency": step})
        per = (time.perf_counter() - t0) / len(chunk)
        yield from ((ex, st, per) for ex, st in zip(chunk, states, strict=True))


def run_eval(cfg: EvalConfig, progress: bool = True) -> dict[str, Any]:
    """Evaluate (or resume) and write `results.jsonl` and `summary.json`; return the summary.

    Raises:
        ValueError: bad options, an unknown benchmark or policy, or unreadable data.
    """
    from evals.loaders import load_benchmark

    if cfg.workflow not in WORKFLOWS:
        raise ValueError(f"unknown workflow {cfg.workflow!r}; expected one of {WORKFLOWS}")
    if any(v is not None and v < 1 for v in (cfg.limit, cfg.sample)) or cfg.concurrency < 1:
        raise ValueError("--limit, --sample and --concurrency must be ≥ 1")
    extra = {"split": cfg.split} if cfg.benchmark == "frozenweb" else {}
    image_root = Path(cfg.image_root) if cfg.image_root else None
    examples = load_benchmark(cfg.benchmark, Path(cfg.data), limit=cfg.limit, image_root=image_root, **extra)
    examples = sample_examples(examples, cfg.sample, cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, cfg)
    done = read_jsonl(out / RESULTS)
    todo = [ex for ex in examples if ex.id not in done]
    judge = make_judge(cfg)
    started = time.perf_counter()
    with progress_bar(disable=not progress) as bar, (out / RESULTS).open("a", encoding="utf-8") as sink:
        task = bar.add_task(
            f"{cfg.benchmark} · {cfg.workflow} · {cfg.model}", total=len(examples), completed=len(examples) - len(todo)
        )
        for ex, state, seconds in _run_examples(cfg, todo):
            sink.write(_record(cfg, ex, state, seconds, judge).to_json() + "\n")
            sink.flush()
            bar.advance(task)
    elapsed = time.perf_counter() - started
    wanted = {ex.id for ex in examples}
    records = [r for r in read_jsonl(out / RESULTS).values() if r["id"] in wanted]
    summary = summarise(records, cfg, elapsed, len(todo))
    (out / SUMMARY).write_text(json.dumps(summary, indent=1))
    return summary


def sample_examples(examples: list[EvalExample], n: int | None, seed: int) -> list[EvalExample]:
    """A seeded random sample of `n` examples, sorted by id (all of them when `n` is None or not smaller)."""
    if n is None or n >= len(examples):
        return examples
    return sorted(random.Random(seed).sample(examples, n), key=lambda ex: ex.id)


def _check_config(out: Path, cfg: EvalConfig) -> None:
    path = out / "config.json"
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("out", "limit", "concurrency", "sample")}
    if path.is_file() and json.loads(path.read_text()) != keep:
        raise ValueError(f"{out} holds a run with other options; use another --out, or the same options to resume")
    path.write_text(json.dumps(keep, indent=1))


def summarise(records: Sequence[dict], cfg: EvalConfig, elapsed: float, ran: int) -> dict[str, Any]:
    """Accuracy (with its Wilson interval), per category and search type, tool use and throughput."""
    n = len(records)
    correct = sum(bool(r["correct"]) for r in records)
    by: dict[str, dict[str, list[int]]] = {"category": {}, "search_type": {}}
    for r in records:
        for key in by:
            cell = by[key].setdefault(r.get(key) or "unknown", [0, 0])
            cell[0] += bool(r["correct"])
            cell[1] += 1
    uses = Counter(r.get("tool_use", "none") for r in records)
    mean = lambda key: round(sum(r["counters"].get(key, 0) for r in records) / n, 4) if n else 0.0  # noqa: E731
    return {
        "config": asdict(cfg),
        "profile": cfg.resolved_profile(),
        "model": cfg.model,
        "git_commit": git_commit(),
        "seed": cfg.seed,
        "n": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "ci95": wilson(correct, n),
        "by_category": {k: {"n": v[1], "accuracy": round(v[0] / v[1], 4)} for k, v in sorted(by["category"].items())},
        "by_search_type": {
            k: {"n": v[1], "accuracy": round(v[0] / v[1], 4)} for k, v in sorted(by["search_type"].items())
        },
        "tool_use": {k: round(uses[k] / n, 4) if n else 0.0 for k in ("none", "text", "image", "mixed")},
        "crop_rate": round(sum(r["counters"].get("crops", 0) > 0 for r in records) / n, 4) if n else 0.0,
        "crop_rate_by_need": crop_by_need(records),
        "refinement_rate": round(sum(bool(r.get("refined")) for r in records) / n, 4) if n else 0.0,
        "repeated_query_rate": round(sum(r.get("repeated_queries", 0) > 0 for r in records) / n, 4) if n else 0.0,
        "mean_tool_calls": mean("tool_calls"),
        "mean_turns": mean("turns"),
        "parse_error_rate": round(sum(r["counters"].get("parse_errors", 0) > 0 for r in records) / n, 4) if n else 0.0,
        "stop_reasons": dict(Counter(r.get("stop_reason", "") for r in records)),
        "judge_agreement": _agreement(records),
        "this_session": {
            "examples": ran,
            "seconds": round(elapsed, 2),
            "examples_per_s": round(ran / elapsed, 2) if elapsed > 0 and ran else 0.0,
        },
    }


def _agreement(records: Sequence[dict]) -> dict[str, Any] | None:
    """How often the recorded judges agree (None when only one judge ran)."""
    both = [r["judgements"] for r in records if len(r.get("judgements", {})) >= 2]
    if not both:
        return None
    agree = sum(len({bool(v["correct"]) for v in j.values()}) == 1 for j in both)
    return {"n": len(both), "agree": agree, "rate": round(agree / len(both), 4)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The harness's options (shared by `python evals/run.py` and `deepmmsearch eval`)."""
    p.add_argument(
        "--benchmark",
        default="frozenweb",
        help="frozenweb, infoseek, encyclopedic_vqa, simplevqa, dynvqa, "
        "okvqa, aokvqa, mmsearch or livevqa (default: %(default)s)",
    )
    p.add_argument("--data", type=Path, default=Path("runs/data"), help="benchmark file or DeepMMSearchVQA folder")
    p.add_argument("--split", default="test", choices=("test", "validation"), help="frozenweb split")
    p.add_argument("--image-root", type=Path, help="folder of the benchmark's images (public benchmarks)")
    p.add_argument("--out", type=Path, required=True, help="run folder (results.jsonl, summary.json)")
    p.add_argument("--policy", default="oracle", help="oracle | scripted | hf:DIR | openai:MODEL (default: oracle)")
    p.add_argument("--workflow", default="agent", choices=WORKFLOWS, help="agent, direct or rag (default: agent)")
    p.add_argument(
        "--world",
        default="runs/world/full",
        help="the frozen web to search, 'fixture', or 'live' (see `deepmmsearch ask --help`) (default: %(default)s)",
    )
    p.add_argument("--limit", type=int, help="evaluate the first N examples (in id order) only")
    p.add_argument("--sample", type=int, help="evaluate a random sample of N examples (seeded by --seed)")
    p.add_argument("--concurrency", type=int, default=4, help="rollouts in flight for model policies (default: 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-crop", action="store_true", help="ablation: no cropped image search")
    p.add_argument("--max-text-searches", type=int, help="ablation: at most N text searches (1: single search)")
    p.add_argument("--max-turns", type=int, default=10, help="policy turns per question (paper: < 10)")
    p.add_argument("--max-new-tokens", type=int, default=512, help="policy tokens per turn (default: 512)")
    p.add_argument(
        "--max-format-errors",
        type=int,
        help="stop a run after N malformed turns in a row (default: only --max-turns stops it); a policy that "
        "cannot write the protocol rarely recovers, and each malformed turn decodes --max-new-tokens tokens",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for openai: policies")
    p.add_argument("--model-name", help="name of the model in reports")
    p.add_argument(
        "--profile",
        choices=("paper", "compact"),
        help="prompt style and summary budgets (default: the one an hf:DIR checkpoint was trained with, else paper)",
    )
    p.add_argument(
        "--judge",
        default="rule",
        choices=("rule", "llm", "both"),
        help="rule (offline); llm: the "
        "paper's LLM judge decides; both: the rule judge decides; either way both verdicts are stored",
    )
    p.add_argument("--judge-base-url", help="OpenAI-compatible endpoint of the LLM judge")
    p.add_argument("--judge-model", help="model of the LLM judge")


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """The `EvalConfig` of parsed arguments."""
    return EvalConfig(
        benchmark=args.benchmark,
        data=str(args.data),
        out=str(args.out),
        policy=args.policy,
        workflow=args.workflow,
        split=args.split,
        image_root=str(args.image_root) if args.image_root else None,
        world=str(args.world),
        limit=args.limit,
        sample=args.sample,
        concurrency=args.concurrency,
        seed=args.seed,
        allow_crop=not args.no_crop,
        max_text_searches=args.max_text_searches,
        max_turns=args.max_turns,
        max_new_tokens=args.max_new_tokens,
        max_format_errors=args.max_format_errors,
        base_url=args.base_url,
        model_name=args.model_name,
        judge=args.judge,
        judge_base_url=args.judge_base_url,
        judge_model=args.judge_model,
        profile=args.profile,
    )


def handle(args: argparse.Namespace) -> int:
    """Run the harness for parsed arguments; print the summary's headline."""
    try:
        summary = run_eval(config_from_args(args))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    lo, hi = summary["ci95"]
    print(  # noqa: T201
        f"{summary['model']} · {args.workflow} · {args.benchmark}: accuracy {summary['accuracy']:.3f} "
        f"[{lo:.3f}, {hi:.3f}] on {summary['n']} examples; {summary['this_session']['examples_per_s']} examples/s"
    )
    return EXIT_OK


COMMAND = Subcommand(
    "eval", "evaluate a policy and workflow on a benchmark", __doc__ or "", "evals/run.py", add_arguments, handle
)
register = COMMAND.register
main = COMMAND.main


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python evals/run.py` from the repo root
    sys.exit(main())
