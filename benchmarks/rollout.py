"""Rollout throughput of the agent graph with the tiny Qwen2.5-VL policy: concurrent vs sequential, vs raw `generate`.

Run from the repository root:

    .venv/bin/python benchmarks/rollout.py --size default --rollouts 16 --out runs/rollout.json

What runs. The real graph (`graph.build.build_graph`) over the fixture toolset, on the demo composite and question,
with `policy.hf.HFPolicy` on a tiny model built offline (`policy.tiny.init_tiny`, or `--model DIR`). An untrained
policy writes garbage, so lengths are pinned in two ways (`--mode`):

- `forced`: `ForcedHFPolicy(mode="generate")` forces the demo script's four turns (crop + image search, text search,
  refined text search, answer) token by token through `model.generate` — the same decode loop and cost as free
  generation, with every tool exercised and the same lengths in every rollout and every arm.
- `free`: greedy free generation with a fixed `--max-new-tokens` for `--max-turns` turns; the garbage turns come
  back as format-error observations, so each rollout is `--max-turns` turns of exactly `--max-new-tokens` tokens
  (greedy is deterministic, so both arms generate the same tokens).

Measured, per mode:

1. sequential: the `--rollouts` rollouts one after another (`graph.invoke`, unbatched policy);
2. concurrent: the same rollouts at once (`graph.batch(..., max_concurrency=N)`) through
   `policy.batching.BatchingPolicy` — the throughput ratio is sequential time / concurrent time;
   `gen` is the wall time inside `model.generate` during the concurrent run, so `graph+tools` =
   (concurrent − gen) / gen is everything else: graph, tools, prompt building, batching waits, stop and logprob
   bookkeeping;
3. raw: plain batched `model.generate` replayed on the very prompts (full prompt ids + images) and lengths of each
   batch of the concurrent run (greedy, `min_new_tokens = max_new_tokens`, no prefix cache, no custom processors)
   — what a bare batched generation loop would cost; concurrent / raw − 1 is the cost on top of it. The
   policy's prefix KV cache (each turn prefills only the environment's new tokens) can make the graph run cheaper
   than the raw replay, which re-prefills every prompt in full.
4. memory: peak RSS of the process during the concurrent run (sampled every 5 ms from /proc), and its baseline.

`--profile` picks the prompts and summary lengths: `paper` (default; the paper's ~400-token prompt and long
summaries) or `compact` (one-line prompts, three-sentence summaries: what the embedded default policy is trained
and evaluated with). The environment's tokens are prefilled, which is compute-bound and gains little from batching,
so the longer they are, the lower the ratio.

`--threads` sets torch's intra-op threads (default 1: on a shared 2-core machine OpenMP's spinning threads collide
with other processes and every op gets slower; use 2 on an idle machine). One untimed warm-up rollout runs first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from graph.build import build_graph
from graph.context import RunConfig
from graph.demo import DEMO_QUESTION, DEMO_SCRIPT, demo_image
from policy.batching import BatchingPolicy
from policy.hf import ForcedHFPolicy, HFPolicy
from policy.profile import PROFILES, get_profile
from policy.tiny import init_tiny
from tools.fixture import fixture_toolset
from tools.images import make_ref, open_image


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakRSS:
    """Samples RSS in a background thread; `peak` is the largest value seen."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.every_s = every_s
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(self.every_s)

    def __enter__(self) -> PeakRSS:
        self.peak = rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


class Timed:
    """Wraps the backend's `model.generate` to add up its wall time and record each call's batch."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy = policy
        self.seconds = 0.0
        self.enabled = False
        self._generate = policy.model.generate
        policy.model.generate = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped `generate`, timing it when enabled."""
        start = time.perf_counter()
        try:
            return self._generate(*args, **kwargs)
        finally:
            if self.enabled:
                self.seconds += time.perf_counter() - start


@dataclass
class Result:
    """One mode's measurements."""

    mode: str
    rollouts: int
    turns_per_rollout: float
    policy_tokens: int
    sequential_s: float
    concurrent_s: float
    generate_in_concurrent_s: float
    raw_generate_s: float
    batch_sizes: list[int]
    prefix_cache_hits: int
    rss_baseline_mb: float
    rss_peak_concurrent_mb: float
    throughput_ratio: float = 0.0
    graph_tools_overhead: float = 0.0
    over_raw_generate: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.throughput_ratio = self.sequential_s / self.concurrent_s
        self.graph_tools_overhead = (self.concurrent_s - self.generate_in_concurrent_s) / self.generate_in_concurrent_s
        self.over_raw_generate = self.concurrent_s / self.raw_generate_s - 1


def raw_replay(policy: HFPolicy, batches: list[list[tuple[list[int], list, int]]]) -> float:
    """Seconds of plain batched `model.generate` on the recorded prompts and lengths (inputs prepared untimed)."""
    total = 0.0
    generate = policy.model.generate
    if isinstance(generate, Timed):
        generate = generate._generate
    for batch in batches:
        inputs = policy._inputs([ids for ids, _, _ in batch], [img for _, imgs, _ in batch for img in imgs])
        n = max(length for _, _, length in batch)
        with torch.inference_mode():
            start = time.perf_counter()
            generate(
                **inputs,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=policy.pad_id,
                eos_token_id=policy.eos_ids,
                disable_compile=True,
            )
            total += time.perf_counter() - start
    return total


def run_mode(mode: str, policy: HFPolicy, inputs: dict, args: argparse.Namespace, crop_dir: str) -> Result:
    """Sequential, concurrent and raw-replay measurements for one mode."""
    profile = get_profile(args.profile)
    if mode == "forced":
        workload: Any = ForcedHFPolicy(policy, DEMO_SCRIPT, mode="generate")
        ctx = profile.run_config(RunConfig(max_new_tokens=256))
    else:
        workload = policy
        ctx = profile.run_config(RunConfig(max_new_tokens=args.max_new_tokens, max_turns=args.max_turns))
    tools = fixture_toolset(crop_dir=crop_dir)
    sequential_graph = build_graph(workload, tools)
    sequential_graph.invoke(inputs, context=ctx)  # warm-up

    start = time.perf_counter()
    states = [sequential_graph.invoke(inputs, context=ctx) for _ in range(args.rollouts)]
    sequential = time.perf_counter() - start

    batches: list[list[tuple[list[int], list, int]]] = []
    inner = workload.generate_batch

    def recording(requests, *a, **kw):
        gens = inner(requests, *a, **kw)
        batches.append(
            [(g.prompt_ids, list(r.images), len(g.completion_ids)) for r, g in zip(requests, gens, strict=True)]
        )
        return gens

    workload.generate_batch = recording
    timed = policy.model.generate
    assert isinstance(timed, Timed)
    hits = policy.prefix_hits
    baseline = rss_mb()
    with BatchingPolicy(workload, max_batch_size=args.rollouts, max_wait_ms=args.max_wait_ms) as batching:
        graph = build_graph(batching, tools)
        timed.seconds, timed.enabled = 0.0, True
        with PeakRSS() as rss:
            start = time.perf_counter()
            concurrent_states = graph.batch(
                [inputs] * args.rollouts, context=ctx, config={"max_concurrency": args.rollouts}
            )
            concurrent = time.perf_counter() - start
        timed.enabled = False
        sizes = list(batching.batch_sizes)
    del workload.generate_batch
    ref = states[0]["trace"]
    same = all(
        s["trace"]["completion_ids"] == ref["completion_ids"]
        and s["trace"]["env_mask"] == ref["env_mask"]
        and max(abs(x - y) for x, y in zip(s["trace"]["logprobs"], ref["logprobs"], strict=True)) < 1e-4
        for s in concurrent_states + states
    )
    raw = raw_replay(policy, batches)
    return Result(
        mode=mode,
        rollouts=args.rollouts,
        turns_per_rollout=sum(s["counters"]["turns"] for s in states) / len(states),
        policy_tokens=sum(sum(s["trace"]["env_mask"]) for s in states),
        sequential_s=round(sequential, 3),
        concurrent_s=round(concurrent, 3),
        generate_in_concurrent_s=round(timed.seconds, 3),
        raw_generate_s=round(raw, 3),
        batch_sizes=sizes,
        prefix_cache_hits=policy.prefix_hits - hits,
        rss_baseline_mb=round(baseline, 1),
        rss_peak_concurrent_mb=round(rss.peak, 1),
        extra={"same_ids_and_logprobs_across_rollouts_and_arms": same},
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and optionally write JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, help="checkpoint directory (default: build a tiny one with --size)")
    p.add_argument("--size", default="default", choices=["test", "small", "default"], help="tiny size to build")
    p.add_argument("--rollouts", type=int, default=16)
    p.add_argument("--mode", choices=["forced", "free", "both"], default="both")
    p.add_argument("--max-new-tokens", type=int, default=32, help="per turn, free mode")
    p.add_argument("--max-turns", type=int, default=4, help="free mode")
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=20.0,
        help="BatchingPolicy quiet period (its default, 5, splits the first turn when threads start slowly)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument(
        "--profile",
        default="paper",
        choices=sorted(PROFILES),
        help="prompt profile: paper (long prompt and summaries) or compact (what the embedded default policy runs in)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--no-prefix-cache", action="store_true", help="re-prefill every turn's full prompt")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    console = Console(width=200)
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
        model_dir = args.model
        build = None
        if model_dir is None:
            build = init_tiny(Path(tmp) / "model", size=args.size)
            model_dir = Path(build.out)
        policy = HFPolicy.from_pretrained(
            model_dir, dtype=args.dtype, device=args.device, prefix_cache=False if args.no_prefix_cache else None
        )
        Timed(policy)
        image = demo_image(Path(tmp) / "demo.png")
        inputs = {"question": DEMO_QUESTION, "image": make_ref(str(image), open_image(str(image)))}
        modes = ["forced", "free"] if args.mode == "both" else [args.mode]
        results = [run_mode(m, policy, inputs, args, str(Path(tmp) / "crops")) for m in modes]
        params = sum(x.numel() for x in policy.model.parameters())
    table = Table(
        title=f"{args.rollouts} rollouts, tiny Qwen2.5-VL ({params / 1e6:.1f}M params), {args.threads} thread(s), "
        f"{args.profile} profile"
    )
    for col in (
        "mode",
        "turns",
        "tokens",
        "sequential s",
        "concurrent s",
        "ratio",
        "generate s",
        "graph+tools",
        "raw generate s",
        "vs raw",
        "batches",
        "peak RSS MiB",
    ):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r.mode,
            f"{r.turns_per_rollout:.0f}",
            str(r.policy_tokens),
            f"{r.sequential_s:.2f}",
            f"{r.concurrent_s:.2f}",
            f"{r.throughput_ratio:.2f}x",
            f"{r.generate_in_concurrent_s:.2f}",
            f"{r.graph_tools_overhead:+.0%}",
            f"{r.raw_generate_s:.2f}",
            f"{r.over_raw_generate:+.0%}",
            " ".join(map(str, r.batch_sizes)),
            f"{r.rss_peak_concurrent_mb:.0f} (base {r.rss_baseline_mb:.0f})",
        )
    console.print(table)
    report = {
        "benchmark": "rollout",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "torch_threads": args.threads},
        "versions": {k: version(k) for k in ("torch", "transformers", "langgraph")},
        "model": {"dir": None if build else str(model_dir), "size": args.size if build else None, "params": params},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "max_rss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "results": [asdict(r) for r in results],
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
