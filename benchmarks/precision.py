"""fp32 vs bf16 autocast on this CPU: the measurement behind the recipes' `bf16: auto` (policy/precision.py).

Run from the repository root:

    .venv/bin/python benchmarks/precision.py --threads 2 --out runs/bench/precision.json

Times, in fp32 and under `torch.autocast("cpu", dtype=torch.bfloat16)`, the shapes the embedded default policy's
training spends its time on (SmolLM2-135M: hidden 576, MLP 1536, vocabulary 49,152): a square matmul, and a Linear
layer's forward + backward on a batch of tokens (the SFT/GRPO update). bf16 autocast pays only where the CPU has
native bf16 (AVX512-BF16 or AMX); elsewhere oneDNN emulates it and it can be an order of magnitude slower than
fp32. The table says which case this machine is and what `bf16: auto` resolves to here.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    """One timed operation in both precisions."""

    op: str
    shape: str
    gflop: float
    fp32_ms: float
    bf16_ms: float

    @property
    def bf16_speedup(self) -> float:
        """fp32 time / bf16 time (> 1: bf16 autocast is faster)."""
        return self.fp32_ms / self.bf16_ms


def _time_ms(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of `fn` in milliseconds, after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(reps: int, tokens: int) -> list[Row]:
    """Time a 1024³ matmul and Linear forward+backward of the policy's shapes, fp32 vs bf16 autocast."""
    import torch

    def autocast(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fn()

        return run

    rows = []
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    rows.append(
        Row(
            "matmul",
            "1024×1024×1024",
            2 * 1024**3 / 1e9,
            _time_ms(lambda: a @ b, reps),
            _time_ms(autocast(lambda: a @ b), reps),
        )
    )
    for name, (n_in, n_out) in {"mlp-up": (576, 1536), "mlp-down": (1536, 576), "lm-head": (576, 49152)}.items():
        layer = torch.nn.Linear(n_in, n_out, bias=False)
        x = torch.randn(tokens, n_in, requires_grad=True)

        def step(layer: torch.nn.Linear = layer, x: torch.Tensor = x) -> object:
            layer.weight.grad = None
            x.grad = None
            out = layer(x)
            out.float().sum().backward()
            return out

        gflop = 3 * 2 * tokens * n_in * n_out / 1e9  # forward + two backward matmuls
        rows.append(
            Row(f"{name} f+b", f"{tokens}×{n_in}→{n_out}", gflop, _time_ms(step, reps), _time_ms(autocast(step), reps))
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2, the CI machine)")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per operation (median reported)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens in a Linear layer's batch (default 128)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/precision.json"), help="JSON output path")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.reps < 1 or args.tokens < 1:
        parser.error("--threads, --reps and --tokens must be positive")

    import torch

    from policy.precision import cpu_has_native_bf16, resolve_bf16

    torch.set_num_threads(args.threads)
    rows = measure(args.reps, args.tokens)
    native = cpu_has_native_bf16()
    auto = resolve_bf16("auto", use_cpu=True)
    table = Table(title=f"fp32 vs bf16 autocast, {args.threads} threads · native bf16: {native} · bf16: auto → {auto}")
    for col in ("op", "shape", "fp32 ms", "fp32 GFLOPS", "bf16 ms", "bf16 GFLOPS", "bf16 speed-up"):
        table.add_column(col, justify="left" if col in ("op", "shape") else "right")
    for r in rows:
        table.add_row(
            r.op,
            r.shape,
            f"{r.fp32_ms:.1f}",
            f"{r.gflop / r.fp32_ms * 1e3:.1f}",
            f"{r.bf16_ms:.1f}",
            f"{r.gflop / r.bf16_ms * 1e3:.1f}",
            f"{r.bf16_speedup:.2f}×",
        )
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"processor": platform.processor(), "machine": platform.machine(), "torch": torch.__version__},
        "threads": args.threads,
        "native_bf16": native,
        "bf16_auto_on_cpu": auto,
        "rows": [{**asdict(r), "bf16_speedup": r.bf16_speedup} for r in rows],
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
