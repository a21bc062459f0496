"""Question synthesis: cheap specs enumerated over the world's entities, rendered into questions on demand.

A `Spec` names a chain (start entity, its image, the relations to follow) and how to show it (the single image, a
composite with distractors that makes cropping necessary, or a question that names the entity). Rendering a spec
draws the image and writes the question; it is deterministic for the spec's seed, so a resumed run renders the same
question again. Search-free specs ask what the picture itself shows (how many objects, which colour).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from sft.data import templates as T
from sft.data.entities import Entity, build_entities, group_of, name_index, split_of
from sft.data.questions import Hop, Question, SearchType, Split
from tools.composites import Composite, probes, random_composite
from tools.objects import colour_fractions
from world.facts import norm_name
from world.image_index import flatten
from world.store import WorldStore

Mode = Literal["single", "composite", "named", "count", "colour"]
RELATIONS = {
    "country": ("capital", "currency", "population", "region", "continent", "demonym", "language", "area"),
    "division": ("capital", "country"),
    "monument": ("country",),
    "animal": ("continent",),
    "brand": ("colour",),
    "emoji": ("group", "country"),
}
"""Relations followed from an entity of each kind (where the entity has the fact)."""
SECOND_HOP = ("capital", "currency")
"""Relations followed from the country a region, monument or flag emoji belongs to (three-hop chains)."""
DUPLICATE_SIMILARITY = 0.999
"""Image-index cosine similarity above which two images of different entities count as one picture (the Cocos
Islands and Heard Island both fly Australia's flag): neither is used, as no image search can tell them apart."""
MAX_SIDE = 320
"""Long side of a single question image."""
NAMED_INTRO = {
    "country": ("This is the flag of {name}.", "this country"),
    "division": ("This is the flag of {name}.", "this region"),
    "monument": ("This photo shows {name}.", "this monument"),
    "animal": ("This photo shows a {name}.", "this animal"),
    "brand": ("This is the logo of {name}.", "this brand"),
    "emoji": ("This is the {name} emoji.", "this emoji"),
}


@dataclass(frozen=True)
class Spec:
    """What a question will be, before its image is drawn."""

    id: str
    split: Split
    mode: Mode
    category: str
    family: str
    entity: str = ""
    """Key of the start entity (empty for search-free specs)."""
    image_id: str = ""
    path: tuple[str, ...] = ()
    seed: int = 0
    pool: str = ""
    """Noun of the images a composite draws from ("flag", "logo", …)."""

    @property
    def search_required(self) -> bool:
        """Whether the question needs a tool."""
        return self.mode not in ("count", "colour")


def noun_of(image_id: str, kind: str) -> str:
    """What an image is called in a question: flag, map, photo, logo or emoji."""
    slug = image_id.split(":", 1)[-1]
    if slug.startswith(("map-", "locator-")):
        return "map"
    if slug.startswith("flag-"):
        return "flag"
    return T.NOUN_OF_KIND.get(kind, "image")


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def duplicate_images(store: WorldStore, owners: dict[str, str], block: int = 1024) -> set[str]:
    """Ids of images that look the same as an image of another entity (by the world's own image-index vectors)."""
    path = store.root / "index" / "image" / "vectors.npy"
    if not path.is_file():
        return set()
    vectors = np.load(path)
    ids = [rec.id for rec in store.images]
    owner = np.array([owners.get(i, f"?{n}") for n, i in enumerate(ids)])
    out: set[str] = set()
    for lo in range(0, len(ids), block):
        sims = vectors[lo : lo + block] @ vectors.T
        for r, row in enumerate(sims):
            close = np.nonzero(row >= DUPLICATE_SIMILARITY)[0]
            if any(owner[c] != owner[lo + r] for c in close):
                out.add(ids[lo + r])
    return out


@dataclass
class Catalog:
    """The world's entities, grouped by split, with the image pools composites draw distractors from."""

    store: WorldStore
    entities: dict[str, Entity]
    countries: dict[str, Entity]
    split: dict[str, Split] = field(default_factory=dict)
    """Entity key → split."""
    pools: dict[tuple[Split, str], list[str]] = field(default_factory=dict)
    """(split, noun) → image ids of that split."""
    image_owner: dict[str, str] = field(default_factory=dict)
    """Image id → key of the entity it shows."""

    @classmethod
    def from_store(cls, store: WorldStore, seed: int = 0) -> Catalog:
        """Join the store's facts and assign splits."""
        entities = build_entities(store.facts)
        countries = name_index(entities, "country")
        cat = cls(store=store, entities=entities, countries=countries)
        pools: dict[tuple[Split, str], list[str]] = defaultdict(list)
        owners = {img.value: key for key, ent in entities.items() for img in ent.images}
        ambiguous = duplicate_images(store, owners)
        for key, ent in sorted(entities.items()):
            cat.split[key] = split_of(group_of(ent, countries), seed)
            for img in ent.images:
                if store.image(img.value) is None or img.value in cat.image_owner or img.value in ambiguous:
                    continue
                cat.image_owner[img.value] = key
                pools[(cat.split[key], noun_of(img.value, ent.kind))].append(img.value)
        cat.pools = dict(pools)
        return cat

    def country_of(self, ent: Entity) -> Entity | None:
        """The country entity an entity's `country` fact names, if the world has it."""
        fact = ent.facts.get("country")
        return self.countries.get(norm_name(fact.value)) if fact is not None else None

    def open_image(self, image_id: str) -> Image.Image:
        """The RGB pixels of a world image (transparency flattened onto white)."""
        rec = self.store.image(image_id)
        if rec is None:
            raise KeyError(image_id)
        with Image.open(self.store.image_path(rec)) as img:
            return flatten(img)


def chains(cat: Catalog, ent: Entity) -> list[tuple[str, ...]]:
    """Every relation path that can be asked from `ent`: identification, one fact, or a fact of its country."""
    out: list[tuple[str, ...]] = [()]
    for rel in RELATIONS.get(ent.kind, ()):
        if rel in ent.facts:
            out.append((rel,))
    country = cat.country_of(ent) if ent.kind != "country" else None
    if country is not None:
        out += [("country", rel) for rel in SECOND_HOP if rel in country.facts]
    return out


def _family(kind: str, noun: str, path: tuple[str, ...]) -> str:
    return ">".join([f"{noun}:{kind}", *path]) if path else f"{noun}:{kind}>identify"


def _category(kind: str, path: tuple[str, ...]) -> str:
    if len(path) <= 1 and kind in T.KIND_CATEGORY:
        return T.KIND_CATEGORY[kind]
    return T.CATEGORY[path[-1]] if path else T.CATEGORY[f"identify:{kind}"]


def enumerate_specs(
    cat: Catalog, split: Split, seed: int = 0, variants: int = 3, named_share: float = 0.15
) -> list[Spec]:
    """The search-required specs of a split: every chain of every image, in `variants` presentations.

    The first variant shows the single image; the others are composites with different distractors and layouts.
    A share of specs name the entity in the question instead (text search only: the paper's text-search turns).
    """
    out = []
    for key, ent in sorted(cat.entities.items()):
        if cat.split.get(key) != split:
            continue
        for img in ent.images:
            if cat.image_owner.get(img.value) != key:
                continue
            noun = noun_of(img.value, ent.kind)
            for path in chains(cat, ent):
                for v in range(variants):
                    s = _seed(seed, img.value, path, v)
                    mode: Mode = "single" if v == 0 else "composite"
                    if path and random.Random(s).random() < named_share:
                        mode = "named"
                    sid = f"{split[:2]}-{hashlib.sha1(f'{img.value}|{path}|{v}'.encode()).hexdigest()[:12]}"
                    out.append(
                        Spec(
                            sid,
                            split,
                            mode,
                            _category(ent.kind, path),
                            _family(ent.kind, noun, path),
                            key,
                            img.value,
                            path,
                            s,
                            noun,
                        )
                    )
    return out


def visual_specs(cat: Catalog, split: Split, n: int, seed: int = 0) -> list[Spec]:
    """`n` search-free specs of a split (counting and colour questions over composites of its images)."""
    nouns = sorted(noun for (sp, noun), ids in cat.pools.items() if sp == split and len(ids) >= 4)
    out = []
    for i in range(n if nouns else 0):
        s = _seed(seed, split, "visual", i)
        rng = random.Random(s)
        mode: Mode = "count" if rng.random() < 0.5 else "colour"
        noun = rng.choice(nouns)
        sid = f"{split[:2]}-v{hashlib.sha1(f'{seed}|{i}'.encode()).hexdigest()[:11]}"
        out.append(Spec(sid, split, mode, "visual", f"visual:{mode}", seed=s, pool=noun))
    return out


@dataclass(frozen=True)
class Rendered:
    """A rendered question with its image."""

    question: Question
    image: Image.Image


def _fit(img: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    scale = max_side / max(img.size)
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)


def _composite(cat: Catalog, spec: Spec, rng: random.Random, target: str | None) -> tuple[Composite, list[str]]:
    pool = [i for i in cat.pools.get((spec.split, spec.pool), []) if i != target]
    owner = cat.image_owner.get(target or "")
    pool = [i for i in pool if cat.image_owner.get(i) != owner] if owner else pool
    n = rng.randint(2, 4)
    ids = ([target] if target else []) + rng.sample(pool, min(len(pool), n - (1 if target else 0)))
    images = [cat.open_image(i) for i in ids]
    comp = random_composite(images, rng, n=len(images))
    return comp, [ids[i] for i in comp.sources]


def _refer(comp: Composite, index: int, noun: str, rng: random.Random, colour_words: bool = True) -> str | None:
    """A referring expression for the object at `index` (colour words left out where the question asks the colour)."""
    box = comp.boxes[index]
    options = [p.expression for p in probes(comp, noun) if p.box == box and (colour_words or "colour" not in p.kind)]
    return rng.choice(sorted(options)) if options else None


def render(cat: Catalog, spec: Spec) -> Rendered:
    """Draw the spec's image and write its question, labels and gold chain.

    Raises:
        ValueError: the spec cannot be shown as asked (no unambiguous referring expression after a few layouts,
            or too few images for a composite); the caller skips it.
    """
    rng = random.Random(spec.seed)
    if not spec.search_required:
        return _render_visual(cat, spec, rng)
    ent = cat.entities[spec.entity]
    base = cat.open_image(spec.image_id)
    ref, box, image_ids = None, None, [spec.image_id]
    image = _fit(base)
    if spec.mode == "composite":
        for _ in range(4):
            comp, image_ids = _composite(cat, spec, rng, spec.image_id)
            if len(image_ids) < 2:
                raise ValueError(f"too few {spec.pool} images in {spec.split} for a composite")
            index = image_ids.index(spec.image_id)
            ref = _refer(comp, index, spec.pool, rng)
            if ref is not None:
                image, box = comp.image, list(comp.boxes[index])
                image_ids = [spec.image_id] + [i for i in image_ids if i != spec.image_id]
                break
        else:
            raise ValueError("no unambiguous reference to the target in 4 layouts")
    text, chain, answer, aliases, numeric, tol = _chain_question(cat, spec, ent, ref, rng)
    search_type: SearchType = "text" if spec.mode == "named" else ("mixed" if spec.path else "image")
    q = Question(
        id=spec.id,
        split=spec.split,
        question=text,
        image=f"images/{spec.id}.{_ext(image_ids, cat)}",
        answer=answer,
        aliases=aliases,
        numeric=numeric,
        tolerance=tol,
        family=spec.family + (":named" if spec.mode == "named" else ""),
        category=spec.category,
        search_type=search_type,
        hops=len(chain),
        chain=chain,
        target=ref,
        box=box,
        answer_entity=group_of(ent, cat.countries),
        image_ids=image_ids,
    )
    return Rendered(q, image)


def _ext(image_ids: list[str], cat: Catalog) -> str:
    photo = any(
        noun_of(i, cat.entities[cat.image_owner[i]].kind) == "photo" for i in image_ids if i in cat.image_owner
    )
    return "jpg" if photo else "png"


def clean_value(value: str, relation: str) -> str:
    """The answer form of a fact value: a numeric value loses its trailing note ("51,486,343 (2025 est.)")."""
    if relation in T.NUMERIC_TOLERANCE:
        return re.sub(r"\s*\([^()]*\)\s*$", "", value).strip() or value
    return value


def _others(names: list[str], value: str) -> list[str]:
    return sorted({n for n in names if n and n != value})


def _chain_question(
    cat: Catalog, spec: Spec, ent: Entity, ref: str | None, rng: random.Random
) -> tuple[str, list[Hop], str, list[str], float | None, float]:
    key = (ent.kind, spec.pool)
    rec = cat.store.image(spec.image_id)
    chain: list[Hop] = []
    if spec.mode != "named":
        query = ref or "<img>"
        page = rec.page_url if rec else ""
        chain.append(Hop("image_search", query, ent.name, "image", ent.name, page, _others(ent.names(), ent.name)))
    if not spec.path:
        singles, composite = T.IDENTIFY[key]
        text = composite.format(ref=ref) if ref else rng.choice(singles)
        return text, chain, ent.name, ent.names()[1:], None, 0.0
    subject = ent
    numeric = None
    for rel in spec.path:
        fact = subject.facts[rel]
        value, aliases = clean_value(fact.value, rel), [*fact.value_aliases, fact.value]
        nxt = cat.country_of(subject) if rel == "country" else None
        if nxt is not None:
            aliases += nxt.names()
        elif rel != spec.path[-1]:
            raise ValueError(f"{subject.name}'s country {fact.value!r} is not in the world")
        query = T.QUERY[rel][0].format(s=subject.name)
        chain.append(Hop("text_search", query, subject.name, rel, value, fact.page_url, _others(aliases, value)))
        numeric = fact.numeric if rel in T.NUMERIC_TOLERANCE else None
        if nxt is not None:
            subject = nxt
    if spec.mode == "named":
        intro, pronoun = NAMED_INTRO[ent.kind]
        if spec.pool == "map":
            intro = "This map shows {name}."
        x = pronoun if len(spec.path) == 1 else f"the country of {pronoun}"
        text = intro.format(name=ent.name) + " " + T.pick(rng, T.RELATION_QUESTION[spec.path[-1]], x=x)
    else:
        singles, composite = T.SUBJECT[key]
        x = composite.format(ref=ref) if ref else rng.choice(singles)
        if len(spec.path) == 2:
            x = f"the country of {x}"
        text = T.pick(rng, T.RELATION_QUESTION[spec.path[-1]], x=x)
    last = chain[-1]
    return text, chain, last.value, last.aliases, numeric, T.NUMERIC_TOLERANCE.get(spec.path[-1], 0.0)


def _render_visual(cat: Catalog, spec: Spec, rng: random.Random) -> Rendered:
    plural = spec.pool if spec.pool != "emoji" else "emoji"
    for _ in range(4):
        comp, image_ids = _composite(cat, spec, rng, None)
        if spec.mode == "count":
            n = len(image_ids)
            text = T.pick(rng, T.VISUAL_COUNT, noun=plural)
            answer, aliases, ref, box = str(n), [T.NUMBER_WORDS[n]], None, None
        else:
            index = rng.randrange(len(image_ids))
            ref = _refer(comp, index, spec.pool, rng, colour_words=False)
            colour = _main_colour(comp, index)
            if ref is None or colour is None:
                continue
            text = T.pick(rng, T.VISUAL_COLOUR, ref=ref)
            answer, aliases, box = colour, [], list(comp.boxes[index])
        q = Question(
            id=spec.id,
            split=spec.split,
            question=text,
            image=f"images/{spec.id}.{_ext(image_ids, cat)}",
            answer=answer,
            aliases=aliases,
            family=spec.family,
            category="visual",
            search_type="none",
            hops=0,
            target=ref,
            box=box,
            answer_entity=f"visual:{spec.id}",
            image_ids=image_ids,
        )
        return Rendered(q, comp.image)
    raise ValueError("no object with one clear main colour in 4 layouts")


def _main_colour(comp: Composite, index: int) -> str | None:
    x0, y0, x1, y1 = comp.boxes[index]
    a = np.asarray(comp.image)[y0:y1, x0:x1].reshape(-1, 3)
    prof = colour_fractions(a)
    ranked = sorted(prof, key=lambda c: -prof[c])
    if not ranked or prof[ranked[0]] < 0.5 or (len(ranked) > 1 and prof[ranked[1]] > 0.5 * prof[ranked[0]]):
        return None
    return ranked[0]
