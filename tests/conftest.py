"""Shared fixtures: the fixture world, a demo composite image, graph inputs. Everything is offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from graph.demo import DEMO_QUESTION, demo_image
from tools.fixture import fixture_toolset
from tools.images import make_ref, open_image
from world.fixture import FixtureWorld, build_fixture_world

# The scripted servers (tests/policy/mock_openai.py, tests/tools/mock_search_apis.py) serve tests in several folders.
for _folder in ("policy", "tools"):
    if str(Path(__file__).parent / _folder) not in sys.path:
        sys.path.insert(0, str(Path(__file__).parent / _folder))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # a stray hub or wandb call fails at once instead of hanging
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")


@pytest.fixture(autouse=True)
def _no_trained_default(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # commands fall back to the main job's trained policy once runs/main holds one; tests must not depend on it
    monkeypatch.setattr("policy.default.TRAINED_POLICY", tmp_path_factory.getbasetemp() / "no-trained-policy")


@pytest.fixture(scope="session")
def world() -> FixtureWorld:
    return build_fixture_world()


@pytest.fixture
def demo_path(tmp_path: Path, world: FixtureWorld) -> Path:
    """The demo composite: Japan, France, Germany flags left to right."""
    return demo_image(tmp_path / "demo.png", world)


@pytest.fixture
def tools(world: FixtureWorld, tmp_path: Path):
    return fixture_toolset(world, crop_dir=str(tmp_path / "crops"))


@pytest.fixture
def inputs(demo_path: Path) -> dict:
    return {"question": DEMO_QUESTION, "image": make_ref(str(demo_path), open_image(str(demo_path)))}
