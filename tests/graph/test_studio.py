"""The `langgraph dev` server (what LangGraph Studio talks to) serves the agent graph of `langgraph.json`.

Starts the real server as a subprocess on a free loopback port and drives it with the official SDK client. The
in-memory runtime writes its pickles to `./.langgraph_api` of its working directory (hard-coded), so the server
runs in a temporary folder with a copy of the repository's `langgraph.json` whose relative paths are made absolute;
the repository tree is left untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.demo import DEMO_QUESTION

langgraph_sdk = pytest.importorskip("langgraph_sdk", reason="langgraph-sdk is not installed (extra `studio`)")

REPO = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
STARTUP_TIMEOUT_S = 60.0
# the search plan on a question about a position: crop + image search, text search, answer
PLAN_NODES = ["reason", "crop", "image_search", "reflect", "reason", "text_search", "reflect", "reason", "answer"]

pytestmark = pytest.mark.skipif(
    not LANGGRAPH.exists(), reason=f"no `langgraph` executable at {LANGGRAPH} (install the `studio` extra)"
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_API_URL = re.compile(r"API: (http://[\w.\-]+:\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def server_config(workdir: Path) -> Path:
    """Write the repository's `langgraph.json` into `workdir` with its relative paths resolved against the repo."""
    config = json.loads((REPO / "langgraph.json").read_text())
    config["dependencies"] = [str((REPO / d).resolve()) if d.startswith(".") else d for d in config["dependencies"]]
    graphs = {}
    for graph_id, spec in config["graphs"].items():
        path, _, attr = spec.rpartition(":")
        graphs[graph_id] = f"{(REPO / path).resolve()}:{attr}" if path.startswith(".") else spec
    config["graphs"] = graphs
    out = workdir / "langgraph.json"
    out.write_text(json.dumps(config))
    return out


def server_env(crop_dir: Path) -> dict[str, str]:
    """The environment without credentials, with tracing off."""
    secret = re.compile(r"API_KEY|TOKEN|SECRET|^LANGSMITH_|^LANGCHAIN_|^LANGGRAPH_")
    env = {k: v for k, v in os.environ.items() if not secret.search(k)}
    env.update(
        LANGSMITH_TRACING="false",
        PYTHONUNBUFFERED="1",
        DEEPMMSEARCH_CROP_DIR=str(crop_dir),
        DEEPMMSEARCH_WORLD="fixture",
        DEEPMMSEARCH_POLICY="scripted",  # not the main job's trained agent, should runs/main hold one
    )
    return env


def read_log(path: Path) -> str:
    return _ANSI.sub("", path.read_text(errors="replace")) if path.exists() else ""


def stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(proc.pid, 0)  # a child of the server may outlive it
        except ProcessLookupError:
            return
        time.sleep(0.5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A running `langgraph dev` server; yields its base URL."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    config = server_config(workdir)
    log_path = tmp_path / "langgraph-dev.log"
    repo_state_dir_existed = (REPO / ".langgraph_api").exists()
    port = free_port()
    cmd = [str(LANGGRAPH), "dev", "--config", str(config), "--no-browser", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-reload"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=server_env(tmp_path / "crops"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() reaches every child
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                tail = read_log(log_path)[-4000:]
                pytest.fail(f"langgraph dev exited with {proc.returncode} during startup:\n{tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{read_log(log_path)[-4000:]}")
            # `langgraph dev` silently moves to another port when the one asked for is taken: trust the log
            m = _API_URL.search(read_log(log_path))
            if m:
                url = m.group(1)
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
                    if resp.status == 200 and json.loads(resp.read()).get("ok"):
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)
    actual_port = int(url.rsplit(":", 1)[1])
    assert proc.returncode is not None, "the server is still running"
    assert not port_open(actual_port), f"port {actual_port} is still open after the server was stopped"
    assert (workdir / ".langgraph_api").is_dir(), "the server's working files were expected in its cwd"
    assert repo_state_dir_existed or not (REPO / ".langgraph_api").exists(), "the server wrote into the repo"


async def stream_run(url: str, inputs: dict, context: dict) -> tuple[list[str], dict, list]:
    """Stream one run on a new thread; return the updated node names, the thread's final values, other events."""
    client = langgraph_sdk.get_client(url=url, api_key=None, timeout=60.0)
    assistants = await client.assistants.search(graph_id="agent")
    assert assistants, "no assistant for graph 'agent'"
    thread = await client.threads.create()
    nodes: list[str] = []
    errors: list = []
    async for part in client.runs.stream(
        thread["thread_id"], assistants[0]["assistant_id"], input=inputs, stream_mode="updates", context=context
    ):
        if part.event == "updates":
            nodes.extend(part.data)
        elif part.event not in ("metadata", "end"):
            errors.append((part.event, part.data))
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == [], f"the run did not finish: next={state['next']}"
    return nodes, state["values"], errors


def test_langgraph_dev_serves_the_agent(server: str, inputs: dict):
    assert "middle" in DEMO_QUESTION
    nodes, values, other = asyncio.run(stream_run(server, inputs, {"max_turns": 5}))
    assert other == []
    assert nodes == PLAN_NODES
    assert values["stop_reason"] == "answered"
    assert values["answer"].strip()
    assert "Paris" in values["answer"]
    assert [o["tool"] for o in values["observations"]] == ["crop", "image_search", "text_search"]
    assert values["observations"][1]["hits"][0]["title"] == "Flag of France"
    # the crop went to DEEPMMSEARCH_CROP_DIR, not into the state as a data URL
    assert Path(values["images"][1]["uri"]).is_file()

    # `context=` reaches the graph (as a JSON dict) and its limits apply
    nodes, values, other = asyncio.run(stream_run(server, inputs, {"max_turns": 1}))
    assert other == []
    assert nodes == ["reason", "crop", "image_search", "reflect", "answer"]
    assert values["stop_reason"] == "max_turns"
    assert values["counters"]["turns"] == 1
