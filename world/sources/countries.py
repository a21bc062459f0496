"""Country facts from npm `world-countries` (mledoze): names, capitals, borders, languages, currencies, area.

One page per country, written as plain sentences from the JSON fields; the flag SVGs in the package are not used
(the Factbook media flags are the world's country flags). Data: ODbL 1.0.
"""

from __future__ import annotations

import json
from pathlib import Path

from world.records import PageRecord, SourceOutput
from world.sources.common import frozen_url
from world.sources.packages import Package

NAME = "countries"
PACKAGE = Package("npm", "world-countries", "5.1.0")
LICENCE = "ODbL 1.0 (mledoze/countries, npm world-countries)"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _text(c: dict, names: dict[str, str]) -> str:
    name = c["name"]["common"]
    parts = [f"{name} (officially {c['name']['official']}) is a country in {c['subregion'] or c['region']}."]
    if c["capital"]:
        parts.append(f"The capital of {name} is {_join(c['capital'])}.")
    if c["languages"]:
        parts.append(f"Languages of {name}: {_join(sorted(c['languages'].values()))}.")
    if c["currencies"]:
        cur = [f"{v['name']} ({code}, {v.get('symbol', '')})" for code, v in sorted(c["currencies"].items())]
        parts.append(f"The currency of {name} is the {_join(cur)}.")
    if c["borders"]:
        parts.append(f"{name} borders {_join([names.get(b, b) for b in c['borders']])}.")
    elif c["landlocked"] is False:
        parts.append(f"{name} shares no land border.")
    parts.append(f"Area: {c['area']:,.0f} km². Landlocked: {'yes' if c['landlocked'] else 'no'}.")
    demonym = c.get("demonyms", {}).get("eng", {}).get("m")
    if demonym:
        parts.append(f"People from {name} are called {demonym}.")
    parts.append(
        f"Codes: ISO {c['cca2']} / {c['cca3']}, top-level domain {', '.join(c['tld']) or 'none'}. "
        f"Region: {c['region']}. Flag emoji: {c['flag']}."
    )
    return " ".join(parts)


def load(root: Path) -> SourceOutput:
    """Read `countries.json` as one page per country.

    Args:
        root: the unpacked package.

    Returns:
        250 country pages.
    """
    data = json.loads((root / "package" / "countries.json").read_text("utf-8"))
    names = {c["cca3"]: c["name"]["common"] for c in data}
    pages = [
        PageRecord(
            id=f"{NAME}:{c['cca3'].lower()}",
            url=frozen_url(NAME, c["cca3"].lower()),
            title=f"{c['name']['common']} — country facts",
            text=_text(c, names),
            source=NAME,
            licence=LICENCE,
        )
        for c in data
    ]
    return SourceOutput(pages=pages, images=[])
