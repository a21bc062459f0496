"""Fixtures for the GRPO tests: a fixture world, a small generated question set, the tiny test policy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "sft"))  # vqa_helpers (appended: no name shadowing)


@pytest.fixture(scope="session")
def rl_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """world, hf/questions and tiny-model folders (the model uses the compact profile, as the default does)."""
    pytest.importorskip("trl")
    from vqa_helpers import small_config

    from policy.profile import get_profile
    from policy.tiny import init_tiny
    from sft.data.export import export
    from sft.data.pipeline import generate
    from world.build import build_world

    root = tmp_path_factory.mktemp("rl")
    build_world("fixture", root / "world")
    generate(small_config(root / "world", root / "data", n=4, rl_n=6, eval_n=2, profile="compact"), progress=False)
    export(root / "data")
    init_tiny(root / "tiny", size="test")
    get_profile("compact").save(root / "tiny")
    return {"world": root / "world", "data": root / "data" / "hf" / "questions", "model": root / "tiny"}
