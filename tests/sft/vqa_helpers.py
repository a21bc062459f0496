"""Shared helpers of the data-generation tests."""

from __future__ import annotations

from pathlib import Path

from sft.data.pipeline import GenerateConfig


def small_config(world: Path, out: Path, **kw) -> GenerateConfig:
    """A run of a few dozen questions, in-process (no fork)."""
    base = dict(world=str(world), out=str(out), n=16, rl_n=4, eval_n=4, workers=1, imperfect_share=0.5)
    return GenerateConfig(**{**base, **kw})
