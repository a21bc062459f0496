"""Fixtures of the evaluation tests: a small generated DeepMMSearchVQA folder over the fixture world."""

from __future__ import annotations

from pathlib import Path

import pytest

from sft.data.pipeline import GenerateConfig, generate
from world.build import build_world


@pytest.fixture(scope="session")
def frozenweb_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder made by `deepmmsearch data generate` with a few validation and test questions."""
    root = tmp_path_factory.mktemp("frozenweb")
    world = root / "world"
    build_world("fixture", world)
    data = root / "data"
    # seed 6: the fixture world's few split groups then hash into both evaluation splits, with the shared Factbook
    # media slice (../shared/data) and without it (a clone elsewhere): seed 2 left no validation question without it
    cfg = GenerateConfig(world=str(world), out=str(data), n=4, rl_n=0, eval_n=4, workers=1, seed=6)
    generate(cfg, progress=False)
    return data
