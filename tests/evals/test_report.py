"""The report over run folders (Table 1, intervals, tool use, agreement, plots) and the trajectory viewer.

    python -m pytest -q tests/evals/test_report.py

The run folders are fakes written by hand (`fake_*`): a few `ResultRecord`s each, with tiny PIL images, so every
number in the report can be worked out on paper.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from evals.records import ResultRecord
from evals.report import build_report, load_run, read_records, report_stats
from evals.report_cli import register
from evals.viewer import write_viewer

QUESTION = 'Which flag is "left" & <b>bold</b>?'
PROMPT = "Answer the question about the image."


def fake_image(path: Path, size: tuple[int, int] = (64, 48), color: str = "navy") -> Path:
    """A plain image with a yellow square; enough for the viewer to copy and draw boxes on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, color)
    img.paste((255, 220, 0), (8, 4, 32, 24))
    img.save(path)
    return path


def fake_messages(*turns: tuple[str, str | None]) -> list[dict]:
    """A TRL-format transcript: the prompt with the image, then (policy text, environment reply or None) per turn."""
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
    for policy, reply in turns:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": policy}]})
        if reply is not None:
            msgs.append({"role": "user", "content": [{"type": "text", "text": reply}]})
    return msgs


def fake_record(rid: str, benchmark: str, workflow: str, model: str, image: Path | str, **kw) -> dict:
    """A result record as `evals.run` writes it; by default a direct, correct answer with no tool call."""
    counters = dict(turns=1, tool_calls=0, image_searches=0, text_searches=0, crops=0, parse_errors=0)
    counters |= kw.pop("counters", {})
    correct = kw.pop("correct", True)
    rec = ResultRecord(
        id=rid,
        benchmark=benchmark,
        workflow=workflow,
        model=model,
        question=kw.pop("question", f"question {rid}?"),
        image=str(image),
        gold={"answer": kw.pop("gold", "Sweden"), "aliases": [], "numeric": None, "tolerance": 0.0, "unit": None},
        prediction=kw.pop("prediction", "Sweden" if correct else "Norway"),
        correct=correct,
        judge="rule",
        reason="matches" if correct else "differs",
        counters=counters,
        messages=kw.pop("messages", fake_messages(("<reason>I know it.</reason>\n<answer>Sweden</answer>", None))),
        judgements=kw.pop("judgements", {"rule": {"correct": correct, "reason": ""}}),
        **kw,
    )
    return json.loads(rec.to_json())


def fake_run(folder: Path, records: list[dict], **config) -> Path:
    """A run folder: results.jsonl plus a summary.json like the harness's (only the keys the report reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {"config": {"data": "", "image_root": None, **config}, "git_commit": "abc123", "n": len(records)}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def fake_direct(root: Path, image: Path) -> Path:
    """direct · qwen-7b · infoseek: 3 of 4 correct, no tools; the first question needs escaping."""
    recs = [fake_record("d0", "infoseek", "direct", "qwen-7b", image, question=QUESTION)]
    recs += [fake_record(f"d{i}", "infoseek", "direct", "qwen-7b", image, correct=i != 3) for i in (1, 2, 3)]
    return fake_run(root / "direct-qwen-infoseek", recs)


def fake_agent_infoseek(root: Path, image: Path) -> Path:
    """agent · qwen-7b · infoseek: one trajectory per tool use (none, text, image with a crop, mixed), 2 correct.

    The image path is relative to the run folder, the way a run made elsewhere would store it.
    """
    folder = root / "agent-qwen-infoseek"
    fake_image(folder / "img" / "q.png", (1024, 512))
    rel = "img/q.png"
    text_turns = fake_messages(
        (
            "<reason>Look it up.</reason>\n<text_search>flag blue yellow cross</text_search>",
            "<information>[1] Sweden</information>",
        ),
        (
            "<reason>Refine.</reason>\n<text_search>Nordic cross blue</text_search>",
            "<information>[1] Sweden</information>",
        ),
        ("<reason>Found.</reason>\n<answer>Sweden</answer>", None),
    )
    crop_turns = fake_messages(
        (
            "<reason>Crop the flag.</reason>\n<img_search>the left flag</img_search>",
            "<information>[1] Flag of Peru</information>",
        ),
        ("<reason>It is Peru.</reason>\n<answer>Peru</answer>", None),
    )
    crop_obs = [
        {
            "turn": 1,
            "tool": "crop",
            "query": "the left flag",
            "box": [100, 50, 400, 250],
            "hits": [],
            "text": "",
            "error": None,
        },
        {
            "turn": 1,
            "tool": "image_search",
            "query": "the left flag",
            "box": [100, 50, 400, 250],
            "hits": [{"title": "Flag of <Peru>", "url": "https://example.org/peru", "score": 0.91}],
            "text": "The flag of Peru is red & white.",
            "error": None,
        },
    ]
    two_judges = lambda agree: {"rule": {"correct": True, "reason": ""}, "llm:gpt": {"correct": agree, "reason": "x"}}  # noqa: E731
    recs = [
        fake_record("a0", "infoseek", "agent", "qwen-7b", rel, search_type="none", judgements=two_judges(True)),
        fake_record(
            "a1", "infoseek", "agent", "qwen-7b", rel,
            search_type="text", tool_use="text", refined=True, messages=text_turns, judgements=two_judges(False),
            counters={"turns": 3, "tool_calls": 2, "text_searches": 2}, repeated_queries=1,
        ),
        fake_record(
            "a2", "infoseek", "agent", "qwen-7b", rel,
            correct=False, search_type="image", tool_use="image", messages=crop_turns, observations=crop_obs,
            prediction="Peru", counters={"turns": 2, "tool_calls": 1, "image_searches": 1, "crops": 1},
            needs_crop=False,
        ),
        fake_record(
            "a3", "infoseek", "agent", "qwen-7b", rel,
            correct=False, search_type="", tool_use="mixed",
            counters={"turns": 3, "tool_calls": 2, "image_searches": 1, "text_searches": 1, "parse_errors": 1},
        ),
    ]  # fmt: skip
    return fake_run(folder, recs)


def fake_agent_dynvqa(root: Path, image: Path) -> Path:
    """agent · qwen-7b · dynvqa: 0 of 3 correct, text search only; one image is missing."""
    recs = [
        fake_record(
            f"y{i}", "dynvqa", "agent", "qwen-7b", image, correct=False, tool_use="text", counters={"turns": 2}
        )
        for i in range(2)
    ]
    recs.append(fake_record("y2", "dynvqa", "agent", "qwen-7b", root / "gone.png", correct=False, tool_use="text"))
    return fake_run(root / "agent-qwen-dynvqa", recs)


def fake_rl(root: Path, image: Path) -> Path:
    """agent · rl-7b · dynvqa: two GRPO groups of two rollouts, 2 of 4 correct; only group g1's rewards differ."""
    rows = [("g1", 1.0, True), ("g1", 0.2, False), ("g2", 0.5, True), ("g2", 0.5, False)]
    recs = [
        fake_record(
            f"r{i}", "dynvqa", "agent", "rl-7b", image, correct=ok,
            extra={"group": g, "reward": r, "rewards": {"answer": r, "format": 1.0}},
        )
        for i, (g, r, ok) in enumerate(rows)
    ]  # fmt: skip
    return fake_run(root / "agent-rl-dynvqa", recs)


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    image = fake_image(tmp_path / "images" / "q.png")
    return [
        fake_direct(tmp_path, image),
        fake_agent_infoseek(tmp_path, image),
        fake_agent_dynvqa(tmp_path, image),
        fake_rl(tmp_path, image),
    ]


@pytest.fixture
def report(runs: list[Path], tmp_path: Path) -> Path:
    return build_report(runs, tmp_path / "report")


def table_rows(md: str, header_start: str) -> list[list[str]]:
    """The body cells of the first markdown table whose header starts with `header_start`."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    body = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        body.append([c.strip() for c in line.strip("|").split("|")])
    return body


def test_table_one_cells_and_averages(report: Path):
    md = report.read_text()
    assert table_rows(md, "| Workflow | Model | InfoSeek | DynVQA | Average |") == [
        ["Direct", "qwen-7b", "75.0", "—", "75.0"],
        ["Agent", "qwen-7b", "50.0", "0.0", "25.0"],
        ["Agent", "rl-7b", "—", "50.0", "50.0"],
    ]
    stats = json.loads((report.parent / "report.json").read_text())
    assert stats["benchmarks"] == ["infoseek", "dynvqa"]
    assert [r["average"] for r in stats["rows"]] == [0.75, 0.25, 0.5]


def test_wilson_intervals_of_known_cases(report: Path):
    rows = json.loads((report.parent / "report.json").read_text())["rows"]
    direct, agent = rows[0]["cells"]["infoseek"], rows[1]["cells"]["dynvqa"]
    assert (direct["n"], direct["correct"]) == (4, 3)
    assert direct["ci95"] == pytest.approx([0.3006, 0.9544], abs=1e-4)  # Wilson 3/4, z = 1.96
    assert agent["ci95"] == pytest.approx([0.0, 1.96**2 / (3 + 1.96**2)], abs=1e-4)  # 0/n: upper z²/(n + z²)
    detail = table_rows(report.read_text(), "| Workflow | Model | Benchmark | n | correct |")
    assert ["Direct", "qwen-7b", "InfoSeek", "4", "3", "75.0", "[30.1, 95.4]"] in detail
    assert ["Agent", "qwen-7b", "DynVQA", "3", "0", "0.0"] in [row[:6] for row in detail]


def test_tool_usage_breakdown(report: Path):
    rows = json.loads((report.parent / "report.json").read_text())["rows"]
    cell = rows[1]["cells"]["infoseek"]["tools"]
    assert cell["tool_use"] == {"none": 0.25, "text": 0.25, "image": 0.25, "mixed": 0.25}
    assert (cell["crop_rate"], cell["refinement_rate"], cell["parse_error_rate"]) == (0.25, 0.25, 0.25)
    assert cell["crop_rate_by_need"] == {"needed": None, "unneeded": 1.0}  # a2 cropped a whole-picture question
    assert cell["repeated_query_rate"] == 0.25
    assert (cell["mean_tool_calls"], cell["mean_turns"]) == (1.25, 2.25)
    # a0 (search-free) right; a1 (text) right, a2 (image) wrong; a3 has no known search type
    assert cell["by_search"] == {"required": {"n": 2, "accuracy": 0.5}, "free": {"n": 1, "accuracy": 1.0}}
    row = rows[1]["tools"]  # infoseek and dynvqa pooled: 7 trajectories, 4 of them text only
    assert row["n"] == 7 and row["tool_use"]["text"] == round(4 / 7, 4) and row["tool_use"]["none"] == round(1 / 7, 4)
    assert rows[0]["tools"]["tool_use"]["none"] == 1.0
    md_row = table_rows(report.read_text(), "| Workflow | Model | n | none (%)")[1]
    shares = ["14.3", "57.1", "14.3", "14.3", "14.3"]  # none, text, image, mixed, crop
    crops, refined = ["– / 100.0"], ["14.3", "14.3"]  # crop needed / unneeded; refined, repeated query
    rest = ["0.71", "2.00", "14.3", "50.0 (2)", "100.0 (1)"]  # tool calls, turns, parse errors, accuracy split
    assert md_row == ["Agent", "qwen-7b", "7", *shares, *crops, *refined, *rest]


def test_judge_agreement_and_rewards(report: Path):
    rows = json.loads((report.parent / "report.json").read_text())["rows"]
    assert rows[1]["agreement"] == {
        "n": 2,
        "agree": 1,
        "rate": 0.5,
        "pairs": {"llm:gpt | rule": {"n": 2, "agree": 1, "rate": 0.5}},
    }
    assert rows[0]["agreement"]["n"] == 0 and rows[0]["rewards"] is None
    assert rows[2]["rewards"] == {
        "n": 4,
        "groups": 2,
        "groups_with_spread": 1,
        "mean_reward": 0.55,
        "components": {"answer": 0.55, "format": 1.0},
    }
    md = report.read_text()
    assert "## Judge agreement" in md and "llm:gpt \\| rule: 50.0% of 2" in md
    assert table_rows(md, "| Workflow | Model | mean components")[0] == [
        "Agent",
        "rl-7b",
        "answer 0.550; format 1.000",
        "4",
        "2",
        "1",
        "0.550",
    ]


def test_plots_are_valid_pngs(report: Path):
    md = report.read_text()
    for name in ("accuracy", "tool_use"):
        path = report.parent / "plots" / f"{name}.png"
        with Image.open(path) as img:
            img.verify()
            assert img.format == "PNG" and img.size[0] > 300
        assert f"](plots/{name}.png)" in md


def test_viewer_escapes_and_draws_the_crop_box(report: Path):
    viewer = report.parent / "viewer"
    assert "](viewer/index.html)" in report.read_text()
    index = (viewer / "index.html").read_text()
    pages = dict(re.findall(r'<a href="([^"]+\.html)">([^<]+)</a>', index))
    assert sorted(pages.values()) == ["qwen-7b", "qwen-7b", "rl-7b"]
    direct = (viewer / "direct-qwen-7b.html").read_text()
    assert "Which flag is &quot;left&quot; &amp; &lt;b&gt;bold&lt;/b&gt;?" in direct and "<b>bold</b>" not in direct
    agent = (viewer / "agent-qwen-7b.html").read_text()
    # the crop of a2 on the 1024x512 image, as an SVG rect in the original's pixels, over a 512x256 copy
    svg = '<svg viewBox="0 0 1024 512" width="512" height="256">'
    assert svg + '<rect class="box" x="100" y="50" width="300" height="200"' in agent
    assert "Flag of &lt;Peru&gt;" in agent and 'href="https://example.org/peru"' in agent
    assert "<b>text_search</b> Nordic cross blue" in agent and "<b>reason</b> Refine." in agent
    assert "parse error" not in agent and "environment reply" in agent
    assert "gone.png: no such file" in agent  # the missing image is named, not drawn
    assert (
        'data-benchmark="dynvqa" data-correct="0"' in agent and 'data-benchmark="infoseek" data-correct="1"' in agent
    )
    copies = sorted((viewer / "images").iterdir())
    assert len(copies) == 2 and all(max(Image.open(p).size) <= 512 for p in copies)


def test_viewer_puts_group_members_side_by_side(report: Path):
    page = (report.parent / "viewer" / "agent-rl-7b.html").read_text()
    groups = page.split('<details class="ex group"')[1:]
    assert len(groups) == 2
    g1 = groups[0]
    assert 'data-correct="0 1"' in g1 and "<code>g1</code>" in g1 and '<div class="members">' in g1
    assert g1.count('<div class="member ') == 2
    assert "reward 1.000" in g1 and "reward 0.200" in g1 and "answer 0.200, format 1.000" in g1
    assert "<b>gold</b> Sweden" in g1


def test_write_viewer_takes_result_records(tmp_path: Path):
    image = fake_image(tmp_path / "q.png")
    rec = ResultRecord(**fake_record("x", "okvqa", "direct", "m", image, question="a < b?"))
    index = write_viewer([rec], tmp_path / "v")
    assert index.name == "index.html" and "a &lt; b?" in (tmp_path / "v" / "direct-m.html").read_text()


def test_duplicate_runs_and_empty_folders_are_refused(runs: list[Path], tmp_path: Path):
    with pytest.raises(ValueError, match="two runs of"):
        report_stats([load_run(runs[0]), load_run(runs[0])])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no records"):
        load_run(tmp_path / "empty")


def test_a_torn_last_line_is_skipped_and_left_in_place(runs: list[Path]):
    path = runs[0] / "results.jsonl"
    with path.open("a") as f:
        f.write('{"id": "half')
    before = path.read_bytes()
    assert [r["id"] for r in read_records(path)] == ["d0", "d1", "d2", "d3"]
    assert path.read_bytes() == before


def test_cli(runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    args = p.parse_args(["report", *map(str, runs), "--out", str(tmp_path / "out")])
    assert args.handler(args) == 0
    assert (tmp_path / "out" / "report.md").is_file() and "report:" in capsys.readouterr().out
    args = p.parse_args(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out2")])
    assert args.handler(args) == 2 and "error:" in capsys.readouterr().err


def _training_run(folder: Path, summary: dict, plot: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    fake_image(folder / plot)
    return folder


def test_training_section_has_the_runs_and_their_curves(runs: list[Path], tmp_path: Path):
    sft = _training_run(tmp_path / "sft", {"steps": 45, "seconds": 1091.5, "train_loss": 0.8705}, "loss.png")
    timing = {"rollout_share": 0.3826, "seconds_per_step": 66.1}
    rl_summary = {"steps": 23, "seconds": 1522.3, "time_per_step": timing, "alarms": ["a", "b"]}
    rl = _training_run(tmp_path / "rl", rl_summary, "curves.png")
    md = build_report(runs, tmp_path / "report", [sft, rl]).read_text()
    rows = table_rows(md, "| Run |")
    assert rows[0][:1] + rows[0][2:] == ["SFT", "45", "18.2", "0.871", "—", "—"]
    assert rows[1][:1] + rows[1][2:] == ["GRPO", "23", "25.4", "—", "38%", "2"]
    assert (tmp_path / "report" / "plots" / "training-rl-curves.png").is_file()
    assert "![GRPO curves](plots/training-rl-curves.png)" in md
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [t["kind"] for t in saved["training"]] == ["SFT", "GRPO"]
    with pytest.raises(ValueError, match="no summary.json"):
        build_report(runs, tmp_path / "report2", [tmp_path / "images"])
