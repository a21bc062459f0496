"""Which toolset a command uses when the user names none: the frozen web if one is built, else the fixture world.

Composition roots (`graph/app.py`, the CLI) call `default_toolset`; library code takes a `Toolset` argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tools.base import Toolset

DEFAULT_WORLD = Path(__file__).resolve().parents[1] / "runs" / "world" / "full"
"""Where `deepmmsearch world build --size full` writes by default."""
LIVE_CACHE = Path(__file__).resolve().parents[1] / "runs" / "cache" / "live-search.sqlite"
"""The record/replay cache of `--world live` searches (override: `DEEPMMSEARCH_SEARCH_CACHE`)."""
LIVE_ENV = ("TAVILY_API_KEY", "LENS_BASE_URL")
"""What `--world live` needs; `LENS_API_KEY` and `TAVILY_BASE_URL` (a proxy) are optional."""


def resolve_world(world: str | None) -> str:
    """The world to use: `world` if given, else the default full world if built, else "fixture"."""
    if world is not None:
        return world
    return str(DEFAULT_WORLD) if (DEFAULT_WORLD / "manifest.json").is_file() else "fixture"


def default_toolset(
    world: str | None = None, crop_dir: str | None = None, env: Mapping[str, str] | None = None
) -> Toolset:
    """The frozen-web toolset over `resolve_world(world)`, the fixture toolset, or for "live" the live web.

    Args:
        world: a built world folder, "fixture", "live" or None (see `resolve_world`).
        crop_dir: where crops are written (None keeps them inline).
        env: where "live" reads its keys and endpoint (`LIVE_ENV`); commands pass `os.environ`.

    Raises:
        ValueError: `world` names a folder that is not a built world, or "live" without its settings.
    """
    resolved = resolve_world(world)
    if resolved == "live":
        env = env or {}
        missing = [k for k in LIVE_ENV if not env.get(k)]
        if missing:
            raise ValueError(f"--world live needs {' and '.join(missing)} in the environment")
        from tools.live_toolset import live_toolset

        return live_toolset(
            tavily_key=env["TAVILY_API_KEY"],
            lens_base_url=env["LENS_BASE_URL"],
            lens_key=env.get("LENS_API_KEY"),
            tavily_base_url=env.get("TAVILY_BASE_URL"),
            cache=env.get("DEEPMMSEARCH_SEARCH_CACHE") or LIVE_CACHE,
            crop_dir=crop_dir,
        )
    if resolved == "fixture":
        from tools.fixture import fixture_toolset

        return fixture_toolset(crop_dir=crop_dir)
    from tools.frozen import frozen_toolset

    return frozen_toolset(resolved, crop_dir=crop_dir)
