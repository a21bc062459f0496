"""Loading, validating, cropping and referencing images.

Every image that enters the agent passes `open_image`, which rejects what PIL would choke on or what would exhaust
memory: missing files, bytes that are not an image, truncated files, unsupported formats and decompression bombs.
Errors are `ImageError` with a one-line message meant for people (CLI) and for the model (observations).
"""

from __future__ import annotations

import base64
import io
import os
import uuid
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tools.base import Box, ImageRef

SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})
_FORMAT_ALIASES: dict[str | None, str | None] = {"MPO": "JPEG"}
"""Pillow reports a camera JPEG that carries extra frames (a preview, the multi-picture format) as MPO."""
MAX_PIXELS = 40_000_000
"""Largest image accepted (about 6300×6300); larger ones are refused before decoding."""
MIN_SIDE = 2
"""Smallest side accepted; a 1-pixel image carries nothing to search for."""


class ImageError(ValueError):
    """An image that cannot be used: says why in one line."""


def _decode(data: bytes, name: str) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            if _FORMAT_ALIASES.get(img.format, img.format) not in SUPPORTED_FORMATS:
                raise ImageError(
                    f"{name}: unsupported image format {img.format} (use one of {sorted(SUPPORTED_FORMATS)})"
                )
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{name}: image is {w}x{h}, larger than the {MAX_PIXELS:,}-pixel limit")
            if min(w, h) < MIN_SIDE:
                raise ImageError(f"{name}: image is {w}x{h}, too small to search")
            img.load()
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image file") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image is too large (decompression bomb guard)") from None
        except (OSError, SyntaxError) as exc:  # PIL reports truncated/corrupt data as OSError or SyntaxError
            raise ImageError(f"{name}: corrupt or truncated image ({exc})") from None
    return img.convert("RGB")


def open_image(uri: str) -> Image.Image:
    """Open and validate an image from a file path or a `data:` URL; return it as RGB.

    Raises:
        ImageError: the file is missing, not an image, corrupt, unsupported or too large.
    """
    if uri.startswith("data:"):
        header, _, payload = uri.partition(",")
        if ";base64" not in header:
            raise ImageError("data URL: only base64 image data URLs are supported")
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            raise ImageError("data URL: invalid base64 payload") from None
        return _decode(data, "data URL")
    path = Path(uri)
    if not path.is_file():
        raise ImageError(f"{uri}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{uri}: file is empty")
    return _decode(path.read_bytes(), uri)


def to_data_url(image: Image.Image, fmt: str = "PNG") -> str:
    """Encode an image as a base64 data URL (used for inline crops and HTTP payloads)."""
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def make_ref(uri: str, image: Image.Image, ref_id: str = "original") -> ImageRef:
    """Build the `ImageRef` of a validated question image."""
    return ImageRef(id=ref_id, uri=uri, width=image.width, height=image.height, parent=None, box=None)


def clamp_box(box: Box, width: int, height: int) -> Box:
    """Clamp a pixel box to the image bounds.

    Raises:
        ImageError: the box is inverted, or empty once clamped (it lies outside the image).
    """
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise ImageError(f"box {list(box)} is empty or inverted (need x0 < x1 and y0 < y1)")
    cx0, cy0 = max(0, min(x0, width)), max(0, min(y0, height))
    cx1, cy1 = max(0, min(x1, width)), max(0, min(y1, height))
    if cx1 - cx0 < MIN_SIDE or cy1 - cy0 < MIN_SIDE:
        raise ImageError(f"box {list(box)} lies outside the {width}x{height} image")
    return (cx0, cy0, cx1, cy1)


def crop(image: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    """Cut `box` out of `image` after clamping; return the crop and the clamped box."""
    clamped = clamp_box(box, image.width, image.height)
    return image.crop(clamped), clamped


def save_crop(image: Image.Image, parent: ImageRef, box: Box, index: int, crop_dir: str | None) -> ImageRef:
    """Store a crop (as a file in `crop_dir`, or inline as a data URL) and return its reference."""
    ref_id = f"crop-{index}"
    if crop_dir is None:
        uri = to_data_url(image)
    else:
        os.makedirs(crop_dir, exist_ok=True)
        uri = str(Path(crop_dir) / f"{ref_id}-{uuid.uuid4().hex[:8]}.png")
        image.save(uri)
    return ImageRef(id=ref_id, uri=uri, width=image.width, height=image.height, parent=parent["id"], box=list(box))
