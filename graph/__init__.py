"""The DeepMMSearch-R1 agent as a LangGraph state graph.

`build_graph(policy, tools)` compiles the one agent loop that the demo, evaluation, data generation and RL
rollouts all run. Importing this package loads no model code (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graph.context import RunConfig
from graph.state import AgentInput, AgentState

if TYPE_CHECKING:
    from graph.build import build_graph

__all__ = ["AgentInput", "AgentState", "RunConfig", "build_graph"]


def __getattr__(name: str) -> Any:
    # build_graph imports the nodes, which import graph.state; loading it lazily keeps that cycle-free.
    if name == "build_graph":
        from graph.build import build_graph

        return build_graph
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
