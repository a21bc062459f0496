"""Country facts from npm `world-countries` (mledoze): names, capitals, borders, languages, currencies, area.

One page per country, written as plain sentences from the JSON fields; the flag SVGs in the package are not used
(the Factbook media flags are the world's country flags). Data: ODbL 1.0.

Facts (kind "country", named by the common name; aliases: the official and native names and the spellings the data
lists, ISO codes left out): capital (the first; the others accepted too), currency and language (only where there is
exactly one), subregion, region, demonym and area, each as the page writes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from world.facts import FactRecord
from world.records import PageRecord, SourceOutput
from world.sources.common import fact_maker, frozen_url
from world.sources.packages import Package

NAME = "countries"
PACKAGE = Package("npm", "world-countries", "5.1.0")
LICENCE = "ODbL 1.0 (mledoze/countries, npm world-countries)"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _area(c: dict) -> str:
    return f"{c['area']:,.0f} km²"


def _aliases(c: dict) -> list[str]:
    """Other names of a country: official, native (common and official) and alternative spellings, no ISO codes."""
    native = [n[form] for n in c["name"].get("native", {}).values() for form in ("common", "official")]
    spellings = [a for a in c["altSpellings"] if not re.fullmatch(r"[A-Z]{2,3}", a)]
    return [c["name"]["official"], *native, *spellings]


def _facts(c: dict, url: str) -> list[FactRecord]:
    """The facts of one country, each a value `_text` writes on the page at `url`."""
    make = fact_maker(f"{NAME}:{c['cca3'].lower()}", c["name"]["common"], "country", _aliases(c))
    facts = [make("subregion", c["subregion"] or c["region"], url), make("region", c["region"], url)]
    if c["capital"]:
        facts.append(make("capital", c["capital"][0], url, c["capital"][1:]))
    if len(c["currencies"]) == 1:
        code, cur = next(iter(c["currencies"].items()))
        facts.append(make("currency", cur["name"], url, [code]))
    if len(c["languages"]) == 1:
        facts.append(make("language", next(iter(c["languages"].values())), url))
    demonym = c.get("demonyms", {}).get("eng", {}).get("m")
    if demonym:
        facts.append(make("demonym", demonym, url))
    if c["area"] > 0:
        facts.append(make("area", _area(c), url, numeric=float(c["area"])))
    return facts


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
    if c["area"] > 0:
        parts.append(f"Area: {_area(c)}.")
    parts.append(f"Landlocked: {'yes' if c['landlocked'] else 'no'}.")
    demonym = c.get("demonyms", {}).get("eng", {}).get("m")
    if demonym:
        parts.append(f"People from {name} are called {demonym}.")
    parts.append(
        f"Codes: ISO {c['cca2']} / {c['cca3']}, top-level domain {', '.join(c['tld']) or 'none'}. "
        f"Region: {c['region']}. Flag emoji: {c['flag']}."
    )
    return " ".join(parts)


def common_names(root: Path) -> list[str]:
    """The common name of every country in the unpacked package ("France", "United States", …)."""
    return [c["name"]["common"] for c in json.loads((root / "package" / "countries.json").read_text("utf-8"))]


def load(root: Path) -> SourceOutput:
    """Read `countries.json` as one page per country.

    Args:
        root: the unpacked package.

    Returns:
        250 country pages and their facts.
    """
    data = json.loads((root / "package" / "countries.json").read_text("utf-8"))
    names = {c["cca3"]: c["name"]["common"] for c in data}
    pages, facts = [], []
    for c in data:
        url = frozen_url(NAME, c["cca3"].lower())
        title = f"{c['name']['common']} — country facts"
        pages.append(PageRecord(f"{NAME}:{c['cca3'].lower()}", url, title, _text(c, names), NAME, LICENCE))
        facts += _facts(c, url)
    return SourceOutput(pages=pages, images=[], facts=facts)
