"""Search-server load test: N concurrent clients on loopback for a fixed time; zero errors required.

Run from the repository root:

    .venv/bin/python benchmarks/server.py --seconds 30 --clients 8 --out runs/bench/server.json
    .venv/bin/python benchmarks/server.py --world runs/world      # a built frozen web instead of the fixture

The server runs as its own process (`python -m world.serve_cli serve --port 0`, one uvicorn worker), exactly as
`deepmmsearch serve` starts it. Each client is a thread with its own `tools.remote.RemoteClient` (own connection
pool, the production retry policy) that loops over a mix of requests: text search (50 %), image search of a flag
crop (25 %) and grounding an expression on a three-flag composite (25 %), all with k = 5. Request bodies are built
once, so the clients' cost is HTTP and JSON, not PNG encoding. Any exception or non-200 answer counts as an error.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from tools.images import to_data_url
from tools.remote import RemoteClient
from tools.wire import GroundResponse, SearchResponse
from world.fixture import build_fixture_world, compose

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["capital of France", "flag of Japan", "population of Germany", "Stockholm", "Ireland", "largest city"]


def start_server(world: str, concurrency: int) -> tuple[subprocess.Popen[str], str]:
    """Start `world.serve_cli` on a free loopback port; return the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "world.serve_cli", "serve", "--port", "0", "--world", world]
        + ["--concurrency", str(concurrency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("serving "):
        proc.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return proc, line.split()[3]


def wait_until_healthy(url: str, timeout: float = 30.0) -> None:
    """Poll `/health` until the server answers (it prints its URL just before binding)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2).raise_for_status()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def workload() -> list[tuple[str, str, dict, type]]:
    """The request mix: (name, path, body, response model)."""
    world = build_fixture_world()
    flags = ["Japan", "France", "Germany"]
    composite = to_data_url(compose([world.flag(c) for c in flags]))
    crops = [to_data_url(world.flag(c)) for c in ("Sweden", "Italy", "Ukraine")]
    mix = [("text", "/v1/search/text", {"query": q, "k": 5}, SearchResponse) for q in QUERIES]
    mix += [("image", "/v1/search/image", {"image": c, "k": 5}, SearchResponse) for c in crops]
    mix += [
        ("ground", "/v1/ground", {"image": composite, "expression": e}, GroundResponse)
        for e in ("the flag on the left", "the flag in the middle", "the black flag")
    ]
    weights = [0.5 / len(QUERIES)] * len(QUERIES) + [0.25 / 3] * 3 + [0.25 / 3] * 3
    rng = random.Random(0)
    return rng.choices(mix, weights=weights, k=1000)


def main(argv: list[str] | None = None) -> dict:
    """Run the load test; print the table and return the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0, help="how long the clients run")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients")
    p.add_argument("--world", default="fixture", help="world folder or 'fixture'")
    p.add_argument("--concurrency", type=int, default=1, help="server: calls in each backend at once")
    p.add_argument("--out", type=Path, help="write the JSON report here")
    args = p.parse_args(argv)

    plan = workload()
    proc, url = start_server(args.world, args.concurrency)
    latencies: dict[str, list[float]] = {"text": [], "image": [], "ground": []}
    errors: list[str] = []
    lock = threading.Lock()
    try:
        wait_until_healthy(url)
        stop_at = time.monotonic() + args.seconds

        def client(n: int) -> None:
            remote = RemoteClient(url)
            mine: dict[str, list[float]] = {k: [] for k in latencies}
            i = n * 97
            while time.monotonic() < stop_at:
                name, path, body, model = plan[i % len(plan)]
                i += 1
                t0 = time.perf_counter()
                try:
                    remote.post(path, body, model)
                except Exception as exc:  # every failure is an error of the run
                    with lock:
                        errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                mine[name].append(time.perf_counter() - t0)
            remote.close()
            with lock:
                for k, v in mine.items():
                    latencies[k].extend(v)

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    def ms(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1e3, 2) if len(values) > 1 else 0.0

    ok = sum(len(v) for v in latencies.values())
    report = {
        "benchmark": "server",
        "world": args.world,
        "clients": args.clients,
        "server_concurrency": args.concurrency,
        "seconds": round(elapsed, 2),
        "requests": ok + len(errors),
        "errors": len(errors),
        "error_samples": errors[:10],
        "throughput_rps": round(ok / elapsed, 1),
        "by_endpoint": {
            k: {
                "n": len(v),
                "rps": round(len(v) / elapsed, 1),
                "p50_ms": ms(v, 50),
                "p95_ms": ms(v, 95),
                "p99_ms": ms(v, 99),
            }
            for k, v in latencies.items()
        },
        "passed": not errors and ok > 0,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    console = Console()
    table = Table(title=f"search server: {args.clients} clients × {elapsed:.0f} s on loopback ({args.world} world)")
    for col in ("endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "endpoint" else "right")
    for k, v in report["by_endpoint"].items():
        table.add_row(
            k, str(v["n"]), f"{v['rps']:.1f}", f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}", f"{v['p99_ms']:.1f}"
        )
    table.add_row("all", str(ok), f"{report['throughput_rps']:.1f}", "", "", "", style="bold")
    console.print(table)
    console.print(f"errors: {len(errors)} ({'PASS' if report['passed'] else 'FAIL'}: zero errors required)")
    for e in errors[:5]:
        console.print(f"  {e}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["passed"] else 1)
