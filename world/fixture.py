"""A tiny fixture world built in milliseconds: eight country pages with their flags, drawn with PIL.

The flags are drawn from their real geometry and colours, and the page facts are real (capital, population
rounded, continent), so questions over this world read like the real thing. It serves tests, the demo and the
graph benchmark; the full frozen web is built from registry data by `world.build` (a later issue).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

FLAG_SIZE = (96, 64)


@dataclass(frozen=True)
class Page:
    """A page of the fixture web."""

    id: str
    url: str
    title: str
    text: str


@dataclass(frozen=True)
class WorldImage:
    """An image of the fixture web with the page it appears on."""

    id: str
    title: str
    description: str
    page_url: str
    image: Image.Image


COUNTRIES: list[tuple[str, str, str, str, tuple]] = [
    ("France", "Paris", "68 million", "Europe", ("v", ["#0055A4", "#FFFFFF", "#EF4135"])),
    ("Italy", "Rome", "59 million", "Europe", ("v", ["#009246", "#FFFFFF", "#CE2B37"])),
    ("Ireland", "Dublin", "5.3 million", "Europe", ("v", ["#169B62", "#FFFFFF", "#FF883E"])),
    ("Germany", "Berlin", "84 million", "Europe", ("h", ["#000000", "#DD0000", "#FFCE00"])),
    ("Netherlands", "Amsterdam", "18 million", "Europe", ("h", ["#AE1C28", "#FFFFFF", "#21468B"])),
    ("Ukraine", "Kyiv", "37 million", "Europe", ("h", ["#0057B7", "#FFD700"])),
    ("Japan", "Tokyo", "124 million", "Asia", ("disc", "#FFFFFF", "#BC002D")),
    ("Sweden", "Stockholm", "10.6 million", "Europe", ("cross", "#006AA7", "#FECC02")),
]
"""(name, capital, population, continent, flag spec): the pages are written from these, and so are their facts.

Flag spec: ("v"|"h", colours) stripes, or ("disc", bg, fg), or ("cross", bg, fg) for a Nordic cross."""
_STRIPES = {"v": "vertical", "h": "horizontal"}


def draw_flag(spec: tuple, size: tuple[int, int] = FLAG_SIZE) -> Image.Image:
    """Draw a flag from its spec."""
    w, h = size
    kind = spec[0]
    if kind in ("v", "h"):
        colours = spec[1]
        img = Image.new("RGB", size)
        d = ImageDraw.Draw(img)
        n = len(colours)
        for i, c in enumerate(colours):
            if kind == "v":
                d.rectangle([i * w // n, 0, (i + 1) * w // n, h], fill=c)
            else:
                d.rectangle([0, i * h // n, w, (i + 1) * h // n], fill=c)
        return img
    img = Image.new("RGB", size, spec[1])
    d = ImageDraw.Draw(img)
    if kind == "disc":
        r = h * 3 // 10
        d.ellipse([w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r], fill=spec[2])
    else:  # Nordic cross, off-centre towards the hoist
        t = h // 5
        d.rectangle([w * 5 // 16, 0, w * 5 // 16 + t, h], fill=spec[2])
        d.rectangle([0, h // 2 - t // 2, w, h // 2 + t // 2], fill=spec[2])
    return img


def _flag_description(name: str, spec: tuple) -> str:
    if spec[0] in ("v", "h"):
        return f"The flag of {name} is a {_STRIPES[spec[0]]} {'tricolour' if len(spec[1]) == 3 else 'bicolour'}."
    if spec[0] == "disc":
        return f"The flag of {name} is white with a red disc in the centre."
    return f"The flag of {name} is blue with a yellow Nordic cross."


@dataclass(frozen=True)
class FixtureWorld:
    """The fixture web: pages and images, indexable by the fixture backends."""

    pages: tuple[Page, ...]
    images: tuple[WorldImage, ...]

    def flag(self, country: str) -> Image.Image:
        """The drawn flag of `country`."""
        return next(i.image for i in self.images if i.title == f"Flag of {country}").copy()


def build_fixture_world() -> FixtureWorld:
    """Build the fixture world in memory (deterministic)."""
    pages, images = [], []
    for name, capital, population, continent, spec in COUNTRIES:
        slug = name.lower()
        url = f"https://fixture.web/wiki/{name}"
        desc = _flag_description(name, spec)
        pages.append(
            Page(
                id=f"page-{slug}",
                url=url,
                title=name,
                text=(
                    f"{name} is a country in {continent}. The capital of {name} is {capital}. "
                    f"{name} has a population of about {population}. {desc}"
                ),
            )
        )
        pages.append(
            Page(
                id=f"page-{capital.lower()}",
                url=f"https://fixture.web/wiki/{capital}",
                title=capital,
                text=f"{capital} is the capital and largest city of {name}. {capital} is a major cultural centre.",
            )
        )
        images.append(
            WorldImage(
                id=f"img-flag-{slug}", title=f"Flag of {name}", description=desc, page_url=url, image=draw_flag(spec)
            )
        )
    return FixtureWorld(pages=tuple(pages), images=tuple(images))


def compose(images: list[Image.Image], background: str = "#D9D9D9", gap: int = 24) -> Image.Image:
    """Place images left to right on a plain background, as the composites that make cropping necessary."""
    w = sum(i.width for i in images) + gap * (len(images) + 1)
    h = max(i.height for i in images) + 2 * gap
    canvas = Image.new("RGB", (w, h), background)
    x = gap
    for img in images:
        canvas.paste(img, (x, (h - img.height) // 2))
        x += img.width + gap
    return canvas


def write_demo_image(world: FixtureWorld, path: Path, countries: list[str]) -> Path:
    """Write a composite of the named countries' flags to `path` (PNG) and return it."""
    compose([world.flag(c) for c in countries]).save(path)
    return path
