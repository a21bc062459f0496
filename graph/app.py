"""The `langgraph.json` target: the graph `langgraph dev` and LangGraph Studio serve.

At this stage it serves the scripted search plan over the fixture world (no model yet; see README). Environment
variables are read here and nowhere else in the library:

- `DEEPMMSEARCH_CROP_DIR`: where crops are written (default: inline data URLs in the state).
"""

from __future__ import annotations

import os

from graph.build import build_graph
from policy.scripted import ScriptedPolicy, search_plan_script
from tools.fixture import fixture_toolset

graph = build_graph(
    ScriptedPolicy(search_plan_script()),
    fixture_toolset(crop_dir=os.environ.get("DEEPMMSEARCH_CROP_DIR")),
)
