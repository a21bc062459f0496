"""The demo run: the fixture world, a composite of three flags, and a scripted policy, through the real graph.

This is what the README's first command runs at this stage of the project: every node, tool backend, the token
trace and the limits are real; the policy is a script (the model backends and the frozen web come in later issues).
"""

from __future__ import annotations

from pathlib import Path

from graph.build import AgentGraph, build_graph
from policy.scripted import ScriptedPolicy
from tools.fixture import fixture_toolset
from world.fixture import FixtureWorld, build_fixture_world, write_demo_image

DEMO_QUESTION = "What is the capital of the country whose flag is in the middle of this picture?"
DEMO_FLAGS = ["Japan", "France", "Germany"]
DEMO_SCRIPT = [
    "<reason>The question is about one flag among three; I crop the middle one and search by image.</reason>\n"
    "<img_search>the flag in the middle</img_search>",
    "<reason>The image search says the middle flag is the flag of France. I need its capital.</reason>\n"
    "<text_search>France flag</text_search>",
    "<reason>These results describe the flag, not the capital; I refine the query.</reason>\n"
    "<text_search>capital of France</text_search>",
    "<reason>The results state that the capital of France is Paris.</reason>\n<answer>Paris</answer>",
]


def demo_image(path: Path, world: FixtureWorld | None = None) -> Path:
    """Write the demo composite to `path`."""
    return write_demo_image(world or build_fixture_world(), path, DEMO_FLAGS)


def demo_graph(crop_dir: str | None = None) -> AgentGraph:
    """The graph with the scripted demo policy over the fixture world."""
    return build_graph(ScriptedPolicy(DEMO_SCRIPT), fixture_toolset(crop_dir=crop_dir))
