"""What the evaluation harness reads and writes: benchmark examples, and one result record per example.

`EvalExample` is what every loader (`evals/loaders/`) returns, whatever the benchmark's own file format. A run writes
one `ResultRecord` per example as a JSON line (`results.jsonl`) and a `summary.json`; the report and the viewer read
only those files, so runs made on other machines or by other versions can be compared.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.judge import Gold


@dataclass(frozen=True)
class EvalExample:
    """One benchmark question with its image and ground truth."""

    id: str
    """Unique within its benchmark."""
    benchmark: str
    """"infoseek", "encyclopedic_vqa", "simplevqa", "dynvqa", "okvqa", "aokvqa", "mmsearch", "livevqa", "frozenweb"."""
    question: str
    image: str
    """Path of the image file (absolute, or relative to the folder the loader was given)."""
    gold: Gold
    category: str = ""
    """Knowledge category where the benchmark gives one (or the frozen-web category)."""
    search_type: str = ""
    """"none" / "image" / "text" / "mixed" where known."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else the benchmark provides (entity ids, question type, …), kept for analysis."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (gold aliases as a list)."""
        d = dataclasses.asdict(self)
        d["gold"]["aliases"] = list(self.gold.aliases)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalExample:
        """Inverse of `to_dict`."""
        g = d["gold"]
        gold = Gold(g["answer"], tuple(g.get("aliases", ())), g.get("numeric"), g.get("tolerance", 0.0), g.get("unit"))
        return cls(**{**d, "gold": gold})


@dataclass
class ResultRecord:
    """The outcome of one example in one run (a line of `results.jsonl`)."""

    id: str
    benchmark: str
    workflow: str
    """"agent", "direct" or "rag"."""
    model: str
    question: str
    image: str
    gold: dict[str, Any]
    prediction: str
    correct: bool
    judge: str
    """Which judge decided `correct` ("rule" or "llm:<model>")."""
    reason: str
    """The judge's reason."""
    category: str = ""
    search_type: str = ""
    stop_reason: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    """The graph's counters: turns, tool_calls, image_searches, text_searches, crops, parse_errors, …"""
    tool_use: str = "none"
    """"none", "text", "image" or "mixed" (image and text search in one trajectory)."""
    refined: bool = False
    """Whether a text query was followed by another one (query refinement)."""
    judgements: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every judge's verdict when several ran: name → {"correct", "reason"}."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The trajectory in the TRL chat format."""
    observations: list[dict[str, Any]] = field(default_factory=list)
    """Per tool call: turn, tool, query, box, hit titles/urls, summary text, error."""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    """Run-specific data, e.g. the GRPO group id and reward of a rollout."""

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> ResultRecord:
        """Parse one JSON line."""
        return cls(**json.loads(line))


def tool_use(counters: dict[str, int]) -> str:
    """The paper's tool-usage class of a trajectory: none, text, image or mixed."""
    image, text = counters.get("image_searches", 0) > 0, counters.get("text_searches", 0) > 0
    return "mixed" if image and text else "image" if image else "text" if text else "none"


def read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    """Records of an append-only JSON-lines file by `id`; a torn last line (a kill mid-write) is cut off the file.

    Resumable jobs (data generation, evaluation) append one line per finished item, so everything before the last
    newline is complete and what follows it is the remains of an interrupted write.
    """
    if not path.is_file():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        path.write_bytes(data)
    return {rec["id"]: rec for rec in map(json.loads, data.decode("utf-8").splitlines()) if rec}
