"""Random composites with ground-truth boxes and referring expressions, to measure and test grounders.

A composite places 2–4 source images (resized at random) on a canvas in a row, a column, a 2×2 grid or a scatter,
over a plain, noisy, gradient, checked or striped background whose colours keep clear of the images' outlines.
`probes` then writes the referring expressions whose answer the layout makes unambiguous (the leftmost of a row,
the top-right cell of a grid, the only black image, the clearly largest one …), each with its true box.

Colour words are defined by `tools.objects.colour_fractions` of the source image (the same colour naming the
offline grounder uses): a colour probe is written only when one image shows the colour and the others lack it.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tools.base import Box
from tools.objects import colour_fractions

LAYOUTS = ("row", "column", "grid", "scatter")
BACKGROUNDS = ("plain", "noise", "gradient", "checks", "stripes")


@dataclass(frozen=True)
class Composite:
    """A generated composite and where its images went."""

    image: Image.Image
    boxes: tuple[Box, ...]
    """True box of each placed image, in placement order."""
    sources: tuple[int, ...]
    """Index of each placed image in the source list."""
    layout: str
    background: str
    cells: tuple[tuple[int, int], ...] = ()
    """(row, column) of each placed image in a grid layout."""


@dataclass(frozen=True)
class Probe:
    """A referring expression with the box it refers to."""

    expression: str
    box: Box
    kind: str
    """"position", "ordinal", "colour", "size" or "colour+position"."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two pixel boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _outline_colours(images: list[Image.Image]) -> np.ndarray:
    rings = []
    for img in images:
        a = np.asarray(img.convert("RGB"), dtype=np.float32)
        rings += [a[:2].reshape(-1, 3), a[-2:].reshape(-1, 3), a[:, :2].reshape(-1, 3), a[:, -2:].reshape(-1, 3)]
    return np.unique(np.concatenate(rings).astype(np.uint8), axis=0).astype(np.float32)


def _distance(avoid: np.ndarray, colours: np.ndarray) -> float:
    """Smallest RGB distance between any of `colours` `(m, 3)` and any of `avoid` `(n, 3)`."""
    return float(np.sqrt(((avoid[:, None, :] - colours[None, :, :]) ** 2).sum(axis=2)).min())


def _far_colours(rng: random.Random, avoid: np.ndarray, margin: float, pair: bool) -> tuple[np.ndarray, np.ndarray]:
    """One random colour (or a pair with every blend between them) at least `margin` from every `avoid` colour.

    Blends matter because gradients, anti-aliased pattern edges and JPEG artefacts show them on the canvas.
    """
    best, best_d = (np.zeros(3, np.float32),) * 2, -1.0
    steps = np.linspace(0.0, 1.0, 9, dtype=np.float32)[:, None]
    for _ in range(400):
        a = np.array([rng.randrange(256) for _ in range(3)], np.float32)
        b = np.array([rng.randrange(256) for _ in range(3)], np.float32) if pair else a
        d = _distance(avoid, a + (b - a) * steps)
        if d >= margin:
            return a, b
        if d > best_d:
            best, best_d = (a, b), d
    return best


def background(
    size: tuple[int, int], kind: str, rng: random.Random, avoid: np.ndarray, contrast: float = 100.0
) -> Image.Image:
    """A `kind` background of `size` whose colours stay at least `contrast` (RGB distance) from the `avoid` colours."""
    w, h = size
    a, b = _far_colours(rng, avoid, contrast, pair=kind not in ("plain", "noise"))
    if kind == "plain":
        return Image.new("RGB", size, tuple(int(v) for v in a))
    if kind == "noise":
        sigma = rng.uniform(4, 14)
        arr = a + np.random.default_rng(rng.randrange(2**32)).normal(0, sigma, (h, w, 3))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if kind == "gradient":
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * np.cos(angle) + yy * np.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        arr = a + (b - a) * t[..., None]
    else:
        cell = rng.randrange(6, 20)
        yy, xx = np.mgrid[0:h, 0:w]
        pattern = ((xx // cell + yy // cell) % 2) if kind == "checks" else (((xx + yy) // cell) % 2)
        arr = np.where(pattern[..., None] == 1, a, b)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _resize(img: Image.Image, rng: random.Random, min_side: int = 40, max_side: int = 200) -> Image.Image:
    long_side = rng.randint(min_side, max_side)
    scale = long_side / max(img.size)
    return img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))), Image.Resampling.LANCZOS)


def _place(
    sizes: list[tuple[int, int]], layout: str, rng: random.Random
) -> tuple[tuple[int, int], list[tuple[int, int]], list[tuple[int, int]], str]:
    """Canvas size, top-left corner of each image, grid cells and the layout used (a crowded scatter becomes a row).

    In a row (column) every image crosses the canvas's horizontal (vertical) midline, so the row reads as one row.
    """
    margin = rng.randint(10, 40)
    if layout in ("row", "column"):
        along = 0 if layout == "row" else 1
        across_extent = max(s[1 - along] for s in sizes) + rng.randint(0, 40)
        mid = across_extent // 2
        pos, cursor = [], margin
        for s in sizes:
            span = s[1 - along]
            lo, hi = max(0, mid - span + span // 4), min(across_extent - span, mid - span // 4)
            offset = rng.randint(lo, max(lo, hi))
            pos.append((cursor, margin + offset) if along == 0 else (margin + offset, cursor))
            cursor += s[along] + rng.randint(12, 48)
        extent = cursor + margin
        canvas = (extent, across_extent + 2 * margin) if along == 0 else (across_extent + 2 * margin, extent)
        return canvas, pos, [], layout
    if layout == "grid":
        cells = rng.sample([(0, 0), (0, 1), (1, 0), (1, 1)], len(sizes))
        cw, ch = max(s[0] for s in sizes) + 24, max(s[1] for s in sizes) + 24
        pos = [
            (margin + c * cw + rng.randint(0, cw - 16 - s[0]), margin + r * ch + rng.randint(0, ch - 16 - s[1]))
            for (r, c), s in zip(cells, sizes, strict=True)
        ]
        return (2 * margin + 2 * cw, 2 * margin + 2 * ch), pos, cells, layout
    side = int(np.sqrt(sum((s[0] + 30) * (s[1] + 30) for s in sizes) * 2.5)) + 2 * margin
    w, h = side + rng.randint(0, side // 2), side
    placed: list[Box] = []
    for s in sizes:
        for _ in range(500):
            x, y = (
                rng.randint(margin, max(margin, w - margin - s[0])),
                rng.randint(margin, max(margin, h - margin - s[1])),
            )
            box = (x - 12, y - 12, x + s[0] + 12, y + s[1] + 12)
            if all(iou(box, p) == 0 for p in placed):
                placed.append(box)
                break
        else:
            return _place(sizes, "row", rng)
    return (w, h), [(b[0] + 12, b[1] + 12) for b in placed], [], layout


def random_composite(
    images: list[Image.Image],
    rng: random.Random,
    n: int | None = None,
    layout: str | None = None,
    bg: str | None = None,
    contrast: float = 100.0,
) -> Composite:
    """Paste 2–4 (or `n`) distinct images from `images`, resized at random, on a random background.

    Args:
        images: source images (at least `n`).
        rng: the random source; the same seed gives the same composite.
        n: how many images; random in 2–4 when None.
        layout: one of `LAYOUTS`; random when None.
        bg: one of `BACKGROUNDS`; random when None.
        contrast: smallest RGB distance between background colours and the images' outline colours (the grounder
            needs objects to stand out; lower it to measure how gracefully it degrades).
    """
    n = n or rng.randint(2, min(4, len(images)))
    layout = layout or rng.choice(LAYOUTS)
    bg = bg or rng.choice(BACKGROUNDS)
    if layout == "grid" and n < 3:
        layout = "row"
    sources = rng.sample(range(len(images)), n)
    pieces = [_resize(images[i].convert("RGB"), rng) for i in sources]
    canvas_size, corners, cells, layout = _place([p.size for p in pieces], layout, rng)
    canvas = background(canvas_size, bg, rng, _outline_colours(pieces), contrast)
    boxes = []
    for piece, (x, y) in zip(pieces, corners, strict=True):
        canvas.paste(piece, (x, y))
        boxes.append((x, y, x + piece.width, y + piece.height))
    return Composite(canvas, tuple(boxes), tuple(sources), layout, bg, tuple(cells))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """Re-encode as JPEG at `quality` (the compression artefacts a real upload has)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


_ORD = ["first", "second", "third", "fourth"]


def probes(comp: Composite, kind: str = "image") -> list[Probe]:
    """The referring expressions the composite's layout makes unambiguous, each with its true box.

    Args:
        comp: the composite.
        kind: the object noun used in expressions ("flag", "logo", "image").
    """
    boxes = list(comp.boxes)
    out: list[Probe] = []
    cx = [(b[0] + b[2]) / 2 for b in boxes]
    cy = [(b[1] + b[3]) / 2 for b in boxes]
    n = len(boxes)
    if comp.layout in ("row", "column"):
        key = cx if comp.layout == "row" else cy
        order = sorted(range(n), key=lambda i: key[i])
        lo, hi = ("left", "right") if comp.layout == "row" else ("top", "bottom")
        out += [
            Probe(
                f"the {kind} on the {lo}" if lo == "left" else f"the {kind} at the top", boxes[order[0]], "position"
            ),
            Probe(f"the {hi}most {kind}", boxes[order[-1]], "position"),
            Probe(f"the first {kind}", boxes[order[0]], "ordinal"),
            Probe(f"the last {kind}", boxes[order[-1]], "ordinal"),
        ]
        if n >= 3:
            out += [
                Probe(f"the second {kind} from the {lo}", boxes[order[1]], "ordinal"),
                Probe(f"the second {kind} from the {hi}", boxes[order[-2]], "ordinal"),
            ]
        if n == 3:
            out.append(Probe(f"the {kind} in the middle", boxes[order[1]], "position"))
    elif comp.layout == "grid":
        names = {(0, 0): "top-left", (0, 1): "top-right", (1, 0): "bottom-left", (1, 1): "bottom-right"}
        for cell, box in zip(comp.cells, boxes, strict=True):
            out.append(Probe(f"the {kind} in the {names[cell]} corner", box, "position"))
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    by_area = sorted(range(n), key=lambda i: areas[i])
    if areas[by_area[-1]] >= 1.6 * areas[by_area[-2]]:
        out.append(Probe(f"the largest {kind}", boxes[by_area[-1]], "size"))
    if areas[by_area[0]] * 1.6 <= areas[by_area[1]]:
        out.append(Probe(f"the small {kind}" if n == 2 else f"the smallest {kind}", boxes[by_area[0]], "size"))
    out += _colour_probes(comp, kind)
    return out


def _colour_probes(comp: Composite, kind: str) -> list[Probe]:
    a = np.asarray(comp.image)
    profiles = [colour_fractions(a[b[1] : b[3], b[0] : b[2]].reshape(-1, 3)) for b in comp.boxes]
    out = []
    for i, prof in enumerate(profiles):
        colour = max(prof, key=lambda c: prof[c])
        if prof[colour] >= 0.2 and all(p[colour] < 0.05 for j, p in enumerate(profiles) if j != i):
            out.append(Probe(f"the {colour} {kind}", comp.boxes[i], "colour"))
    if comp.layout == "row":
        for colour in ("red", "blue", "green", "yellow", "white"):
            having = [i for i, p in enumerate(profiles) if p[colour] >= 0.15]
            lacking = [i for i, p in enumerate(profiles) if p[colour] < 0.05]
            strengths = [profiles[i][colour] for i in having]
            if (
                len(having) >= 2
                and len(having) + len(lacking) == len(profiles)
                and min(strengths) > 0.6 * max(strengths)
            ):
                left = min(having, key=lambda i: comp.boxes[i][0])
                out.append(Probe(f"the {colour} {kind} on the left", comp.boxes[left], "colour+position"))
    return out
