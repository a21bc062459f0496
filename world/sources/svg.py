"""SVG rasterisation with resvg (`resvg-py`, a maintained Rust renderer with no system libraries).

Every rendered image is flattened onto a background colour (white by default), because the image index, the
composites and the agent all work on RGB pixels and a transparent logo pasted as RGB would turn black.
"""

from __future__ import annotations

import io
import re

from PIL import Image

DEFAULT_SIDE = 256
_VIEWBOX = re.compile(r'viewBox\s*=\s*["\']\s*[-\d.eE]+[\s,]+[-\d.eE]+[\s,]+([\d.eE]+)[\s,]+([\d.eE]+)')

_SVG_TAG = re.compile(r"<svg\b[^>]*>")
_SIZE_ATTR = re.compile(r"""\s(?:width|height)\s*=\s*["'][^"']*["']""")


def _intrinsic_size(svg: str) -> tuple[float, float] | None:
    m = _VIEWBOX.search(svg)
    if m is None:
        return None
    w, h = float(m.group(1)), float(m.group(2))
    return (w, h) if w > 0 and h > 0 else None


def render_svg(svg: str, long_side: int = DEFAULT_SIDE, background: str = "#ffffff") -> bytes:
    """Render SVG markup to PNG bytes whose longer side is `long_side` pixels, on an opaque background.

    Args:
        svg: the SVG document.
        long_side: size of the longer side of the output, in pixels.
        background: CSS colour the image is flattened onto.

    Returns:
        PNG bytes of an RGB image.

    Raises:
        ValueError: the SVG cannot be parsed or rendered.
    """
    import resvg_py  # imported here: only world builds need the renderer

    size = _intrinsic_size(svg)
    if size is not None:  # the viewBox fixes the size; drop width/height, which may use units resvg rejects (mm)
        svg = _SVG_TAG.sub(lambda m: _SIZE_ATTR.sub("", m.group(0)), svg, count=1)
    if size is None:  # no viewBox: render once at the intrinsic size to learn it
        size = Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=svg, skip_system_fonts=True)))).size
    w, h = size
    scale = long_side / max(w, h)
    png = resvg_py.svg_to_bytes(
        svg_string=svg,
        width=max(1, round(w * scale)),
        height=max(1, round(h * scale)),
        background=background,
        skip_system_fonts=True,
    )
    img = Image.open(io.BytesIO(bytes(png))).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
