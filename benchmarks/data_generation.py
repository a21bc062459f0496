"""Throughput of DeepMMSearchVQA generation: oracle trajectories through the graph over a built frozen web.

Run from the repository root (after `deepmmsearch world build --size full`):

    .venv/bin/python benchmarks/data_generation.py --world runs/world/full --n 10000 --workers 2 \
        --out runs/bench/data --json runs/bench/data_generation.json

It runs `sft.data.pipeline.generate` as `deepmmsearch data generate` does (fresh output folder unless `--resume`),
then the export to Hugging Face datasets and the data card, and prints a table: wall time per stage, trajectories
per second, teacher yield (kept / attempted), the teacher's accuracy on its own questions per split, and the
rejection reasons. The JSON has the same numbers plus the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sft.data.pipeline import GenerateConfig, generate


def main() -> None:
    """Parse arguments, run, print and write the numbers."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="runs/world/full")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--rl-n", type=int, default=1_000)
    p.add_argument("--eval-n", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="runs/bench/data")
    p.add_argument("--json", default="runs/bench/data_generation.json")
    p.add_argument("--resume", action="store_true", help="keep an existing --out (default: start afresh)")
    args = p.parse_args()
    out = Path(args.out)
    if out.exists() and not args.resume:
        shutil.rmtree(out)
    cfg = GenerateConfig(
        world=args.world, out=str(out), n=args.n, rl_n=args.rl_n, eval_n=args.eval_n, workers=args.workers
    )
    t0 = time.perf_counter()
    summary = generate(cfg)
    t_gen = time.perf_counter() - t0
    from sft.data.card import write_card
    from sft.data.export import export

    t1 = time.perf_counter()
    export(out)
    write_card(out)
    t_export = time.perf_counter() - t1
    attempts = sum(summary["reasons"].values())
    kept = sum(v for k, v in summary["uses"].items() if k != "none")
    result = {
        "n": args.n,
        "rl_n": args.rl_n,
        "eval_n": args.eval_n,
        "workers": args.workers,
        "generate_s": round(t_gen, 1),
        "export_and_card_s": round(t_export, 1),
        "attempts": attempts,
        "kept": kept,
        "attempts_per_s": round(attempts / t_gen, 2),
        "sft_per_s": round(summary["uses"].get("sft", 0) / t_gen, 2),
        **summary,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    table = Table(title="DeepMMSearchVQA generation")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("generate_s", "export_and_card_s", "attempts", "kept", "attempts_per_s", "sft_per_s"):
        table.add_row(key, str(result[key]))
    for split, acc in summary["teacher_accuracy"].items():
        table.add_row(f"teacher accuracy ({split})", f"{acc:.3f}")
    for reason, count in summary["reasons"].items():
        table.add_row(f"reason: {reason}", str(count))
    Console().print(table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
