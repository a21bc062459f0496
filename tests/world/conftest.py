"""Fixtures for the frozen-web tests: one fixture world built per session (offline, well under a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from world.build import build_world


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("frozen") / "fixture"
    build_world("fixture", out)
    return out
