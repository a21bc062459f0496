"""The main job's runner (`pipeline.run`): stages run in order, resume, fail loudly, and parse as real commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from graph.cli import parser
from pipeline.run import OPTION_HELP, forget_from, handle, load_record, run_main
from pipeline.stages import MainConfig, Stage, main_stages

# Each fake stage is a real subprocess: it logs its name, then writes its output, or exits 3 when told to fail.
STAGE_SCRIPT = """
import pathlib, sys
name, out, log, fail = sys.argv[1:5]
with open(log, "a") as f:
    f.write(name + "\\n")
if pathlib.Path(fail).exists():
    sys.exit(3)
pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(out).write_text(name)
"""


def _stages(cfg: MainConfig, names: list[str]) -> list[Stage]:
    log, fail = cfg.out / "log.txt", cfg.out / "fail-{}"
    return [
        Stage(
            n,
            f"stage {n}",
            ("-c", STAGE_SCRIPT, n, str(cfg.out / n / "done"), str(log), str(fail).format(n)),
            cfg.out / n / "done",
            cfg.out / n,
        )
        for n in names
    ]


def _ran(cfg: MainConfig) -> list[str]:
    return (cfg.out / "log.txt").read_text().split()


@pytest.fixture
def cfg(tmp_path: Path) -> MainConfig:
    return MainConfig(out=tmp_path / "main", world=tmp_path / "world")


def test_runs_every_stage_in_order_and_records_it(cfg):
    stages = _stages(cfg, ["a", "b", "c"])
    calls = []
    assert run_main(cfg, stages, command=(sys.executable,), after=calls.append) == 0
    assert _ran(cfg) == ["a", "b", "c"]
    record = json.loads((cfg.out / "stages.json").read_text())
    assert list(record["stages"]) == ["a", "b", "c"]
    assert record["total_seconds"] == pytest.approx(sum(s["seconds"] for s in record["stages"].values()), abs=0.5)
    assert calls == [cfg]


def test_rerun_skips_finished_stages(cfg):
    stages = _stages(cfg, ["a", "b"])
    run_main(cfg, stages, command=(sys.executable,))
    assert run_main(cfg, stages, command=(sys.executable,)) == 0
    assert _ran(cfg) == ["a", "b"]


def test_failed_stage_stops_the_job_and_resumes_there(cfg):
    stages = _stages(cfg, ["a", "b", "c"])
    cfg.out.mkdir(parents=True)
    (cfg.out / "fail-b").touch()
    after = []
    assert run_main(cfg, stages, command=(sys.executable,), after=after.append) == 3
    assert _ran(cfg) == ["a", "b"] and after == []
    assert list(load_record(cfg)["stages"]) == ["a"]
    (cfg.out / "fail-b").unlink()
    assert run_main(cfg, stages, command=(sys.executable,)) == 0
    assert _ran(cfg) == ["a", "b", "b", "c"]


def test_a_stage_whose_output_vanished_runs_again(cfg):
    stages = _stages(cfg, ["a", "b"])
    run_main(cfg, stages, command=(sys.executable,))
    (cfg.out / "a" / "done").unlink()
    run_main(cfg, stages, command=(sys.executable,))
    assert _ran(cfg) == ["a", "b", "a"]


def test_other_options_are_refused(cfg):
    run_main(cfg, _stages(cfg, ["a"]), command=(sys.executable,))
    changed = MainConfig(out=cfg.out, world=cfg.world, eval_n=7)
    with pytest.raises(ValueError, match=r"eval_n: 100 -> 7.*--from"):
        load_record(changed)


def test_forget_from_redoes_that_stage_and_the_later_ones(cfg):
    stages = _stages(cfg, ["a", "b", "c"])
    run_main(cfg, stages, command=(sys.executable,))
    assert forget_from(cfg, stages, "b") == ["b", "c"]
    assert (cfg.out / "a").exists() and not (cfg.out / "b").exists()
    run_main(cfg, stages, command=(sys.executable,))
    assert _ran(cfg) == ["a", "b", "c", "b", "c"]
    with pytest.raises(ValueError, match="unknown stage 'z'"):
        forget_from(cfg, stages, "z")


def test_every_stage_is_a_valid_deepmmsearch_command(cfg):
    handlers = {}
    for stage in main_stages(cfg):
        args = parser().parse_args(list(stage.argv))
        handlers[stage.name] = args.handler.__module__
    assert handlers["sft"] == "sft.train" and handlers["rl"] == "rl.train"
    assert handlers["eval-sft-rl"] == "evals.run" and handlers["report"] == "evals.report_cli"
    names = [s.name for s in main_stages(cfg)]
    assert names.index("sft") < names.index("rl") < names.index("eval-sft-rl") < names.index("report")


def test_stages_use_the_trained_checkpoints(cfg):
    stages = {s.name: s for s in main_stages(cfg)}
    assert stages["rl"].argv[stages["rl"].argv.index("--model") + 1] == str(cfg.checkpoint("sft"))
    sft_rl = stages["eval-sft-rl"].argv
    assert sft_rl[sft_rl.index("--policy") + 1] == f"hf:{cfg.checkpoint('rl')}"
    prompt = stages["eval-prompt-agent"].argv
    assert prompt[prompt.index("--policy") + 1] == f"hf:{cfg.out / 'base'}"
    evals = [s.argv for name, s in stages.items() if name.startswith("eval-")]
    assert len(evals) == 5 and all(a[a.index("--max-format-errors") + 1] == "2" for a in evals)  # one rule for all


def test_unknown_base_is_an_error(cfg, capsys):
    args = parser().parse_args(["main", "--out", str(cfg.out), "--base", "gpt", "--list"])
    assert handle(args) == 2
    assert "unknown base policy 'gpt'" in capsys.readouterr().err


def test_list_prints_the_commands(cfg, capsys):
    args = parser().parse_args(["main", "--out", str(cfg.out), "--list"])
    assert handle(args) == 0
    out = capsys.readouterr().out
    assert "deepmmsearch rl --config" in out and "11. report" in out
    assert not cfg.out.exists()


def test_every_option_says_what_it_does(capsys):
    from dataclasses import fields

    assert set(OPTION_HELP) == {f.name for f in fields(MainConfig)}  # a new field needs its help text
    with pytest.raises(SystemExit):
        parser().parse_args(["main", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--sft-steps SFT_STEPS SFT optimiser steps" in text and "(default: 56)" in text


def test_ctrl_c_in_a_stage_stops_the_job_resumably(cfg):
    import signal

    interrupting = Stage(
        "b",
        "sends Ctrl-C to the job",
        ("-c", "import os, signal, time; os.kill(os.getppid(), signal.SIGINT); time.sleep(60)"),  # killed by the job
        cfg.out / "b" / "done",
    )
    stages = [*_stages(cfg, ["a"]), interrupting]
    # Python turns SIGINT into KeyboardInterrupt only if it started with SIGINT at its default; a test run started in
    # the background (`cmd &` without job control) inherits it ignored, as a terminal user's job never does
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert run_main(cfg, stages, command=(sys.executable,)) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert list(load_record(cfg)["stages"]) == ["a"]
