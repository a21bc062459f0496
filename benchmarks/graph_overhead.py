"""Per-node-transition overhead of LangGraph: a trivial counter graph vs the real agent graph, by persistence.

Run from the repository root:

    .venv/bin/python benchmarks/graph_overhead.py --transitions 200 --reps 20 --out runs/graph_overhead.json

Two graphs, each under four persistence settings (no checkpointer, `InMemorySaver`, `SqliteSaver` with the default
durability, `SqliteSaver` with `durability="exit"`):

- counter: two nodes that increment an int, looping until `--transitions` node executions; pure LangGraph cost.
- agent: `graph.build.build_graph` with `ScriptedPolicy(DEMO_SCRIPT)` over the fixture toolset (crops written to a
  temporary folder), on the demo composite: crop + image search, two text searches, answer. Its per-transition time
  includes the nodes' real work (image decoding, cropping, fixture search, token trace); the persistence cost is
  the difference to the "none" row.

Every timed run is a `stream(..., stream_mode="updates")`, and the node executions of each run are counted from
its update events. SQLite files live in a temporary folder that is removed at exit. Each setting gets one untimed
warm-up run; every run uses a new thread id.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from rich.console import Console
from rich.table import Table
from typing_extensions import TypedDict

from graph.build import build_graph
from graph.demo import DEMO_QUESTION, DEMO_SCRIPT, demo_image
from policy.scripted import ScriptedPolicy
from tools.fixture import fixture_toolset
from tools.images import make_ref, open_image
from world.fixture import build_fixture_world

PERSISTENCE = ("none", "memory", "sqlite", "sqlite-exit")


class CounterState(TypedDict):
    """State of the trivial graph."""

    n: int


def _inc(state: CounterState) -> CounterState:
    return {"n": state["n"] + 1}


def build_counter(limit: int, checkpointer=None) -> CompiledStateGraph:
    """Two nodes `a -> b -> a ...`, each adding 1, stopping after `limit` node executions."""
    g = StateGraph(CounterState)
    g.add_node("a", _inc)
    g.add_node("b", _inc)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_conditional_edges("b", lambda s: END if s["n"] >= limit else "a", ["a", END])
    return g.compile(checkpointer=checkpointer)


@dataclass
class Result:
    """Timings of one graph under one persistence setting."""

    graph: str
    persistence: str
    reps: int
    transitions_per_run: int
    run_ms_median: float
    run_ms_min: float
    us_per_transition_median: float
    us_per_transition_min: float
    delta_us_per_transition_vs_none: float | None = None


@contextmanager
def checkpointer_for(persistence: str, tmpdir: str, name: str) -> Iterator[tuple[object, dict]]:
    """Yield (checkpointer, extra stream kwargs) for a persistence setting; SQLite files go to `tmpdir`."""
    if persistence == "none":
        yield None, {}
    elif persistence == "memory":
        yield InMemorySaver(), {}
    else:
        conn = sqlite3.connect(os.path.join(tmpdir, f"{name}-{persistence}.sqlite"), check_same_thread=False)
        try:
            yield SqliteSaver(conn), ({"durability": "exit"} if persistence == "sqlite-exit" else {})
        finally:
            conn.close()


def time_runs(
    graph: CompiledStateGraph, make_input: Callable[[], dict], reps: int, recursion_limit: int, check, **kw
) -> tuple[list[float], list[int]]:
    """Stream `reps + 1` runs (the first untimed); return wall seconds and node executions of the timed ones."""
    seconds, counts = [], []
    for rep in range(reps + 1):
        config = {"configurable": {"thread_id": f"t{rep}"}, "recursion_limit": recursion_limit}
        inp = make_input()
        t0 = time.perf_counter()
        nodes = 0
        for update in graph.stream(inp, config, stream_mode="updates", **kw):
            nodes += len(update)
        dt = time.perf_counter() - t0
        if rep:
            seconds.append(dt)
            counts.append(nodes)
    if graph.checkpointer is not None:
        check(graph.get_state({"configurable": {"thread_id": f"t{reps}"}}).values)
    return seconds, counts


def summarise(graph: str, persistence: str, seconds: list[float], counts: list[int]) -> Result:
    """Median and minimum per run and per node transition."""
    if len(set(counts)) != 1:
        raise RuntimeError(f"{graph}/{persistence}: node executions differ between runs: {sorted(set(counts))}")
    n = counts[0]
    return Result(
        graph=graph,
        persistence=persistence,
        reps=len(seconds),
        transitions_per_run=n,
        run_ms_median=statistics.median(seconds) * 1e3,
        run_ms_min=min(seconds) * 1e3,
        us_per_transition_median=statistics.median(seconds) / n * 1e6,
        us_per_transition_min=min(seconds) / n * 1e6,
    )


def bench_counter(transitions: int, reps: int, tmpdir: str) -> list[Result]:
    """The trivial graph under every persistence setting."""

    def check(values: dict) -> None:
        if values["n"] != transitions:
            raise RuntimeError(f"counter graph ended at {values['n']}, expected {transitions}")

    results = []
    for persistence in PERSISTENCE:
        with checkpointer_for(persistence, tmpdir, "counter") as (saver, kw):
            graph = build_counter(transitions, saver)
            seconds, counts = time_runs(graph, lambda: {"n": 0}, reps, transitions + 10, check, **kw)
        results.append(summarise("counter", persistence, seconds, counts))
    return results


def bench_agent(reps: int, tmpdir: str) -> list[Result]:
    """The agent graph running DEMO_SCRIPT under every persistence setting."""
    world = build_fixture_world()
    image_path = demo_image(Path(tmpdir) / "demo.png", world)
    image = make_ref(str(image_path), open_image(str(image_path)))
    tools = fixture_toolset(world, crop_dir=os.path.join(tmpdir, "crops"))

    def check(values: dict) -> None:
        if values.get("answer") != "Paris" or values.get("stop_reason") != "answered":
            raise RuntimeError(f"agent run ended with {values.get('answer')!r} / {values.get('stop_reason')!r}")

    results = []
    for persistence in PERSISTENCE:
        with checkpointer_for(persistence, tmpdir, "agent") as (saver, kw):
            graph = build_graph(ScriptedPolicy(DEMO_SCRIPT), tools, checkpointer=saver)
            seconds, counts = time_runs(
                graph, lambda: {"question": DEMO_QUESTION, "image": image}, reps, 100, check, **kw
            )
        results.append(summarise("agent", persistence, seconds, counts))
    return results


def machine() -> dict:
    """Where the numbers were taken."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print the table, write the JSON report if asked."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--transitions", type=int, default=200, help="node executions per counter-graph run")
    p.add_argument("--reps", type=int, default=20, help="timed runs per graph and persistence setting")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.transitions < 2 or args.reps < 1:
        p.error("need --transitions >= 2 and --reps >= 1")

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="graph-overhead-") as tmpdir:
        results = bench_counter(args.transitions, args.reps, tmpdir) + bench_agent(args.reps, tmpdir)
    for r in results:
        base = next(b for b in results if b.graph == r.graph and b.persistence == "none")
        r.delta_us_per_transition_vs_none = r.us_per_transition_median - base.us_per_transition_median
    elapsed = time.perf_counter() - t0

    report = {
        "machine": machine(),
        "langgraph": version("langgraph"),
        "langgraph_checkpoint_sqlite": version("langgraph-checkpoint-sqlite"),
        "args": {"transitions": args.transitions, "reps": args.reps},
        "elapsed_s": elapsed,
        "results": [asdict(r) for r in results],
    }

    table = Table(title=f"LangGraph {report['langgraph']}: time per node transition (median of {args.reps} runs)")
    for col in ("graph", "persistence", "nodes/run", "ms/run med", "ms/run min", "µs/transition", "Δ µs vs none"):
        table.add_column(col, justify="left" if col in ("graph", "persistence") else "right", no_wrap=True)
    for r in results:
        table.add_row(
            r.graph,
            r.persistence,
            str(r.transitions_per_run),
            f"{r.run_ms_median:.2f}",
            f"{r.run_ms_min:.2f}",
            f"{r.us_per_transition_median:.0f}",
            f"{r.delta_us_per_transition_vs_none:+.0f}",
        )
    console = Console(width=max(Console().width, 100))
    console.print(table)
    m = report["machine"]
    console.print(f"{m['platform']}, {m['cpus_usable']}/{m['cpu_count']} CPUs, Python {m['python']}; {elapsed:.1f} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
