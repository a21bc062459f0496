"""The `langgraph.json` target: the graph `langgraph dev` and LangGraph Studio serve.

It serves the main job's trained agent once `deepmmsearch main` has trained it (runs/main/rl/final), with the prompt
style and summary budgets it was trained with as the default context; before that, the scripted search plan. The
tools search the frozen web when one is built (`deepmmsearch world build`), else the fixture world. Environment
variables are read here and nowhere else in the library:

- `DEEPMMSEARCH_POLICY`: `scripted`, `hf:DIR` or `openai:MODEL` (with `DEEPMMSEARCH_BASE_URL`); default above.
- `DEEPMMSEARCH_WORLD`: a built world folder, "fixture", or "live" (with `TAVILY_API_KEY`, `LENS_BASE_URL`)
  (default: runs/world/full if built, else the fixture).
- `DEEPMMSEARCH_CROP_DIR`: where crops are written (default: inline data URLs in the state).
"""

from __future__ import annotations

import os

from graph.build import build_graph, with_defaults
from graph.context import RunConfig
from policy.default import default_policy_spec
from policy.profile import get_profile
from policy.spec import policy_from_spec, trained_profile
from tools.defaults import default_toolset

_spec = os.environ.get("DEEPMMSEARCH_POLICY") or default_policy_spec()
graph = with_defaults(
    build_graph(
        policy_from_spec(_spec, concurrency=4, base_url=os.environ.get("DEEPMMSEARCH_BASE_URL")),
        default_toolset(
            os.environ.get("DEEPMMSEARCH_WORLD"), crop_dir=os.environ.get("DEEPMMSEARCH_CROP_DIR"), env=os.environ
        ),
    ),
    get_profile(trained_profile(_spec)).run_config(RunConfig(max_new_tokens=96 if _spec.startswith("hf:") else 512)),
)
