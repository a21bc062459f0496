"""The `langgraph.json` target: the graph `langgraph dev` and LangGraph Studio serve.

At this stage it serves the scripted search plan (no trained model yet; see README) over the frozen web when one is
built (`deepmmsearch world build`), else over the fixture world. Environment variables are read here and nowhere
else in the library:

- `DEEPMMSEARCH_WORLD`: a built world folder, or "fixture" (default: runs/world/full if built, else the fixture).
- `DEEPMMSEARCH_CROP_DIR`: where crops are written (default: inline data URLs in the state).
"""

from __future__ import annotations

import os

from graph.build import build_graph
from policy.scripted import ScriptedPolicy, search_plan_script
from tools.defaults import default_toolset

graph = build_graph(
    ScriptedPolicy(search_plan_script()),
    default_toolset(os.environ.get("DEEPMMSEARCH_WORLD"), crop_dir=os.environ.get("DEEPMMSEARCH_CROP_DIR")),
)
