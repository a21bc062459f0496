"""The main job end to end at toy scale: fixture world, a test-size model, a few steps of SFT and GRPO (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.cli import main
from pipeline.stages import MainConfig, main_stages

pytest.importorskip("trl")


@pytest.mark.slow
def test_main_job_runs_every_stage_then_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out, world = tmp_path / "main", tmp_path / "world"
    # seed 2: the fixture world's few question groups then reach the test split
    argv = ["main", "--out", str(out), "--world", str(world), "--world-size", "fixture", "--base", "tiny"]
    argv += ["--n", "8", "--rl-n", "4", "--eval-pool", "4", "--eval-n", "2", "--seed", "2", "--report-to", "none"]
    argv += ["--sft-steps", "2", "--rl-steps", "1", "--concurrency", "2", "--max-turns", "2", "--max-new-tokens", "8"]
    assert main(argv) == 0
    record = json.loads((out / "stages.json").read_text())
    cfg = MainConfig(out=out, world=world)
    assert list(record["stages"]) == [s.name for s in main_stages(cfg)]
    assert (out / "rl" / "final" / "config.json").is_file()
    report = json.loads((out / "report" / "report.json").read_text())
    rows = [(r["workflow"], r["model"]) for r in report["rows"]]
    assert rows == [("direct", "SFT"), ("rag", "SFT"), ("agent", "untrained"), ("agent", "SFT"), ("agent", "SFT+RL")]
    assert [t["kind"] for t in report["training"]] == ["SFT", "GRPO"]
    printed = capsys.readouterr().out
    assert "gold answer:" in printed  # the sample question answered by the trained agent
    assert main(argv) == 0  # everything done: a re-run only reports
    again = capsys.readouterr().out
    assert again.count("done earlier") == len(record["stages"])
