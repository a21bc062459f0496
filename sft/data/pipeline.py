"""The paper's generation loop: teacher trajectories through the compiled graph, checks A/B/C, judge, sampling.

For each split a deterministic stream of question specs is drawn (categories interleaved round-robin, search-free
specs mixed in at the configured share). Workers render each spec, run the teacher through the agent graph over the
frozen web, and report the trajectory with its checks; the main process decides, in stream order, what each
question is used for: SFT trajectory, RL prompt (train split), evaluation question (validation/test), or nothing.
Every decision is appended to `attempts.jsonl`, so a killed run restarts where it stopped: decisions already made
are replayed from the file, never recomputed, and nothing is written twice.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import random
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

from graph.view import progress_bar
from sft.data.questions import Question, Split
from sft.data.synthesize import Catalog, Spec, enumerate_specs, render, visual_specs

log = logging.getLogger(__name__)
Teacher = Literal["oracle", "openai"]
ATTEMPTS = "attempts.jsonl"
CONFIG = "generate.json"
MAX_TURNS = 10


@dataclass(frozen=True)
class GenerateConfig:
    """What `deepmmsearch data generate` makes, and how."""

    world: str
    out: str
    n: int = 10_000
    """SFT trajectories to keep (train split)."""
    rl_n: int = 1_000
    """RL prompts to keep (train split, teacher-solvable, disjoint from the SFT questions)."""
    eval_n: int = 500
    """Questions per evaluation split (validation, test), kept whether or not the teacher solves them."""
    search_free_share: float = 0.5
    """Share of search-free questions (the paper's 50:50; change it for the ablation)."""
    seed: int = 0
    teacher: Teacher = "oracle"
    imperfect_share: float = 0.3
    """Share of oracle trajectories that start with a vague text query and refine it."""
    variants: int = 3
    """Presentations per chain: the single image and `variants - 1` composites."""
    workers: int = 2
    base_url: str | None = None
    """OpenAI-compatible endpoint of the LLM teacher."""
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the LLM teacher's API key (never stored in the output)."""
    profile: str = "paper"
    """Prompt style and summary budgets of the trajectories (`policy.profile`); SFT copies it into the checkpoint."""

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must share with the run that made the folder."""
        keep = ("world", "seed", "teacher", "imperfect_share", "variants", "search_free_share", "model", "profile")
        return {k: v for k, v in asdict(self).items() if k in keep}


@dataclass
class Quota:
    """How many questions of each use are still wanted, split by search-free / search-required."""

    wanted: dict[str, tuple[int, int]]
    """use → (search-required, search-free) targets."""
    taken: Counter = field(default_factory=Counter)

    def use_for(self, split: Split, rec: dict) -> str:
        """What an attempt of this split is used for, given the teacher's result; counts it.

        Train questions must be solved by the teacher (SFT first, then RL prompts); evaluation questions are kept
        whether or not it solved them, so that the splits do not favour what the teacher can do.
        """
        if "question" not in rec:
            return "none"  # it could not be rendered
        required = rec["required"]
        for use in ["sft", "rl"] if split == "train" else [split]:
            if split == "train" and not rec["ok"]:
                continue
            if self.taken[(use, required)] < self.wanted[use][0 if required else 1]:
                self.taken[(use, required)] += 1
                return use
        return "none"

    def replay(self, rec: dict) -> None:
        """Count an attempt decided by an earlier run."""
        if rec["use"] != "none":
            self.taken[(rec["use"], rec["required"])] += 1

    def wants(self, split: Split, spec: Spec) -> bool:
        """Whether a spec's class (search-required or free) still has room in some use of its split."""
        uses = ["sft", "rl"] if split == "train" else [split]
        r = spec.search_required
        return any(self.taken[(u, r)] < self.wanted[u][0 if r else 1] for u in uses)

    def full(self, split: Split) -> bool:
        """Whether every use of `split` has what it wants."""
        uses = ["sft", "rl"] if split == "train" else [split]
        return all(self.taken[(u, r)] >= self.wanted[u][0 if r else 1] for u in uses for r in (True, False))


def _targets(n: int, free_share: float) -> tuple[int, int]:
    free = round(n * free_share)
    return n - free, free


def stream(cat: Catalog, split: Split, cfg: GenerateConfig, want: int) -> list[Spec]:
    """The split's specs in processing order: required categories round-robin, search-free mixed in at its share."""
    required = enumerate_specs(cat, split, seed=cfg.seed, variants=cfg.variants)
    by_cat: dict[str, list[Spec]] = {}
    for spec in required:
        by_cat.setdefault(spec.category, []).append(spec)
    rng = random.Random(f"{cfg.seed}|{split}")
    for specs in by_cat.values():
        rng.shuffle(specs)
    rr = [s for group in zip_longest(*(by_cat[c] for c in sorted(by_cat))) for s in group if s is not None]
    free = visual_specs(cat, split, n=max(4 * want, 16), seed=cfg.seed) if cfg.search_free_share > 0 else []
    if cfg.search_free_share >= 1:
        return free
    out: list[Spec] = []
    i = j = 0
    while i < len(rr) or j < len(free):
        take_free = j < len(free) and (i >= len(rr) or (j + 1) <= cfg.search_free_share * (i + j + 1))
        if take_free:
            out.append(free[j])
            j += 1
        else:
            out.append(rr[i])
            i += 1
    return out


# --- worker side -------------------------------------------------------------------------------------------------

_W: dict[str, Any] = {}


def _init_worker(cfg: GenerateConfig) -> None:
    """Open the world, the catalog, the toolset, the teacher and the graph once per worker process."""
    from evals.judge import RuleJudge
    from graph.build import build_graph
    from policy.profile import get_profile
    from sft.data.teacher import OracleTeacher
    from tools.frozen import frozen_toolset
    from world.store import WorldStore

    store = WorldStore.load(Path(cfg.world))
    _W["cat"] = Catalog.from_store(store, seed=cfg.seed)
    tools = frozen_toolset(cfg.world)
    if cfg.teacher == "oracle":
        policy: Any = OracleTeacher(imperfect_share=cfg.imperfect_share)
    else:
        from policy.openai_compat import OpenAIChatPolicy

        if not cfg.base_url or not cfg.model:
            raise ValueError("the openai teacher needs --base-url and --model")
        policy = OpenAIChatPolicy(cfg.base_url, cfg.model, api_key=os.environ.get(cfg.api_key_env), token_ids=False)
    _W["teacher"] = policy
    _W["graph"] = build_graph(policy, tools)
    _W["judge"] = RuleJudge()
    _W["out"] = Path(cfg.out)
    _W["context"] = get_profile(cfg.profile).run_config(max_turns=MAX_TURNS)


def run_spec(spec: Spec) -> dict[str, Any]:
    """Render one spec, run the teacher through the graph, and check the trajectory (in a worker)."""
    from evals.judge import Gold
    from tools.images import make_ref

    t0 = time.perf_counter()
    try:
        rendered = render(_W["cat"], spec)
    except ValueError as exc:
        return {
            "id": spec.id,
            "split": spec.split,
            "category": spec.category,
            "ok": False,
            "reason": f"render: {exc}",
            "required": spec.search_required,
        }
    q = rendered.question
    path = _W["out"] / q.image
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        rendered.image.save(path, quality=90)
    else:
        rendered.image.save(path)
    teacher = _W["teacher"]
    if hasattr(teacher, "question"):
        teacher.question = q
    state = _W["graph"].invoke(
        {"question": q.question, "image": make_ref(str(path), rendered.image)}, context=_W["context"]
    )
    counters = dict(state["counters"])
    answer = state.get("answer") or ""
    judgement = _W["judge"].judge(q.question, answer, Gold(q.answer, tuple(q.aliases), q.numeric, q.tolerance))
    checks = {
        "A": counters.get("parse_errors", 0) == 0,
        "B": counters.get("turns", 0) < MAX_TURNS,
        "C": state.get("stop_reason") == "answered",
    }
    ok = all(checks.values()) and judgement.correct
    reason = "kept" if ok else next((f"check {k}" for k, v in checks.items() if not v), f"judge: {judgement.reason}")
    return {
        "id": q.id,
        "split": q.split,
        "category": q.category,
        "required": q.search_required,
        "ok": ok,
        "reason": reason,
        "question": q.to_dict(),
        "messages": _plain_messages(state["messages"]),
        "counters": counters,
        "stop_reason": state.get("stop_reason"),
        "prediction": answer,
        "judgement": {"correct": judgement.correct, "reason": judgement.reason},
        "checks": checks,
        "observations": [_plain_observation(o) for o in state.get("observations", [])],
        "seconds": round(time.perf_counter() - t0, 4),
    }


def _plain_messages(messages: list[Any]) -> list[dict]:
    return [{"role": m["role"], "content": [dict(p) for p in m["content"]]} for m in messages]


def _plain_observation(obs: Any) -> dict:
    keep = ("turn", "tool", "query", "box", "error")
    out = {k: obs.get(k) for k in keep}
    out["hits"] = [h.get("title") if isinstance(h, dict) else str(h) for h in obs.get("hits", [])][:5]
    return out


# --- main side ---------------------------------------------------------------------------------------------------


class _InProcess:
    """A one-worker stand-in for `multiprocessing.Pool` (no fork: tests and `--workers 1`)."""

    def __init__(self, cfg: GenerateConfig) -> None:
        _init_worker(cfg)

    def apply_async(self, fn: Any, args: tuple) -> Any:
        value = fn(*args)
        return type("Done", (), {"get": staticmethod(lambda: value)})()

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        _W.clear()


def _workers(cfg: GenerateConfig) -> Any:
    if cfg.workers == 1:
        return _InProcess(cfg)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    return ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,))


def _ordered(
    pool: Any, specs: list[Spec], done: dict[str, dict], wanted: Any, window: int
) -> Iterator[tuple[dict[str, Any], bool]]:
    """(record, fresh) in stream order: stored records replayed, new specs run with at most `window` in flight.

    A new spec is submitted only while `wanted(spec)` holds, checked in the main process at fixed points of the
    stream, so which specs run is the same from run to run; a caller that stops reading wastes at most `window` runs.
    """
    queue: deque = deque()
    it = iter(specs)

    def fill() -> None:
        while sum(1 for e in queue if e[2]) < window:
            spec = next(it, None)
            if spec is None:
                return
            if spec.id in done:
                queue.append((spec, done[spec.id], False))
            elif wanted(spec):
                queue.append((spec, pool.apply_async(run_spec, (spec,)), True))

    fill()
    while queue:
        _, item, fresh = queue.popleft()
        yield (item.get() if fresh else item), fresh
        fill()


def _read_attempts(path: Path) -> dict[str, dict]:
    """The decisions already made (see `evals.records.read_jsonl`: a torn last line is cut off)."""
    from evals.records import read_jsonl

    return read_jsonl(path)


def _check_config(out: Path, cfg: GenerateConfig) -> None:
    path = out / CONFIG
    if path.is_file():
        old = json.loads(path.read_text())
        old.setdefault("identity", {}).setdefault("profile", "paper")  # folders made before profiles existed
        if old["identity"] != cfg.identity():
            raise ValueError(
                f"{out} was generated with {old.get('identity')}; this run asks for {cfg.identity()}: "
                "use another --out, or the same options to resume"
            )
    path.write_text(json.dumps({"identity": cfg.identity(), "config": asdict(cfg)}, indent=1))


def generate(cfg: GenerateConfig, progress: bool = True) -> dict[str, Any]:
    """Generate (or resume) a DeepMMSearchVQA folder; return the summary of its attempts.

    Raises:
        ValueError: bad options, a world without facts, or an output folder made with other options.
    """
    from world.store import WorldStore

    if cfg.n < 0 or cfg.rl_n < 0 or cfg.eval_n < 0 or not 0 <= cfg.search_free_share <= 1 or cfg.workers < 1:
        raise ValueError("n, rl_n and eval_n must be ≥ 0, search_free_share in [0, 1] and workers ≥ 1")
    if cfg.teacher == "openai" and not (cfg.base_url and cfg.model):
        raise ValueError("the openai teacher needs --base-url and --model")  # checked before workers start
    from policy.profile import get_profile

    get_profile(cfg.profile)  # an unknown profile fails here, not in every worker
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, cfg)
    store = WorldStore.load(Path(cfg.world))
    if not store.facts:
        raise ValueError(f"{cfg.world} has no facts: rebuild it with `deepmmsearch world build`")
    cat = Catalog.from_store(store, seed=cfg.seed)
    quota = Quota(
        {
            "sft": _targets(cfg.n, cfg.search_free_share),
            "rl": _targets(cfg.rl_n, cfg.search_free_share),
            "validation": _targets(cfg.eval_n, cfg.search_free_share),
            "test": _targets(cfg.eval_n, cfg.search_free_share),
        }
    )
    attempts_path = out / ATTEMPTS
    done = _read_attempts(attempts_path)
    total = cfg.n + cfg.rl_n + 2 * cfg.eval_n
    with (
        progress_bar(disable=not progress) as bar,
        attempts_path.open("a", encoding="utf-8") as sink,
        _workers(cfg) as pool,
    ):
        task = bar.add_task("teacher trajectories", total=total)
        plan: list[tuple[Split, int]] = [("train", cfg.n + cfg.rl_n), ("validation", cfg.eval_n), ("test", cfg.eval_n)]
        for split, want in plan:
            specs = stream(cat, split, cfg, want)
            wanted = partial(quota.wants, split)
            for rec, fresh in _ordered(pool, specs, done, wanted, window=8 * cfg.workers):
                if fresh:
                    rec["use"] = quota.use_for(split, rec)
                    if rec["use"] == "none" and "question" in rec:
                        (out / rec["question"]["image"]).unlink(missing_ok=True)
                    sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    sink.flush()
                else:
                    quota.replay(rec)
                if rec["use"] != "none":
                    bar.advance(task)
                if quota.full(split):
                    break
    summary = summarise(_read_attempts(attempts_path).values())
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarise(records: Iterator[dict] | Any) -> dict[str, Any]:
    """Counts of a folder's attempts: uses, rejection reasons, teacher accuracy per split and category."""
    uses: Counter = Counter()
    reasons: Counter = Counter()
    by_split: dict[str, Counter] = {}
    for rec in records:
        uses[rec.get("use", "none")] += 1
        reasons[rec["reason"]] += 1
        if "question" not in rec:
            continue  # not rendered: no question was put to the teacher
        c = by_split.setdefault(rec["split"], Counter())
        c["attempts"] += 1
        c["solved"] += bool(rec["ok"])
    accuracy = {s: round(c["solved"] / c["attempts"], 4) for s, c in by_split.items() if c["attempts"]}
    return {"uses": dict(uses), "reasons": dict(reasons.most_common()), "teacher_accuracy": accuracy}


def load_questions(folder: Path, use: str) -> list[Question]:
    """The questions of one use ("sft", "rl", "validation", "test") of a generated folder."""
    return [Question.from_dict(r["question"]) for r in _read_attempts(folder / ATTEMPTS).values() if r["use"] == use]
