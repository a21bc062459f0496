"""Package-level contracts: light imports, the right `graph` package, the README's graph diagram in sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import graph

ROOT = Path(__file__).resolve().parents[1]


def test_import_graph_does_not_load_torch():
    code = (
        "import sys, graph, nodes, tools, policy, world, graph.build, graph.app, tools.fixture; "
        "print(','.join(m for m in ('torch', 'transformers', 'trl', 'vllm') if m in sys.modules))"
    )
    # graph.app serves the main job's trained model once runs/main holds one (it loads torch then, by design)
    env = {**os.environ, "DEEPMMSEARCH_POLICY": "scripted"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    assert res.stdout.strip() == ""


def test_graph_package_is_this_repository():
    # the package names are generic; a clash with another installed distribution would shadow ours
    assert Path(graph.__file__).resolve().parent == ROOT / "graph"


def test_readme_mermaid_matches_compiled_graph():
    from graph.build import build_graph
    from policy.scripted import ScriptedPolicy
    from tools.fixture import fixture_toolset

    mermaid = build_graph(ScriptedPolicy([]), fixture_toolset()).get_graph().draw_mermaid().strip()
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0].strip()
    assert block == mermaid, "README's graph is stale: paste the output of `deepmmsearch graph` into it"


def test_langgraph_json_points_at_app_graph():
    import json

    spec = json.loads((ROOT / "langgraph.json").read_text())
    module, _, attr = spec["graphs"]["agent"].partition(":")
    assert (ROOT / module).is_file() and attr == "graph"
