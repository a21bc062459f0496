"""Fixtures for the data-generation tests: a fixture world with facts, and one small generated folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from vqa_helpers import small_config

from sft.data.pipeline import generate
from world.build import build_world


@pytest.fixture(scope="session")
def fact_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vqa-world") / "fixture"
    build_world("fixture", out)
    return out


@pytest.fixture(scope="session")
def generated(fact_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vqa") / "data"
    generate(small_config(fact_world, out), progress=False)
    return out
