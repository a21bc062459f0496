"""The first-decision probe as a GRPO monitor: P(search) per kind of held-out question, every N steps.

GRPO on a small policy mostly moves *how often* it searches, on every question at once, while the ranking of
questions by P(search) barely changes (README, "Online GRPO through the graph"). Greedy accuracy then turns on where
that level falls, so the level on held-out search-free and search-required questions is the curve to watch while a
run trains — a reward mean cannot show it. The monitor scores the same fixed sample of questions (the validation
split by default) with `evals.decision.search_probabilities` at the start of training and every `every` optimiser
steps: one teacher-forced forward per question, no decoding (~0.6 s a question on 2 cores). Each probe is a line of
`decision.jsonl` in the run folder and `decision/*` metrics in the trainer's next log line (wandb).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.records import EvalExample


def probe_examples(data: str | Path, split: str, sample: int, seed: int) -> list[EvalExample]:
    """The fixed held-out questions a run is probed on (`deepmmsearch decision --sample` draws the same ones).

    Raises:
        ValueError: unreadable data, an unknown split, or a sample below 1.
    """
    from evals.loaders import load_benchmark
    from evals.run import sample_examples

    if sample < 1:
        raise ValueError(f"the probe's sample must be ≥ 1, got {sample}")
    return sample_examples(load_benchmark("frozenweb", Path(data), split=split), sample, seed)


def probe_row(step: int, kinds: Sequence[str], probabilities: Sequence[float], seconds: float) -> dict[str, Any]:
    """One `decision.jsonl` line: the step, `evals.decision.summarise`'s numbers, and the probe's time."""
    from evals.decision import summarise

    return {"step": step, **summarise(kinds, probabilities), "seconds": round(seconds, 2)}


def probe_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The scalars of a probe line that go to the trainer's log (missing values left out)."""
    values = {
        "decision/p_search_free": row["search_free"]["p_search"],
        "decision/p_search_required": row["search_required"]["p_search"],
        "decision/searched_free": row["search_free"]["searched_greedily"],
        "decision/searched_required": row["search_required"]["searched_greedily"],
        "decision/separation": row["separation"],
    }
    return {k: float(v) for k, v in values.items() if v is not None}


class DecisionMonitor:
    """Probes the model being trained on fixed questions; `callback()` is its `TrainerCallback`.

    Example:
        >>> monitor = DecisionMonitor(probe_examples("runs/main/data", "validation", 48, 0), "compact",
        ...                           every=5, path=Path("runs/rl/decision.jsonl"))  # doctest: +SKIP
        >>> trainer = GRPOTrainer(..., callbacks=[monitor.callback()]); monitor.trainer = trainer  # doctest: +SKIP
    """

    def __init__(
        self, examples: Sequence[EvalExample], style: str, every: int, path: Path, batch_size: int = 16
    ) -> None:
        """Set up the monitor.

        Args:
            examples: the held-out questions, probed in the same order every time.
            style: the prompt style of the policy's profile.
            every: probe after every `every` optimiser steps (and once before the first).
            path: the `decision.jsonl` to append to.
            batch_size: questions per forward pass.

        Raises:
            ValueError: no examples, or `every` below 1.
        """
        if not examples:
            raise ValueError("the decision monitor needs at least one question")
        if every < 1:
            raise ValueError(f"probe every N ≥ 1 steps, got {every}")
        self.examples = list(examples)
        self.style = style
        self.every = every
        self.path = path
        self.batch_size = batch_size
        self.trainer: Any = None
        """Set after the trainer is built: its metrics are where probe scalars join the log (`rl.monitors`)."""
        self._probed = {row["step"] for row in read_probes(path)}  # a resumed run does not probe a step twice

    def probe(self, model: Any, processor: Any, step: int) -> dict[str, Any]:
        """Score the questions with `model` as it is now (eval mode, no gradients); the line written.

        The model's training mode is restored afterwards; LoRA adapters stay unmerged (the scores are the adapted
        model's, without the rounding of a merge).
        """
        from evals.decision import search_probabilities
        from policy.hf import HFPolicy
        from rl.monitors import log_metrics

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        was_training = base.training
        started = time.perf_counter()
        try:
            policy = HFPolicy(base, processor, prefix_cache=False)  # puts the model in eval mode
            probabilities = search_probabilities(policy, self.examples, self.style, self.batch_size, progress=False)
        finally:
            base.train(was_training)
        row = probe_row(step, [ex.search_type for ex in self.examples], probabilities, time.perf_counter() - started)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(row) + "\n")
        if self.trainer is not None:
            log_metrics(self.trainer, probe_metrics(row))
        self._probed.add(step)
        return row

    def callback(self) -> Any:
        """The `TrainerCallback`: a probe at the start of training and after every `every`-th step, on process 0."""
        from transformers import TrainerCallback

        monitor = self

        class Decision(TrainerCallback):
            def _maybe(self, state: Any, kwargs: dict[str, Any], due: bool) -> None:
                step = state.global_step
                if due and state.is_world_process_zero and step not in monitor._probed:
                    monitor.probe(kwargs["model"], kwargs["processing_class"], step)

            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self._maybe(state, kwargs, True)

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self._maybe(state, kwargs, state.global_step % monitor.every == 0)

        return Decision()


def read_probes(path: Path) -> list[dict[str, Any]]:
    """The lines of a run's `decision.jsonl` (empty when the run was not probed)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decision_trend(path: Path) -> list[dict[str, Any]]:
    """A run's probes: step, mean P(search) on search-free and search-required questions, AUROC (empty if unprobed)."""
    return [
        {
            "step": row["step"],
            "p_search_free": row["search_free"]["p_search"],
            "p_search_required": row["search_required"]["p_search"],
            "separation": row["separation"],
        }
        for row in read_probes(path)
    ]
