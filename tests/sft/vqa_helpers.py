"""Shared helpers of the data-generation tests."""

from __future__ import annotations

from pathlib import Path

from sft.data.pipeline import GenerateConfig


def small_config(world: Path, out: Path, **kw) -> GenerateConfig:
    """A run of a few dozen questions, in-process (no fork)."""
    base = dict(world=str(world), out=str(out), n=16, rl_n=4, eval_n=4, workers=1, imperfect_share=0.5)
    return GenerateConfig(**{**base, **kw})


def mock_openai_module():
    """`tests/policy/mock_openai.py` (the scripted OpenAI-compatible server), imported by path."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "policy" / "mock_openai.py"
    if "mock_openai" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mock_openai", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["mock_openai"] = module
        spec.loader.exec_module(module)
    return sys.modules["mock_openai"]
