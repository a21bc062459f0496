"""Which toolset a command uses when the user names none: the frozen web if one is built, else the fixture world.

Composition roots (`graph/app.py`, the CLI) call `default_toolset`; library code takes a `Toolset` argument.
"""

from __future__ import annotations

from pathlib import Path

from tools.base import Toolset

DEFAULT_WORLD = Path(__file__).resolve().parents[1] / "runs" / "world" / "full"
"""Where `deepmmsearch world build --size full` writes by default."""


def resolve_world(world: str | None) -> str:
    """The world to use: `world` if given, else the default full world if built, else "fixture"."""
    if world is not None:
        return world
    return str(DEFAULT_WORLD) if (DEFAULT_WORLD / "manifest.json").is_file() else "fixture"


def default_toolset(world: str | None = None, crop_dir: str | None = None) -> Toolset:
    """The frozen-web toolset over `resolve_world(world)`, or the fixture toolset.

    Raises:
        ValueError: `world` names a folder that is not a built world.
    """
    resolved = resolve_world(world)
    if resolved == "fixture":
        from tools.fixture import fixture_toolset

        return fixture_toolset(crop_dir=crop_dir)
    from tools.frozen import frozen_toolset

    return frozen_toolset(resolved, crop_dir=crop_dir)
