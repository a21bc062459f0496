"""Resuming the agent graph from a SQLite checkpoint after a crash, and persistence with the async saver."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from PIL import Image

from graph import build_graph
from graph.demo import DEMO_SCRIPT
from policy.base import Generation, GenerationRequest, Policy
from policy.scripted import ScriptedPolicy
from tools.base import Box, Hit, Toolset


class PolicyCrashError(RuntimeError):
    """The simulated crash."""


class CrashOnceAfter:
    """Delegates to `policy` but raises `PolicyCrashError` on call number `crash_on` (1-based), once."""

    def __init__(self, policy: Policy, crash_on: int) -> None:
        self.policy = policy
        self.crash_on = crash_on
        self.calls = 0

    def generate(self, request: GenerationRequest) -> Generation:
        self.calls += 1
        if self.calls == self.crash_on:
            raise PolicyCrashError(f"simulated crash on policy call {self.calls}")
        return self.policy.generate(request)


class CountingSearch:
    """A search backend that records the queries it serves."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.calls: list[object] = []

    def search(self, query, k: int) -> list[Hit]:
        self.calls.append(query if isinstance(query, str) else "<image>")
        return self.backend.search(query, k)


class CountingGrounder:
    """A grounder that records the expressions it serves."""

    def __init__(self, grounder) -> None:
        self.grounder = grounder
        self.calls: list[str] = []

    def ground(self, image: Image.Image, expression: str) -> Box:
        self.calls.append(expression)
        return self.grounder.ground(image, expression)


def counting(tools: Toolset) -> Toolset:
    """A copy of `tools` whose search and grounding backends count their calls."""
    return dataclasses.replace(
        tools,
        text_search=CountingSearch(tools.text_search),
        image_search=CountingSearch(tools.image_search),
        grounder=CountingGrounder(tools.grounder),
    )


def backend_calls(tools: Toolset) -> dict[str, list]:
    return {
        "grounder": list(tools.grounder.calls),
        "image_search": list(tools.image_search.calls),
        "text_search": list(tools.text_search.calls),
    }


def sqlite_saver(path: Path) -> SqliteSaver:
    return SqliteSaver(sqlite3.connect(path, check_same_thread=False))


def thread(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


def comparable(state: dict) -> dict:
    """The state without the crop files' random names (each run writes its crop to a new file)."""
    out = dict(state)
    out["images"] = [{k: v for k, v in ref.items() if k != "uri"} for ref in state["images"]]
    return out


@pytest.fixture
def reference(tools, inputs) -> dict:
    """An uninterrupted run of the demo script, without a checkpointer."""
    return build_graph(ScriptedPolicy(DEMO_SCRIPT), tools).invoke(inputs)


def crash_then_resume(tools: Toolset, inputs: dict, db: Path, **invoke_kw) -> tuple[dict, Toolset, Toolset]:
    """Crash on the 3rd policy call, then resume from `db` in a new graph on a new connection.

    Returns the resumed run's final state and the counted toolsets of the crashed run and the resumed run.
    """
    first_tools = counting(tools)
    crashing = CrashOnceAfter(ScriptedPolicy(DEMO_SCRIPT), crash_on=3)
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        first = build_graph(crashing, first_tools, checkpointer=SqliteSaver(conn))
        with pytest.raises(PolicyCrashError):
            first.invoke(inputs, thread("t1"), **invoke_kw)
    finally:
        conn.close()  # the "process" is gone: nothing in memory survives
    assert crashing.calls == 3
    # reason 1 -> crop -> image_search -> reflect -> reason 2 -> text_search -> reflect -> reason 3 (crash)
    assert backend_calls(first_tools) == {
        "grounder": ["the flag in the middle"],
        "image_search": ["<image>"],
        "text_search": ["France flag"],
    }

    resumed_tools = counting(tools)
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        graph = build_graph(ScriptedPolicy(DEMO_SCRIPT), resumed_tools, checkpointer=SqliteSaver(conn))
        crashed = graph.get_state(thread("t1"))
        assert crashed.next == ("reason",)
        assert [t.name for t in crashed.tasks] == ["reason"] and "simulated crash" in crashed.tasks[0].error
        assert [o["tool"] for o in crashed.values["observations"]] == ["crop", "image_search", "text_search"]
        out = graph.invoke(None, thread("t1"), **invoke_kw)
        history = list(graph.get_state_history(thread("t1")))
        assert history, "the resumed thread has no checkpoint history"
        assert history[0].next == () and history[0].values["answer"] == out["answer"]
    finally:
        conn.close()
    return out, first_tools, resumed_tools


def test_resume_after_crash_repeats_no_tool_call(tools, inputs, reference, tmp_path):
    out, _, resumed_tools = crash_then_resume(tools, inputs, tmp_path / "ck.sqlite")
    assert out["answer"] == reference["answer"] == "Paris"
    assert out["stop_reason"] == "answered"
    # the resumed run only did what was left: the refined text search; the crop and image search were not redone
    assert backend_calls(resumed_tools) == {"grounder": [], "image_search": [], "text_search": ["capital of France"]}
    assert out["counters"] == reference["counters"]
    assert len(out["observations"]) == len(reference["observations"]) == 4
    assert out["messages"] == reference["messages"]
    assert out["trace"] == reference["trace"]
    assert comparable(out) == comparable(reference)


def test_durability_exit_still_resumes_after_an_exception(tools, inputs, reference, tmp_path):
    """`durability="exit"` writes one checkpoint when the run exits, also when it exits by an exception.

    (A killed process would lose the whole run: with "exit" nothing is written before the run ends.)
    """
    out_exit, _, resumed_exit = crash_then_resume(tools, inputs, tmp_path / "exit.sqlite", durability="exit")
    out_sync, _, resumed_sync = crash_then_resume(tools, inputs, tmp_path / "sync.sqlite", durability="sync")
    assert comparable(out_exit) == comparable(out_sync) == comparable(reference)
    assert backend_calls(resumed_exit) == backend_calls(resumed_sync)

    def checkpoints(db: Path) -> int:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = 't1'").fetchone()[0]
        finally:
            conn.close()

    # exit: one checkpoint at the crash, one at the end; sync: one per superstep (input + 8 steps, then 5 more)
    n_exit, n_sync = checkpoints(tmp_path / "exit.sqlite"), checkpoints(tmp_path / "sync.sqlite")
    assert n_exit == 2
    assert n_sync > n_exit


def test_async_sqlite_saver_abatch(tools, inputs, reference, tmp_path):
    async def main() -> tuple[list[dict], list[dict]]:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "async.sqlite")) as saver:
            graph = build_graph(ScriptedPolicy(DEMO_SCRIPT), tools, checkpointer=saver)
            configs = [thread(f"a{i}") for i in range(3)]
            outs = await graph.abatch([inputs] * 3, configs)
            states = [(await graph.aget_state(c)).values for c in configs]
            histories = [[s async for s in graph.aget_state_history(c)] for c in configs]
            assert all(histories), "a thread has no checkpoint history"
            assert len({len(h) for h in histories}) == 1
            return outs, states

    outs, states = asyncio.run(main())
    for out, state in zip(outs, states, strict=True):
        assert out["answer"] == "Paris" and out["stop_reason"] == "answered"
        assert comparable(out) == comparable(state) == comparable(reference)
    # each thread wrote its own crop file
    assert len({state["images"][1]["uri"] for state in states}) == 3
