"""Entities for synthesis: the world's facts joined across sources, and the split each entity belongs to.

A country has its flag from the Factbook, its capital from `world-countries` and its population from the Factbook:
facts of one kind are joined by normalised name, and by alias when the name alone finds no partner. Splits are
drawn per *group* (a country with its regions, monuments and flag emoji; otherwise the entity itself), so no answer
entity and no image is shared between train, validation and test.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sft.data.questions import Split
from world.facts import FactRecord, norm_name

SOURCE_PRIORITY = ("countries", "factbook", "fixture", "kgeography", "openflags", "gcompris", "logos", "emoji")
"""Which source's fact wins when several state the same relation."""
SPLIT_SHARES: tuple[tuple[Split, float], ...] = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


@dataclass
class Entity:
    """One real-world thing with its names, facts and images."""

    key: str
    """The entity's id in synthesis: a country's normalised name, else `<kind>:<source entity id>`."""
    name: str
    kind: str
    aliases: set[str] = field(default_factory=set)
    facts: dict[str, FactRecord] = field(default_factory=dict)
    """Relation → the preferred fact."""
    images: list[FactRecord] = field(default_factory=list)
    """The `image` facts: `value` is a world image id."""

    def names(self) -> list[str]:
        """The name first, then the aliases (accepted answers when the entity is the answer)."""
        return [self.name, *sorted(a for a in self.aliases if a != self.name)]


def _priority(fact: FactRecord) -> tuple[int, str]:
    source = fact.entity.split(":", 1)[0]
    rank = SOURCE_PRIORITY.index(source) if source in SOURCE_PRIORITY else len(SOURCE_PRIORITY)
    return rank, fact.entity


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


JOINED_KINDS = frozenset({"country"})
"""Kinds whose entities of different sources are one when their names agree (a country's name is unique)."""


def _single_source(uf: _Union, by_id: dict[str, list[FactRecord]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for eid in sorted(by_id):
        groups[uf.find(eid)].append(eid)
    return {r: m for r, m in groups.items() if len({x.split(":", 1)[0] for x in m}) == 1}


def _alias_keys(members: list[str], by_id: dict[str, list[FactRecord]]) -> set[str]:
    return {norm_name(a) for m in members for f in by_id[m] for a in f.aliases} - {""}


def _join_by_alias(by_id: dict[str, list[FactRecord]], uf: _Union, by_name: dict[tuple[str, str], str]) -> None:
    """Join groups still made of one source by alias: an alias that is another group's name, then one two groups share.

    Each join needs exactly one partner, so an alias several groups claim ("Virgin Islands") joins nothing.
    """
    for root, members in _single_source(uf, by_id).items():
        kind = by_id[root][0].kind
        if kind not in JOINED_KINDS:
            continue
        keys = _alias_keys(members, by_id)
        partners = {uf.find(by_name[(kind, a)]) for a in keys if (kind, a) in by_name} - {uf.find(root)}
        if len(partners) == 1:
            uf.union(root, partners.pop())
    single = {r: m for r, m in _single_source(uf, by_id).items() if by_id[r][0].kind in JOINED_KINDS}
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for root, members in single.items():
        for key in _alias_keys(members, by_id):
            owners[(by_id[root][0].kind, key)].add(root)
    pairs: dict[str, set[str]] = defaultdict(set)
    for roots in owners.values():
        if len(roots) == 2:
            a, b = sorted(roots)
            if a.split(":", 1)[0] != b.split(":", 1)[0]:
                pairs[a].add(b)
                pairs[b].add(a)
    for a, partners in sorted(pairs.items()):
        if len(partners) == 1 and len(pairs[next(iter(partners))]) == 1:
            uf.union(a, next(iter(partners)))


def build_entities(facts: Iterable[FactRecord]) -> dict[str, Entity]:
    """Join facts into entities: countries by normalised name, then by alias where that finds exactly one partner.

    Returns:
        Key → entity: the normalised name for countries, `<kind>:<entity id>` for the rest. The display name is
        the one of the entity's highest-priority source.
    """
    by_id: dict[str, list[FactRecord]] = defaultdict(list)
    for f in facts:
        by_id[f.entity].append(f)
    uf = _Union()
    by_name: dict[tuple[str, str], str] = {}
    for eid, fs in sorted(by_id.items()):
        uf.find(eid)
        if fs[0].kind not in JOINED_KINDS:
            continue  # regions, monuments, brands … are named alike in different places: never joined by name
        key = (fs[0].kind, norm_name(fs[0].name))
        if key in by_name:
            uf.union(eid, by_name[key])
        else:
            by_name[key] = eid
    _join_by_alias(by_id, uf, by_name)
    merged: dict[str, list[FactRecord]] = defaultdict(list)
    for eid, fs in by_id.items():
        merged[uf.find(eid)].extend(fs)
    out: dict[str, Entity] = {}
    for fs in merged.values():
        fs.sort(key=_priority)
        head = fs[0]
        ent_key = norm_name(head.name) if head.kind in JOINED_KINDS else f"{head.kind}:{head.entity}"
        ent = Entity(key=ent_key, name=head.name, kind=head.kind)
        for f in fs:
            ent.aliases.update([f.name, *f.aliases])
            if f.relation == "image":
                ent.images.append(f)
            else:
                ent.facts.setdefault(f.relation, f)
        ent.aliases.discard("")
        if ent.key and ent.key not in out:
            out[ent.key] = ent
    return out


def name_index(entities: dict[str, Entity], kind: str) -> dict[str, Entity]:
    """Normalised name or alias → entity of `kind` (an alias shared by two entities is left out)."""
    index: dict[str, Entity] = {}
    ambiguous: set[str] = set()
    for ent in entities.values():
        if ent.kind != kind:
            continue
        for name in {ent.name, *ent.aliases}:
            key = norm_name(name)
            if key in index and index[key] is not ent:
                ambiguous.add(key)
            index.setdefault(key, ent)
    for key in ambiguous:
        index.pop(key)
    for ent in entities.values():  # an entity's own name always wins over another's alias
        if ent.kind == kind:
            index[ent.key] = ent
    return index


def group_of(ent: Entity, countries: dict[str, Entity]) -> str:
    """The split group: the country an entity belongs to where it has one, else the entity itself."""
    if ent.kind == "country":
        return f"country:{ent.key}"
    country = ent.facts.get("country")
    if country is not None:
        target = countries.get(norm_name(country.value))
        if target is not None:
            return f"country:{target.key}"
    return ent.key


def split_of(group: str, seed: int = 0) -> Split:
    """The split of a group: a stable hash, so adding entities never moves existing ones."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{group}".encode()).digest()[:8], "big") / 2**64
    acc = 0.0
    for split, share in SPLIT_SHARES:
        acc += share
        if h < acc:
            return split
    return SPLIT_SHARES[-1][0]
