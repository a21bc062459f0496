"""The data card of a generated folder: exact numbers from a hand-written attempts.jsonl, README tables, PNG plots.

python -m pytest -q tests/sft/test_data_card.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sft.data.card import PLOTS, card_stats, write_card
from sft.data.pipeline import ATTEMPTS, CONFIG

HOP = {"i": "image_search", "t": "text_search"}


def fake_attempt(
    rid: str,
    use: str,
    category: str,
    family: str,
    chain: str = "",
    *,
    split: str | None = None,
    text_searches: int | None = None,
    crops: int = 0,
    reason: str = "kept",
) -> dict:
    """Fake fixture: one attempts.jsonl record shaped like the pipeline's, built by hand.

    `chain` spells the gold hops ("it" = image search then text search); the teacher makes one call per hop unless
    `text_searches` says it refined its text query. Turns = tool calls + 1 (the answer turn).
    """
    split = split or {"validation": "validation", "test": "test"}.get(use, "train")
    search_type = {"": "none", "i": "image", "t": "text"}.get(chain, "mixed" if "i" in chain else "text")
    image_searches, texts = chain.count("i"), chain.count("t") if text_searches is None else text_searches
    hops = [
        {
            "tool": HOP[h],
            "query": "the flag on the left" if h == "i" else "capital of Sweden",
            "entity": "Sweden",
            "relation": "image" if h == "i" else "capital",
            "value": "Sweden" if h == "i" else "Stockholm",
            "page_url": "https://fixture.web/wiki/Sweden",
        }
        for h in chain
    ]
    question = {
        "id": rid,
        "split": split,
        "question": "What is the capital of the country of the flag on the left?",
        "image": f"images/{rid}.png",
        "answer": "Stockholm",
        "aliases": [],
        "numeric": None,
        "tolerance": 0.0,
        "family": family,
        "category": category,
        "search_type": search_type,
        "hops": len(chain),
        "chain": hops,
        "target": "the flag on the left" if "i" in chain else None,
        "box": [0, 0, 64, 40] if "i" in chain else None,
        "answer_entity": "country:sweden",
        "image_ids": ["fixture:flag-sweden"],
    }
    calls = ["<img_search>the flag on the left</img_search>"] * image_searches
    calls += ["<text_search>capital of Sweden</text_search>"] * texts
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question["question"]}]}]
    for call in calls:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"<reason>…</reason>\n{call}"}]})
        messages.append({"role": "user", "content": [{"type": "text", "text": "<information>[1] …</information>"}]})
    answer = "<reason>The results say Stockholm.</reason>\n<answer>Stockholm</answer>"
    messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    ok = reason == "kept"
    checks = {"A": reason != "check A", "B": reason != "check B", "C": reason != "check C"}
    return {
        "id": rid,
        "split": split,
        "category": category,
        "required": search_type != "none",
        "ok": ok,
        "reason": reason,
        "question": question,
        "messages": messages,
        "counters": {
            "turns": len(calls) + 1,
            "tool_calls": len(calls),
            "image_searches": image_searches,
            "text_searches": texts,
            "crops": crops,
            "parse_errors": int(reason == "check A"),
            "refused_calls": 0,
            "response_tokens": 100 * (len(calls) + 1),
        },
        "stop_reason": "answered" if reason != "check C" else "max_turns",
        "prediction": "Stockholm" if ok else "Oslo",
        "judgement": {"correct": ok, "reason": "exact match after normalisation" if ok else "no match"},
        "checks": checks,
        "observations": [],
        "seconds": 0.5,
        "use": use,
    }


def fake_render_failure(rid: str) -> dict:
    """Fake fixture: an attempt whose image could not be drawn (no question, no trajectory)."""
    return {
        "id": rid,
        "split": "train",
        "category": "visual",
        "ok": False,
        "reason": f"render: {rid}: no object with one clear main colour in 4 layouts",
        "required": False,
        "use": "none",
    }


def fake_attempts() -> list[dict]:
    """Fake fixture: 14 attempts over every use, with refinement, crops, and every kind of miss but check A."""
    return [
        fake_attempt("tr-1", "sft", "geography", "flag:country>capital", "it", crops=1),
        fake_attempt("tr-2", "sft", "geography", "flag:country>capital", "it", text_searches=2),  # refined
        fake_attempt("tr-3", "sft", "visual", "visual:count"),
        fake_attempt("tr-4", "sft", "brands", "logo:brand>country", "i", crops=1),
        fake_attempt("tr-5", "sft", "demographics", "country>population:named", "t"),
        fake_attempt("tr-6", "rl", "geography", "flag:country>capital", "it"),
        fake_attempt("tr-7", "none", "geography", "flag:country>capital", "it", reason="judge: no match"),
        fake_attempt("tr-8", "none", "geography", "map:country>capital", "it", reason="check B"),
        fake_render_failure("tr-9"),
        fake_attempt("va-1", "validation", "geography", "flag:country>capital", "it"),
        fake_attempt("va-2", "validation", "visual", "visual:colour", reason="judge: no match"),
        fake_attempt("te-1", "test", "brands", "logo:brand>country", "i", reason="check C"),
        fake_attempt("te-2", "test", "visual", "visual:count"),
        fake_attempt("tr-10", "none", "visual", "visual:colour"),  # solved, but the quota was full
    ]


EXPECTED = {
    "uses": {
        "sft": {"total": 5, "required": 4, "free": 1},
        "rl": {"total": 1, "required": 1, "free": 0},
        "validation": {"total": 2, "required": 1, "free": 1},
        "test": {"total": 2, "required": 1, "free": 1},
    },
    "sft": {
        "n": 5,
        "family": {
            "flag:country>capital": 2,
            "country>population:named": 1,
            "logo:brand>country": 1,
            "visual:count": 1,
        },
        "category": {"geography": 2, "brands": 1, "demographics": 1, "visual": 1},
        "hops": {"0": 1, "1": 2, "2": 2},
        "search_type": {"none": 1, "image": 1, "text": 1, "mixed": 2},
        "turns": {"1": 1, "2": 2, "3": 1, "4": 1},
        "tools": {"none": 1, "image only": 1, "text only": 1, "image+text": 2},
        "crop": {"yes": 2, "no": 3},
        "refined": 1,
        "refinement_rate": 0.2,
        "mean_tool_calls": 1.4,
        "mean_turns": 2.4,
    },
    "validation": {
        "n": 2,
        "teacher_solved": 1,
        "category": {"geography": 1, "visual": 1},
        "search_type": {"none": 1, "image": 0, "text": 0, "mixed": 1},
    },
    "test": {
        "n": 2,
        "teacher_solved": 1,
        "category": {"brands": 1, "visual": 1},
        "search_type": {"none": 1, "image": 1, "text": 0, "mixed": 0},
    },
    "yield": {
        "attempts": 14,
        "solved": 9,
        "used": 10,
        "splits": {
            "train": {"attempts": 10, "rendered": 9, "solved": 7, "used": 6, "accuracy": 0.7778},
            "validation": {"attempts": 2, "rendered": 2, "solved": 1, "used": 2, "accuracy": 0.5},
            "test": {"attempts": 2, "rendered": 2, "solved": 1, "used": 2, "accuracy": 0.5},
        },
        "misses": {"check A": 0, "check B": 1, "check C": 1, "judge": 2, "render": 1},
        "reasons": {
            "judge: no match": 2,
            "check B": 1,
            "check C": 1,
            "render: no object with one clear main colour in 4 layouts": 1,
        },
    },
}


def write_folder(folder: Path, records: list[dict], world: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ATTEMPTS).write_text("".join(json.dumps(r) + "\n" for r in records))
    if world is not None:
        config = {"world": world, "teacher": "oracle", "model": None, "seed": 7}
        (folder / CONFIG).write_text(json.dumps({"identity": {}, "config": config}))
    return folder


def section(readme: str, title: str) -> str:
    """The text of one `## title` section, up to the next `## ` heading."""
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def test_card_stats_numbers_are_exact():
    stats = card_stats(fake_attempts())
    assert stats == EXPECTED
    # key order is part of the contract: tables and plots are drawn in it
    assert list(stats["sft"]["family"]) == list(EXPECTED["sft"]["family"])
    assert list(stats["sft"]["turns"]) == ["1", "2", "3", "4"]
    assert list(stats["yield"]["reasons"]) == list(EXPECTED["yield"]["reasons"])


def test_card_stats_of_no_sft_trajectories_has_zero_rates():
    stats = card_stats([fake_attempt("va-1", "validation", "visual", "visual:count")])
    assert stats["sft"]["n"] == 0 and stats["sft"]["refinement_rate"] == 0.0 and stats["sft"]["mean_tool_calls"] == 0
    assert stats["sft"]["tools"] == {"none": 0, "image only": 0, "text only": 0, "image+text": 0}
    assert stats["yield"]["misses"] == {"check A": 0, "check B": 0, "check C": 0, "judge": 0, "render": 0}


def test_an_unknown_miss_kind_is_counted_after_the_known_ones():
    stats = card_stats([fake_attempt("tr-1", "none", "visual", "visual:count", reason="check D")])
    assert stats["yield"]["misses"] == {
        "check A": 0,
        "check B": 0,
        "check C": 0,
        "judge": 0,
        "render": 0,
        "check D": 1,
    }


def test_write_card_tables_plots_and_json(tmp_path: Path):
    folder = write_folder(tmp_path / "data", fake_attempts(), world="/worlds/full")
    readme_path = write_card(folder)
    assert readme_path == folder / "README.md"
    readme = readme_path.read_text()

    front = readme.split("\n---\n", 1)[0]
    assert front.startswith("---\nlicense: other\n")
    assert "task_categories:\n- visual-question-answering" in front
    assert "- n<1K" in front

    assert "with the oracle teacher, seed 7, over the world `/worlds/full`" in readme
    totals = section(readme, "Totals")
    for row in ("| sft | 5 | 4 | 1 |", "| rl | 1 | 1 | 0 |", "| validation | 2 | 1 | 1 |", "| test | 2 | 1 | 1 |"):
        assert row in totals
    assert "| total | 10 | 7 | 3 |" in totals

    sft = section(readme, "SFT trajectories")
    assert "5 teacher trajectories" in sft
    assert "Mean tool calls per trajectory: 1.40; mean turns: 2.40" in sft
    assert "Query refinement: 1 (20.0%)" in sft
    for row in (
        "| flag:country>capital | 2 | 40.0% |",
        "| visual:count | 1 | 20.0% |",
        "| geography | 2 | 40.0% |",
        "| mixed | 2 | 40.0% |",
        "| text | 1 | 20.0% |",
        "| image+text | 2 | 40.0% |",
        "| text only | 1 | 20.0% |",
        "| yes | 2 | 40.0% |",
        "| no | 3 | 60.0% |",
    ):
        assert row in sft, row
    hops = sft[sft.index("### By hops") : sft.index("### By search type")]
    assert "| 0 | 1 | 20.0% |" in hops and "| 2 | 2 | 40.0% |" in hops
    turns = sft[sft.index("### By number of turns") : sft.index("### By tools used")]
    assert "| 4 | 1 | 20.0% |" in turns

    evals = section(readme, "Evaluation questions")
    assert "| brands | 0 | 1 |" in evals and "| visual | 1 | 1 |" in evals and "| geography | 1 | 0 |" in evals
    assert "| none | 1 | 1 |" in evals and "| image | 0 | 1 |" in evals

    teacher = section(readme, "Teacher yield")
    assert "14 attempts, 9 solved" in teacher and "10 used" in teacher
    assert "| train | 10 | 9 | 7 | 6 | 77.8% |" in teacher
    assert "| validation | 2 | 2 | 1 | 2 | 50.0% |" in teacher
    for kind, n in (("check A", 0), ("check B", 1), ("check C", 1), ("judge", 2), ("render", 1)):
        assert re.search(rf"^\| {kind} \| [^|]+ \| {n} \|$", teacher, re.M), kind
    assert "| judge: no match | 2 |" in teacher
    assert "| render: no object with one clear main colour in 4 layouts | 1 |" in teacher  # id stripped

    assert "`/worlds/full/ATTRIBUTION.md`" in section(readme, "Licence")

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert sorted(links) == sorted(f"plots/{p}.png" for p in PLOTS)
    for link in links:
        with Image.open(folder / link) as im:
            assert im.format == "PNG" and im.width > 100 and im.height > 100
            im.verify()

    assert json.loads((folder / "card.json").read_text()) == EXPECTED


def test_write_card_without_generate_json_points_at_the_worlds_attribution(tmp_path: Path):
    folder = write_folder(tmp_path / "data", fake_attempts()[:3])
    readme = write_card(folder).read_text()
    assert "the world's `ATTRIBUTION.md`" in readme
    assert "generated by `deepmmsearch data generate`." in readme


def test_write_card_of_an_empty_folder_fails(tmp_path: Path):
    with pytest.raises(ValueError, match="no attempts.jsonl"):
        write_card(tmp_path)


def test_importing_the_card_module_does_not_import_matplotlib():
    code = "import sys, sft.data.card; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
