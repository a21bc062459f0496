"""What the evaluation harness reads and writes: benchmark examples, and one result record per example.

`EvalExample` is what every loader (`evals/loaders/`) returns, whatever the benchmark's own file format. A run writes
one `ResultRecord` per example as a JSON line (`results.jsonl`) and a `summary.json`; the report and the viewer read
only those files, so runs made on other machines or by other versions can be compared.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.judge import Gold

SEARCH_TYPES = ("none", "image", "text", "mixed")
"""What answering a question takes: no search, image search, text search, or both (the paper's search types)."""


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
    """Whether more than one text search ran (the paper's "query refinement"; see `repeated_queries`)."""
    repeated_queries: int = 0
    """Text searches that repeated an earlier query word for word: a loop, not a refinement."""
    needs_crop: bool | None = None
    """Whether answering takes an image search of one object among several, i.e. a crop; None when the benchmark does
    not say. A crop where this is False is an unnecessary crop (paper §4.2)."""
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


def repeated_queries(observations: Sequence[dict[str, Any]]) -> int:
    """How many executed text searches asked a query already asked (case and spacing ignored).

    The paper counts trajectories with several text searches as query refinement; a small policy also loops on one
    query, which that count cannot tell from a refinement.
    """
    seen: set[str] = set()
    repeats = 0
    for o in observations:
        if o.get("tool") != "text_search" or o.get("error") or not o.get("query"):
            continue
        query = " ".join(str(o["query"]).lower().split())
        repeats += query in seen
        seen.add(query)
    return repeats


def crop_attempts(observations: Sequence[dict[str, Any]]) -> int:
    """Crops the policy chose, also those whose grounding failed (the `crops` counter has only crops that were cut)."""
    return sum(o.get("tool") == "crop" for o in observations)


def crop_needed(target: str | None, search_type: str) -> bool:
    """Whether a frozen-web question takes a crop: it names one object of a composite and needs image search.

    A search-free question about a composite is answered from the picture, without a crop.
    """
    return bool(target) and search_type in ("image", "mixed")


def needs_crop(example: EvalExample) -> bool | None:
    """Whether answering `example` takes a crop: a frozen-web composite question that needs image search.

    A composite has a referring expression (`target`) for the object the question is about; None for benchmarks
    that do not record it.
    """
    question = example.meta.get("question")
    if not isinstance(question, dict) or "target" not in question:
        return None
    return crop_needed(question["target"], example.search_type)


def crop_by_need(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The share of trajectories that cropped, among questions that need a crop and among those that do not.

    "unneeded" is the paper's unnecessary cropping (§4.2); a share is None where no record says. What counts is the
    decision (`crop_attempts`): a crop whose grounding failed was still chosen.
    """
    shares: dict[str, float | None] = {}
    for key, need in (("needed", True), ("unneeded", False)):
        rs = [r for r in records if r.get("needs_crop") is need]
        shares[key] = round(sum(crop_attempts(r.get("observations", [])) > 0 for r in rs) / len(rs), 4) if rs else None
    return shares


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
