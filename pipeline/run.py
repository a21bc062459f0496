"""`deepmmsearch main`: the main job, from a fresh machine to a trained, evaluated agent (`pipeline.stages`).

    deepmmsearch main                      # world, base policy, data, SFT, GRPO, 5 evaluations, report, a sample run
    deepmmsearch main --from rl            # forget the GRPO stage and everything after it, then run them again
    deepmmsearch main --list               # the stages and the exact command of each

Re-running it resumes: finished stages (recorded in OUT/stages.json) are skipped, and the stage that was cut off
continues through its own job's resume logic. Options that change what a stage makes (sizes, budgets) must match
the recorded run; use `--from STAGE` or a new `--out` to change them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph.subcommand import Subcommand
from pipeline.stages import MainConfig, Stage, main_stages

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
BUDGET_SECONDS = 45 * 60
"""The main job's target on 2 CPU cores (issue #9); exceeding it is reported, not an error."""
CLI = (sys.executable, "-m", "graph.cli")


def _record_path(cfg: MainConfig) -> Path:
    return cfg.out / "stages.json"


def _identity(cfg: MainConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}


def _new_record(cfg: MainConfig) -> dict[str, Any]:
    return {"config": _identity(cfg), "stages": {}}


def load_record(cfg: MainConfig) -> dict[str, Any]:
    """The record of finished stages under `cfg.out` (empty for a new run).

    Raises:
        ValueError: the folder holds a run made with other options.
    """
    path = _record_path(cfg)
    if not path.exists():
        return _new_record(cfg)
    record = json.loads(path.read_text())
    differs = {k: (record["config"].get(k), v) for k, v in _identity(cfg).items() if record["config"].get(k) != v}
    if differs:
        changes = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(differs.items()))
        raise ValueError(
            f"{cfg.out} holds a main job made with other options ({changes}); "
            "pass --from STAGE to redo the stages they change, or use another --out"
        )
    return dict(record)


def _save(cfg: MainConfig, record: dict[str, Any]) -> None:
    path = _record_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def _done(stage: Stage, record: dict[str, Any]) -> bool:
    return stage.name in record["stages"] and stage.output.exists()


def forget_from(cfg: MainConfig, stages: Sequence[Stage], first: str) -> list[str]:
    """Forget `first` and every later stage, deleting their folders under `cfg.out`; returns their names.

    Raises:
        ValueError: `first` is not a stage.
    """
    names = [s.name for s in stages]
    if first not in names:
        raise ValueError(f"unknown stage {first!r}; stages: {', '.join(names)}")
    path = _record_path(cfg)
    record = json.loads(path.read_text()) if path.exists() else _new_record(cfg)
    record["config"] = _identity(cfg)
    later = stages[names.index(first) :]
    for stage in later:
        record["stages"].pop(stage.name, None)
        folder = stage.folder
        if folder is not None and folder.exists() and cfg.out.resolve() in folder.resolve().parents:
            shutil.rmtree(folder)
    _save(cfg, record)
    return [s.name for s in later]


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m {s:02d}s"


def run_main(
    cfg: MainConfig,
    stages: Sequence[Stage] | None = None,
    *,
    command: Sequence[str] = CLI,
    after: Callable[[MainConfig], None] | None = None,
    console: Any = None,
) -> int:
    """Run the stages that have not finished, in order; returns the exit code of the first that fails, else 0.

    Args:
        cfg: The job's options; its `out` holds `stages.json`.
        stages: The stages (default: `main_stages(cfg)`).
        command: The program each stage's arguments are given to (default: this Python's `deepmmsearch`).
        after: Run once every stage has finished (the sample question with the trained agent).
        console: A `rich` console (default: stdout).
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    stages = list(stages if stages is not None else main_stages(cfg))
    record = load_record(cfg)
    _save(cfg, record)
    started = time.monotonic()
    for i, stage in enumerate(stages, 1):
        head = f"[{i}/{len(stages)}] {stage.name}"
        if _done(stage, record):
            console.print(f"[green]✓[/green] {head}: done earlier ({_clock(record['stages'][stage.name]['seconds'])})")
            continue
        console.rule(f"[bold]{head}[/bold] · {stage.title}")
        console.print(f"$ deepmmsearch {' '.join(stage.argv)}", style="dim", soft_wrap=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run([*command, *stage.argv], check=False).returncode
        except KeyboardInterrupt:  # the stage got the same Ctrl-C and stopped; its job resumes from what it saved
            console.print(f"[yellow]interrupted in {head}[/yellow]; run the same command again to resume there")
            return EXIT_INTERRUPTED
        seconds = time.monotonic() - t0
        if rc != 0 or not stage.output.exists():
            why = f"exit {rc}" if rc != 0 else f"it did not write {stage.output}"
            console.print(f"[red]✗ {head} failed ({why}) after {_clock(seconds)}[/red]; re-run to resume from it")
            return rc or EXIT_FAIL
        prior = record["stages"].get(stage.name, {}).get("seconds", 0.0)  # earlier attempts of a resumed stage
        record["stages"][stage.name] = {
            "seconds": round(prior + seconds, 1),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "argv": list(stage.argv),
        }
        _save(cfg, record)
        so_far = _clock(time.monotonic() - started)
        console.print(f"[green]✓[/green] {head}: {_clock(seconds)} (this run so far: {so_far})")
    table = Table(title=f"main job · {cfg.out}")
    table.add_column("stage")
    table.add_column("time", justify="right")
    total = 0.0
    for stage in stages:
        seconds = record["stages"][stage.name]["seconds"]
        total += seconds
        table.add_row(stage.name, _clock(seconds))
    table.add_row("[bold]total[/bold]", f"[bold]{_clock(total)}[/bold]")
    console.print(table)
    if total > BUDGET_SECONDS:
        console.print(f"[yellow]the stages took {_clock(total)}, over the {_clock(BUDGET_SECONDS)} target[/yellow]")
    record["total_seconds"] = round(total, 1)
    _save(cfg, record)
    if after is not None:
        after(cfg)
    return EXIT_OK


def sample_question(cfg: MainConfig) -> None:
    """Answer the first test question with the trained agent and print its trace (`deepmmsearch ask`)."""
    from evals.loaders.frozenweb import load

    example = load(cfg.out / "data", split="test", limit=1)[0]
    policy = cfg.checkpoint("rl")
    argv = ["ask", "--policy", f"hf:{policy}", "--world", str(cfg.world), "--max-turns", str(cfg.max_turns)]
    argv += ["--max-new-tokens", str(cfg.max_new_tokens), "--image", example.image, example.question]
    print(f"\n$ deepmmsearch {' '.join(argv[:-1])} {example.question!r}")  # noqa: T201
    subprocess.run([*CLI, *argv], check=False)
    print(f"gold answer: {example.gold.answer}")  # noqa: T201


OPTION_HELP = {
    "out": "the run folder (stages.json, checkpoints, evaluations, report)",
    "world": "the frozen web's folder, built once and shared by every command",
    "world_size": "frozen web size: full, small or fixture",
    "base": "untrained policy: smol (SmolLM2-135M grafted into Qwen2.5-VL) or tiny (test-size, from scratch)",
    "n": "SFT trajectories to generate",
    "rl_n": "GRPO questions to generate",
    "eval_pool": "questions generated per evaluation split",
    "eval_n": "test questions each evaluation samples (the same sample for every row)",
    "sft_config": "SFT recipe (YAML)",
    "rl_config": "GRPO recipe (YAML)",
    "sft_seconds": "SFT training-time cap in seconds; 0: none (--sft-steps sets the run)",
    "rl_seconds": "GRPO training-time cap in seconds; 0: none (--rl-steps sets the run)",
    "sft_steps": "SFT optimiser steps (~15 s each on 2 cores with AVX512-BF16, ~51 s on AVX2 only)",
    "rl_steps": "GRPO steps, one question x 8 rollouts each (~33 s on 2 AVX512-BF16 cores, ~114 s on AVX2 only)",
    "concurrency": "rollouts in flight per evaluation (batched decoding)",
    "max_turns": "turns per agent run in the evaluations",
    "max_new_tokens": "tokens per policy turn in the evaluations",
    "max_format_errors": "an evaluation run stops after this many malformed turns in a row",
    "seed": "seed of data generation, training and evaluation samples",
    "report_to": "override the recipes' logger (none switches wandb off)",
}
"""Help text of each `MainConfig` field's option (the dataclass's attribute docstrings say why)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The main job's options: every `MainConfig` field, plus `--from` and `--list`."""
    defaults = MainConfig()
    for f in fields(MainConfig):
        value = getattr(defaults, f.name)
        kind = type(value) if value is not None else (float if "seconds" in f.name else int)
        if f.name == "report_to":
            kind = str
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=Path if isinstance(value, Path) else kind,
            default=value,
            help=f"{OPTION_HELP[f.name]} (default: {value})",
        )
    p.add_argument("--from", dest="from_stage", metavar="STAGE", help="forget STAGE and every later one, then run")
    p.add_argument("--list", action="store_true", help="print the stages and their commands, run nothing")
    p.add_argument("--no-sample", action="store_true", help="skip answering a sample question at the end")


def config_from_args(args: argparse.Namespace) -> MainConfig:
    """The `MainConfig` of parsed arguments."""
    return MainConfig(**{f.name: getattr(args, f.name) for f in fields(MainConfig)})


def handle(args: argparse.Namespace) -> int:
    """Run (or list) the main job for parsed arguments."""
    cfg = config_from_args(args)
    try:
        stages = main_stages(cfg)
        if args.list:
            for i, s in enumerate(stages, 1):
                print(f"{i:2d}. {s.name:14s} {s.title}\n    deepmmsearch {' '.join(s.argv)}")  # noqa: T201
            return EXIT_OK
        if args.from_stage:
            forget_from(cfg, stages, args.from_stage)
        return run_main(cfg, stages, after=None if args.no_sample else sample_question)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT


COMMAND = Subcommand(
    "main",
    "the main job: build, generate, SFT, GRPO, evaluate, report (45 min on 2 CPU cores)",
    __doc__ or "",
    "pipeline/run.py",
    add_arguments,
    handle,
)
register = COMMAND.register
main = COMMAND.main


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python pipeline/run.py` from the repo root
    sys.exit(main())
