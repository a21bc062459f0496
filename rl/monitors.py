"""Stability monitors of a GRPO run: rollout statistics, a step-time breakdown, and an alarm on collapse.

TRL already logs, every logging step, the reward mean and std (`reward`, `reward_std`), each reward term
(`rewards/<name>/mean`), the share of groups whose rewards are all equal (`frac_reward_zero_std`: no learning signal),
the completion lengths, `kl` (when beta > 0) and `entropy`. The rollout adds what only the graph knows
(`rollout_metrics`: format rate, tool calls, crop and refinement rates …) through the same logging path, and the
correctness reward adds the judge's latency. `StepTimes` splits each optimiser step into rollout, reward and update
time (written to `<out>/steps.jsonl`); `CollapseAlarm` warns, and optionally stops, when the format rate or the reward
collapses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl.rewards import RolloutOutcome, format_validity

logger = logging.getLogger(__name__)


def rollout_metrics(
    outcomes: Sequence[RolloutOutcome], needs_crop: Sequence[bool | None] | None = None
) -> dict[str, float]:
    """Means over a batch of rollouts: format, answering, tool use (the paper's breakdown) and length.

    With `needs_crop` (per rollout: does its question take a crop, None if unknown), also the share that chose a
    crop among rollouts whose question needs one (`crop_rate_needed`) and among those whose question does not
    (`crop_rate_unneeded`: the paper's unnecessary crops, which its GRPO reduces), each only when the batch has such
    rollouts.
    """
    n = len(outcomes)
    if n == 0:
        return {}

    def mean(values: Sequence[float]) -> float:
        return float(sum(values)) / n

    by_need: dict[str, float] = {}
    pairs = list(zip(outcomes, needs_crop, strict=True)) if needs_crop is not None else []
    for name, need in (("rollout/crop_rate_needed", True), ("rollout/crop_rate_unneeded", False)):
        chose = [o["crop_attempts"] > 0 for o, k in pairs if k is need]
        if chose:
            by_need[name] = sum(chose) / len(chose)
    return {
        **by_need,
        "rollout/format_rate": mean([format_validity(o) for o in outcomes]),
        "rollout/answered_rate": mean([o["stop_reason"] == "answered" for o in outcomes]),
        "rollout/turns": mean([o["turns"] for o in outcomes]),
        "rollout/tool_calls": mean([o["tool_calls"] for o in outcomes]),
        "rollout/image_search_rate": mean([o["image_searches"] > 0 for o in outcomes]),
        "rollout/text_search_rate": mean([o["text_searches"] > 0 for o in outcomes]),
        "rollout/no_tool_rate": mean([o["tool_calls"] == 0 for o in outcomes]),
        "rollout/crop_rate": mean([o["crops"] > 0 for o in outcomes]),
        "rollout/refinement_rate": mean([o["text_searches"] > 1 for o in outcomes]),
        "rollout/repeated_query_rate": mean([o["repeated_queries"] > 0 for o in outcomes]),
        "rollout/refused_calls": mean([o["refused_calls"] for o in outcomes]),
        "rollout/response_tokens": mean([o["response_tokens"] for o in outcomes]),
    }


def log_metrics(trainer: Any, metrics: dict[str, float]) -> None:
    """Add scalars to the trainer's next log line (TRL's `log_metric` path; a no-op for other trainers)."""
    log = getattr(trainer, "_log_metric", None)  # what TRL hands reward functions as `log_metric` (trl pinned)
    if log is None:
        return
    for name, value in metrics.items():
        log(name, float(value))


@dataclass
class Stopwatch:
    """Seconds spent in one kind of work since the last `take()` (shared by the rollout and the reward wrappers)."""

    seconds: float = 0.0

    def add(self, seconds: float) -> None:
        """Count `seconds` more."""
        self.seconds += seconds

    def take(self) -> float:
        """The seconds counted so far; resets to 0."""
        out, self.seconds = self.seconds, 0.0
        return out


def timed(function: Any, watch: Stopwatch) -> Any:
    """`function` with its wall time added to `watch` (keeps its `__name__`, which TRL logs rewards under)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            watch.add(time.perf_counter() - started)

    wrapper.__name__ = getattr(function, "__name__", type(function).__name__)
    return wrapper


def _window_mean(values: list[float], window: int) -> float | None:
    """The mean of the last `window` values, once there are that many; else None."""
    if len(values) < window:
        return None
    return sum(values[-window:]) / window


def step_times_callback(path: Path, rollout: Stopwatch, reward: Stopwatch) -> Any:
    """A `TrainerCallback` that writes each optimiser step's time split (rollout / reward / update) to `path`."""
    from transformers import TrainerCallback

    class StepTimes(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            total = time.perf_counter() - self.started
            r, w = rollout.take(), reward.take()
            row = {
                "step": state.global_step,
                "seconds": round(total, 3),
                "rollout": round(r, 3),
                "reward": round(w, 3),
                "update": round(max(0.0, total - r - w), 3),
            }
            if state.is_world_process_zero:
                with path.open("a", encoding="utf-8") as sink:
                    sink.write(json.dumps(row) + "\n")

    return StepTimes()


def time_breakdown(path: Path) -> dict[str, float]:
    """Mean seconds per step of each part, and each part's share of the step, from a `steps.jsonl`."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not rows:
        return {}
    total = sum(r["seconds"] for r in rows)
    out: dict[str, float] = {"steps": len(rows), "seconds_per_step": round(total / len(rows), 2)}
    for part in ("rollout", "reward", "update"):
        spent = sum(r[part] for r in rows)
        out[f"{part}_seconds_per_step"] = round(spent / len(rows), 2)
        out[f"{part}_share"] = round(spent / total, 4) if total else 0.0
    return out


@dataclass
class CollapseAlarm:
    """Flags a collapse: the format rate under a floor, or the reward far under its best, over a moving window.

    A GRPO run that collapses usually does so quickly and visibly (the policy stops closing its tags, or reward
    hacking wins and the judged reward falls); catching it saves the rest of the budget. Each log line holds only
    the step's few questions, whose difficulty swings the reward from 0 to 0.9, so the checks use the mean of the
    last `window` logs and fire after `patience` bad windows in a row. Alarms go to the log and to
    `<out>/alarms.jsonl`; with `stop` the run ends (and saves) at the alarm.
    """

    min_format_rate: float = 0.5
    reward_drop: float = 0.5
    """Alarm when the windowed reward falls under this fraction of the best windowed reward so far."""
    window: int = 8
    patience: int = 3
    stop: bool = False
    best_reward: float | None = None
    rewards: list[float] = field(default_factory=list)
    formats: list[float] = field(default_factory=list)
    strikes: dict[str, int] = field(default_factory=dict)

    def check(self, logs: dict[str, float]) -> list[str]:
        """Update with one log line; return the alarms it raises (empty when all is well)."""
        reward, fmt = logs.get("reward"), logs.get("rollout/format_rate")
        if reward is None and fmt is None:
            return []
        if reward is not None:
            self.rewards.append(reward)
        if fmt is not None:
            self.formats.append(fmt)
        mean_reward = _window_mean(self.rewards, self.window)
        mean_format = _window_mean(self.formats, self.window)
        if mean_reward is not None and (self.best_reward is None or mean_reward > self.best_reward):
            self.best_reward = mean_reward
        low_format = mean_format is not None and mean_format < self.min_format_rate
        dropped = (
            mean_reward is not None
            and self.best_reward is not None
            and self.best_reward > 0
            and mean_reward < self.reward_drop * self.best_reward
        )
        alarms = []
        for name, bad, what in (
            ("format", low_format, f"format rate {mean_format:.3g} < {self.min_format_rate}" if low_format else ""),
            (
                "reward",
                dropped,
                f"reward {mean_reward:.3g} < {self.reward_drop} x best {self.best_reward:.3g}" if dropped else "",
            ),
        ):
            self.strikes[name] = self.strikes.get(name, 0) + 1 if bad else 0
            if self.strikes[name] >= self.patience:
                alarms.append(f"{what} (mean of the last {self.window} logs) for {self.strikes[name]} logs in a row")
        return alarms

    def callback(self, out: Path) -> Any:
        """The alarm as a `TrainerCallback` writing to `out / "alarms.jsonl"`."""
        from transformers import TrainerCallback

        alarm = self

        class Alarm(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
                for message in alarm.check(logs or {}):
                    logger.warning("GRPO collapse alarm at step %s: %s", state.global_step, message)
                    if state.is_world_process_zero:
                        with (out / "alarms.jsonl").open("a", encoding="utf-8") as sink:
                            sink.write(json.dumps({"step": state.global_step, "alarm": message}) + "\n")
                    if alarm.stop:
                        control.should_training_stop = True
                        control.should_save = True

        return Alarm()
