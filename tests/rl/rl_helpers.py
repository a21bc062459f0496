"""Helpers shared by the GRPO tests: the tiny recipe at test scale and a `RolloutOutcome` builder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rl.rewards import RolloutOutcome
from rl.train import RLRecipe

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "rl-tiny-cpu.yaml"


def small_recipe(setup: dict[str, Path], out: Path, **kw) -> RLRecipe:
    """The tiny-cpu recipe on the fixture world at test scale (2 rollouts per question, short turns), `kw` changed."""
    recipe = RLRecipe.load(
        RECIPE,
        model=str(setup["model"]),
        data=str(setup["data"]),
        world=str(setup["world"]),
        out=str(out),
        report_to="none",
        num_generations=2,
        batch_size=4,
    )
    base = dict(gradient_accumulation=1, max_turns=3, max_new_tokens=24, max_seconds=None, save_steps=1)
    return dataclasses.replace(recipe, **{**base, **kw})


def outcome(**kw) -> RolloutOutcome:
    """A one-turn answered run with no tools, with `kw` changed."""
    base = dict(
        answer="x",
        stop_reason="answered",
        turns=1,
        valid_turns=1,
        tool_calls=0,
        image_searches=0,
        text_searches=0,
        crops=0,
        crop_attempts=0,
        repeated_queries=0,
        refused_calls=0,
        response_tokens=10,
    )
    return RolloutOutcome(**{**base, **kw})  # type: ignore[typeddict-item]
