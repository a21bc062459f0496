"""`build_graph`: the only place the agent's nodes and edges are declared.

reason ─┬─> answer ─> END
        ├─> text_search ─────────────┐
        ├─> image_search ────────────┤
        ├─> crop ─┬─> image_search ──┤
        │         └──────────────────┤
        └─> reflect <────────────────┘ ─> reason | answer (turn limit)
"""

from __future__ import annotations

from dataclasses import asdict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graph.context import DEFAULTS_KEY, RunConfig
from graph.routing import route_after_crop, route_after_reason, route_after_reflect
from graph.state import AgentInput, AgentState
from nodes.answer import answer
from nodes.reason import Reason
from nodes.reflect import reflect
from nodes.search import Crop, ImageSearch, TextSearch
from policy.base import Policy
from tools.base import Toolset

AgentGraph = CompiledStateGraph[AgentState, RunConfig, AgentInput, AgentState]
"""The compiled agent graph's type."""


def build_graph(
    policy: Policy, tools: Toolset, *, checkpointer: Checkpointer = None, name: str = "deepmmsearch"
) -> AgentGraph:
    """Compile the agent graph around a policy and a toolset.

    Args:
        policy: the backend that writes each turn.
        tools: the search, grounding and summarisation backends.
        checkpointer: a LangGraph checkpointer (e.g. `SqliteSaver`) for resumable runs; None for rollouts.
        name: the graph's name in traces and Studio.

    Returns:
        The compiled graph; invoke it with `{"question": ..., "image": ImageRef}` and `context=RunConfig(...)`.
    """
    builder = StateGraph(AgentState, context_schema=RunConfig, input_schema=AgentInput, output_schema=AgentState)
    builder.add_node("reason", Reason(policy))
    builder.add_node("crop", Crop(tools))
    builder.add_node("image_search", ImageSearch(tools))
    builder.add_node("text_search", TextSearch(tools))
    builder.add_node("reflect", reflect)
    builder.add_node("answer", answer)
    builder.add_edge(START, "reason")
    builder.add_conditional_edges("reason", route_after_reason)
    builder.add_conditional_edges("crop", route_after_crop)
    builder.add_edge("image_search", "reflect")  # every search result goes back to the policy through reflect
    builder.add_edge("text_search", "reflect")
    builder.add_conditional_edges("reflect", route_after_reflect)
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer, name=name)


def with_defaults(graph: AgentGraph, defaults: RunConfig) -> AgentGraph:
    """`graph` with `defaults` as the `RunConfig` of every run that passes no `context=`.

    A server (`langgraph dev`, Studio) starts runs without a context; a policy trained on the compact profile needs
    its prompt style and summary budgets even then. An explicit `context=` still wins, field by field as a whole.
    """
    return graph.with_config(configurable={DEFAULTS_KEY: asdict(defaults)})
