"""Replay check: every stored trajectory, played back through the graph by a scripted policy, is reproduced exactly.

The assistant turns of a stored conversation become the script; the graph runs them against the same frozen web and
the same question image. Identical transcripts prove that the stored `<information>` blocks are what the tools
return (no drift between the data and the world) and that the conversation is a real run of the graph.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image


@dataclass
class ReplayReport:
    """How many trajectories replayed identically, and the first differences."""

    checked: int = 0
    identical: int = 0
    mismatches: list[str] = field(default_factory=list)
    """Ids with the first differing turn, for the first few mismatches."""

    @property
    def ok(self) -> bool:
        """Whether every checked trajectory replayed identically."""
        return self.checked == self.identical


def _texts(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], "".join(p.get("text") or "<image>" for p in m["content"])) for m in messages]


def replay(folder: Path, world: str, records: Iterable[dict], show: int = 5, profile: str = "paper") -> ReplayReport:
    """Replay `records` (attempts with messages) through the graph over `world`, under the folder's `profile`."""
    from graph.build import build_graph
    from policy.profile import get_profile
    from policy.scripted import ScriptedPolicy, ScriptItem
    from tools.frozen import frozen_toolset
    from tools.images import make_ref

    policy = ScriptedPolicy([])
    graph = build_graph(policy, frozen_toolset(world))
    report = ReplayReport()
    context = get_profile(profile).run_config()
    for rec in records:
        script: list[ScriptItem] = [
            "".join(p.get("text") or "" for p in m["content"]) for m in rec["messages"] if m["role"] == "assistant"
        ]
        path = folder / rec["question"]["image"]
        with Image.open(path) as img:
            image = img.convert("RGB")
        policy.script = script
        state = graph.invoke(
            {"question": rec["question"]["question"], "image": make_ref(str(path), image)}, context=context
        )
        got = _texts([{"role": m["role"], "content": list(m["content"])} for m in state["messages"]])
        want = _texts(rec["messages"])
        report.checked += 1
        if got == want:
            report.identical += 1
        elif len(report.mismatches) < show:
            turn = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want))
            )
            report.mismatches.append(f"{rec['id']}: message {turn} differs")
    return report
