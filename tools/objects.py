"""Find the objects on a composite image and describe them (box, area, dominant colour names); no model needed.

A composite is several images pasted on a canvas whose background is plain or textured (noise, linear gradients,
checks, stripes). The background is modelled by the colours seen along the image border: a pixel whose colour is
rare there is foreground. Foreground cells are grouped into connected components, whose boxes are refined at pixel
level and merged when they overlap.

Assumptions (what this does *not* cover): every background colour appears somewhere along the border (so a radial
gradient whose centre colour never reaches the edge is not supported), objects stand out from the background along
their outline (a white-field flag on a white canvas shows only its emblem), and objects do not touch each other (a
gap of a few pixels separates them). Photographs of scenes are not composites; use a model grounder for those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from tools.base import Box

COLOUR_NAMES = (
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "grey",
)
"""Colour names an object can be described by, in a fixed order (the columns of `Obj.colours`)."""

CELL = 4
"""Side in pixels of the cells that components are built from (speckle smaller than half a cell is ignored)."""


@dataclass(frozen=True)
class Obj:
    """One object found on a composite."""

    box: Box
    """Pixel box `(x0, y0, x1, y1)` on the composite, x1/y1 exclusive."""
    colours: dict[str, float]
    """Fraction of the object's foreground pixels named by each colour of `COLOUR_NAMES` (sums to 1); empty when
    `find_objects` was asked not to name colours."""

    @property
    def area(self) -> int:
        """Box area in pixels."""
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)

    @property
    def centre(self) -> tuple[float, float]:
        """Box centre `(x, y)`."""
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2


def colour_name_indices(rgb: np.ndarray) -> np.ndarray:
    """Name each pixel of an `(..., 3)` uint8 RGB array by its index into `COLOUR_NAMES`.

    Hue decides chromatic pixels; low saturation gives white/grey/black and low value gives black. Dark oranges are
    brown.
    """
    c = rgb.astype(np.float32) / 255.0
    v = c.max(axis=-1)
    mn = c.min(axis=-1)
    chroma = v - mn
    s = np.where(v > 0, chroma / np.maximum(v, 1e-6), 0.0)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    safe = np.maximum(chroma, 1e-6)
    h = np.where(
        v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )  # hue in sextants
    h = h * 60.0
    idx = np.select(
        [h < 15, h < 40, h < 70, h < 170, h < 200, h < 260, h < 290, h < 335],
        [0, 1, 2, 3, 4, 5, 6, 7],
        default=0,
    )
    idx = np.where((idx == 1) & (v < 0.6), 8, idx)  # dark orange reads as brown
    achromatic = (s < 0.22) | (chroma < 0.12)
    grey = np.where(v > 0.82, 10, np.where(v < 0.22, 9, 11))
    idx = np.where(achromatic, grey, idx)
    return np.where(v < 0.18, 9, idx)


def colour_fractions(rgb: np.ndarray) -> dict[str, float]:
    """Fraction of the `(n, 3)` uint8 pixels named by each colour of `COLOUR_NAMES`."""
    if len(rgb) == 0:
        return {name: 0.0 for name in COLOUR_NAMES}
    counts = np.bincount(colour_name_indices(rgb).ravel(), minlength=len(COLOUR_NAMES))
    return {name: float(n) / len(rgb) for name, n in zip(COLOUR_NAMES, counts, strict=True)}


def foreground_mask(a: np.ndarray, border: int = 3, min_share: float = 0.002) -> np.ndarray:
    """Pixels of the `(h, w, 3)` uint8 image whose colour is rare along its border (True = foreground).

    Colours are quantised to 16 levels per channel; a colour counts as background when it or a neighbouring bin
    holds at least `min_share` of the border pixels.
    """
    q = (a >> 4).astype(np.int32)
    bins = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    strip = np.concatenate(
        [bins[:border].ravel(), bins[-border:].ravel(), bins[:, :border].ravel(), bins[:, -border:].ravel()]
    )
    hist = np.bincount(strip, minlength=4096).reshape(16, 16, 16) >= max(1, int(min_share * len(strip)))
    # allow one quantisation step of drift in every channel (noise, JPEG, anti-aliasing)
    padded = np.pad(hist, 1)
    near = np.zeros_like(hist)
    for dr in range(3):
        for dg in range(3):
            for db in range(3):
                near |= padded[dr : dr + 16, dg : dg + 16, db : db + 16]
    return ~near.ravel()[bins]


def _components(cells: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cell boxes `(x0, y0, x1, y1)` of the 8-connected components of a boolean grid (run-based union-find)."""
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs: list[tuple[int, int, int]] = []  # (row, start, end) with end exclusive
    prev: list[int] = []
    for y in range(cells.shape[0]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], cells[y].astype(np.int8), [0]])))
        current = []
        for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            i = len(runs)
            runs.append((y, s, e))
            parent.append(i)
            for j in prev:
                _, ps, pe = runs[j]
                if ps <= e and s <= pe:  # overlapping or diagonal neighbours
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[ri] = rj
            current.append(i)
        prev = current
    boxes: dict[int, list[int]] = {}
    for i, (y, s, e) in enumerate(runs):
        b = boxes.setdefault(find(i), [s, y, e, y + 1])
        b[0], b[1], b[2], b[3] = min(b[0], s), min(b[1], y), max(b[2], e), max(b[3], y + 1)
    return [(b[0], b[1], b[2], b[3]) for b in boxes.values()]


def _refine(mask: np.ndarray, box: Box, min_fill: float = 0.1) -> Box | None:
    """Tighten a coarse box to the rows/columns whose foreground fill reaches `min_fill`."""
    x0, y0, x1, y1 = box
    region = mask[y0:y1, x0:x1]
    cols = np.flatnonzero(region.mean(axis=0) >= min_fill)
    rows = np.flatnonzero(region.mean(axis=1) >= min_fill)
    if len(cols) == 0 or len(rows) == 0:
        return None
    return (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _merge_overlapping(boxes: list[Box]) -> list[Box]:
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _overlap(merged[i], merged[j]):
                    a, b = merged[i], merged.pop(j)
                    merged[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    changed = True
                    break
            if changed:
                break
    return merged


def find_objects(
    image: Image.Image, min_side: int = 8, min_area_share: float = 0.001, colours: bool = True
) -> list[Obj]:
    """Find the objects on a composite, in reading order (rows top to bottom, then left to right).

    Args:
        image: the composite.
        min_side: smallest object side in pixels; smaller blobs are noise.
        min_area_share: smallest object area as a share of the image area.
        colours: whether to name the objects' colours (half the cost); when False `Obj.colours` is empty.

    Returns:
        The objects with their boxes and colour profiles; empty when the image is all background.
    """
    a = np.asarray(image.convert("RGB"))
    h, w = a.shape[:2]
    mask = foreground_mask(a)
    gh, gw = h // CELL, w // CELL
    if gh == 0 or gw == 0:
        return []
    fill = mask[: gh * CELL, : gw * CELL].reshape(gh, CELL, gw, CELL).mean(axis=(1, 3))
    boxes: list[Box] = []
    for cx0, cy0, cx1, cy1 in _components(fill >= 0.5):
        coarse = (
            max(0, (cx0 - 1) * CELL),
            max(0, (cy0 - 1) * CELL),
            min(w, (cx1 + 1) * CELL),
            min(h, (cy1 + 1) * CELL),
        )
        box = _refine(mask, coarse)
        if box is not None:
            boxes.append(box)
    objects = []
    for box in _merge_overlapping(boxes):
        x0, y0, x1, y1 = box
        if min(x1 - x0, y1 - y0) < min_side or (x1 - x0) * (y1 - y0) < min_area_share * w * h:
            continue
        profile = colour_fractions(a[y0:y1, x0:x1][mask[y0:y1, x0:x1]]) if colours else {}
        objects.append(Obj(box=box, colours=profile))
    return reading_order(objects)


def reading_order(objects: list[Obj]) -> list[Obj]:
    """Sort objects into rows, then left to right within each row.

    Rows are built top-down: an object joins the current row when its vertical extent meets the band that every
    object of the row covers; otherwise it starts a new row.
    """
    rows: list[list[Obj]] = []
    band = (0, 0)
    for obj in sorted(objects, key=lambda o: o.centre[1]):
        y0, y1 = obj.box[1], obj.box[3]
        if rows and y0 < band[1] and band[0] < y1:
            rows[-1].append(obj)
            band = (max(band[0], y0), min(band[1], y1))
        else:
            rows.append([obj])
            band = (y0, y1)
    return [obj for row in rows for obj in sorted(row, key=lambda o: o.centre[0])]
