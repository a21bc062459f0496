"""Image loading, validation, data URLs, box clamping, cropping and crop storage."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.base import ImageRef
from tools.images import (
    MAX_PIXELS,
    ImageError,
    clamp_box,
    crop,
    make_ref,
    open_image,
    save_crop,
    to_data_url,
)


def noise(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    """A random RGB image (so PNG cannot compress it away and truncation really cuts pixel data)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


# --- files ----------------------------------------------------------------------------------------------------------


def _missing(d: Path) -> Path:
    return d / "nope.png"


def _directory(d: Path) -> Path:
    (d / "adir.png").mkdir()
    return d / "adir.png"


def _empty(d: Path) -> Path:
    (d / "empty.png").write_bytes(b"")
    return d / "empty.png"


def _text(d: Path) -> Path:
    (d / "notes.png").write_text("this is not an image, just text\n" * 10)
    return d / "notes.png"


def _random_bytes(d: Path) -> Path:
    (d / "rnd.jpg").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return d / "rnd.jpg"


def _truncated_png(d: Path) -> Path:
    data = encoded(noise(200, 150))
    (d / "cut.png").write_bytes(data[: len(data) // 2])
    return d / "cut.png"


def _truncated_jpeg(d: Path) -> Path:
    data = encoded(noise(200, 150), "JPEG")
    (d / "cut.jpg").write_bytes(data[: len(data) // 3])
    return d / "cut.jpg"


def _png_header_only(d: Path) -> Path:
    (d / "hdr.png").write_bytes(encoded(noise())[:33])  # signature + IHDR only: PIL cannot even identify it
    return d / "hdr.png"


def _tiff(d: Path) -> Path:
    noise().save(d / "img.tiff", format="TIFF")
    return d / "img.tiff"


def _tiff_named_png(d: Path) -> Path:
    noise().save(d / "liar.png", format="TIFF")
    return d / "liar.png"


def _one_by_one(d: Path) -> Path:
    Image.new("RGB", (1, 1), "red").save(d / "dot.png")
    return d / "dot.png"


def _one_pixel_wide(d: Path) -> Path:
    Image.new("RGB", (1, 500), "red").save(d / "line.png")
    return d / "line.png"


def _over_own_limit(d: Path) -> Path:
    # 7000x7000 = 49 M pixels: above MAX_PIXELS (40 M) but below PIL's own bomb threshold
    Image.new("1", (7000, 7000)).save(d / "big.png")
    return d / "big.png"


def _pil_bomb_warning(d: Path) -> Path:
    # 10000x10000 = 100 M pixels: PIL warns (DecompressionBombWarning), which must become an ImageError
    Image.new("1", (10000, 10000)).save(d / "warn.png")
    return d / "warn.png"


BAD_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", _missing, "no such file"),
    ("directory", _directory, "no such file"),
    ("empty", _empty, "empty"),
    ("text", _text, "not an image"),
    ("random_bytes", _random_bytes, "not an image"),
    ("truncated_png", _truncated_png, "truncated"),
    ("truncated_jpeg", _truncated_jpeg, "truncated"),
    ("png_header_only", _png_header_only, "not an image"),
    ("tiff", _tiff, "unsupported image format TIFF"),
    ("tiff_named_png", _tiff_named_png, "unsupported image format TIFF"),
    ("1x1", _one_by_one, "too small"),
    ("1x500", _one_pixel_wide, "too small"),
    ("over_max_pixels", _over_own_limit, "larger than"),
    ("pil_bomb_warning", _pil_bomb_warning, "too large"),
]


@pytest.mark.parametrize(("make", "needle"), [(m, n) for _, m, n in BAD_FILES], ids=[i for i, _, _ in BAD_FILES])
def test_open_image_rejects_file(tmp_path: Path, make: Callable[[Path], Path], needle: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as info:
        open_image(str(path))
    message = str(info.value)
    assert needle in message
    assert "\n" not in message  # one line, for the CLI and the model


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20000x20000 1-bit PNG: a few tens of KB on disk, 400 M pixels (1.2 GB as RGB) once decoded."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    return path


def test_decompression_bomb_is_refused_before_decoding(bomb: Path) -> None:
    assert bomb.stat().st_size < 1_000_000
    assert 20000 * 20000 > MAX_PIXELS
    with pytest.raises(ImageError, match="too large"):
        open_image(str(bomb))


def test_decompression_bomb_as_data_url(bomb: Path) -> None:
    url = "data:image/png;base64," + base64.b64encode(bomb.read_bytes()).decode()
    with pytest.raises(ImageError, match="too large"):
        open_image(url)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_open_image_supported_formats(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"img.{fmt.lower()}"
    Image.new("RGB", (30, 20), (200, 10, 10)).save(path, format=fmt)
    img = open_image(str(path))
    assert img.mode == "RGB"
    assert img.size == (30, 20)


def test_open_image_camera_jpeg_with_preview(tmp_path: Path) -> None:
    # cameras and phones write a JPEG with extra frames (multi-picture format); Pillow reports it as MPO
    path = tmp_path / "camera.jpg"
    main, preview = Image.new("RGB", (40, 30), (250, 0, 0)), Image.new("RGB", (20, 15), (0, 0, 250))
    main.save(path, format="MPO", save_all=True, append_images=[preview])
    assert Image.open(path).format == "MPO"
    for uri in (str(path), "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()):
        img = open_image(uri)
        assert (img.mode, img.size) == ("RGB", (40, 30))  # the main picture, not the preview
        r, g, b = img.getpixel((20, 15))
        assert r > 200 and b < 50


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA"])
def test_open_image_converts_to_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "m.png"
    Image.new(mode, (5, 4)).save(path)
    img = open_image(str(path))
    assert (img.mode, img.size) == ("RGB", (5, 4))


def test_open_image_smallest_accepted(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "2x2.png")
    assert open_image(str(tmp_path / "2x2.png")).size == (2, 2)


# --- data URLs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP"])
def test_data_url_round_trip_lossless(fmt: str) -> None:
    img = noise(17, 9)
    url = to_data_url(img, fmt)
    assert url.startswith(f"data:image/{fmt.lower()};base64,")
    back = open_image(url)
    if fmt == "WEBP":  # Pillow's default WebP is lossy; just check geometry
        assert back.size == img.size
    else:
        assert np.array_equal(np.asarray(back), np.asarray(img))


def test_data_url_jpeg_round_trip_size() -> None:
    img = Image.new("RGB", (40, 30), (10, 200, 30))
    back = open_image(to_data_url(img, "JPEG"))
    assert back.size == (40, 30)
    assert np.abs(np.asarray(back, dtype=int) - np.asarray(img, dtype=int)).max() < 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD_URLS = [
    ("invalid_base64", "data:image/png;base64,!!!not*base64!!!", "invalid base64"),
    ("bad_padding", "data:image/png;base64,abc", "invalid base64"),
    ("not_base64_encoded", "data:image/png,%89PNG%0D%0A", "only base64"),
    ("text_data_url", "data:text/plain,hello", "only base64"),
    ("no_comma", "data:image/png;base64", "not an image"),
    ("empty_payload", "data:image/png;base64,", "not an image"),
    ("base64_of_text", "data:image/png;base64," + _b64(b"hello world, not an image"), "not an image"),
    ("base64_of_tiff", "data:image/tiff;base64," + _b64(encoded(noise(), "TIFF")), "unsupported"),
    ("base64_truncated_png", "data:image/png;base64," + _b64(encoded(noise(200, 150))[:2000]), "truncated"),
    ("base64_1x1", "data:image/png;base64," + _b64(encoded(Image.new("RGB", (1, 1)))), "too small"),
]


@pytest.mark.parametrize(("url", "needle"), [(u, n) for _, u, n in BAD_URLS], ids=[i for i, _, _ in BAD_URLS])
def test_open_image_rejects_data_url(url: str, needle: str) -> None:
    with pytest.raises(ImageError, match=needle):
        open_image(url)


# --- boxes and crops ------------------------------------------------------------------------------------------------

# (box, image width, height, expected clamped box or None when it must raise)
CLAMP = [
    ("inside", (10, 20, 30, 40), 100, 80, (10, 20, 30, 40)),
    ("whole_image", (0, 0, 100, 80), 100, 80, (0, 0, 100, 80)),
    ("min_side", (0, 0, 2, 2), 100, 80, (0, 0, 2, 2)),
    ("left_overflow", (-10, 5, 30, 40), 100, 80, (0, 5, 30, 40)),
    ("right_bottom_overflow", (50, 60, 500, 900), 100, 80, (50, 60, 100, 80)),
    ("all_sides_overflow", (-5, -5, 105, 85), 100, 80, (0, 0, 100, 80)),
    ("right_of_image", (100, 0, 150, 50), 100, 80, None),
    ("below_image", (0, 80, 50, 120), 100, 80, None),
    ("above_left", (-50, -50, -10, -10), 100, 80, None),
    ("one_pixel_inside", (99, 0, 150, 50), 100, 80, None),
    ("inverted_x", (30, 0, 10, 40), 100, 80, None),
    ("inverted_y", (0, 40, 10, 20), 100, 80, None),
    ("zero_width", (10, 0, 10, 40), 100, 80, None),
    ("one_pixel_box", (10, 10, 11, 11), 100, 80, None),
]


@pytest.mark.parametrize(("box", "w", "h", "expected"), [c[1:] for c in CLAMP], ids=[c[0] for c in CLAMP])
def test_clamp_box(box, w: int, h: int, expected) -> None:
    if expected is None:
        with pytest.raises(ImageError):
            clamp_box(box, w, h)
    else:
        assert clamp_box(box, w, h) == expected


@pytest.mark.parametrize(("box", "w", "h", "expected"), [c[1:] for c in CLAMP], ids=[c[0] for c in CLAMP])
def test_crop(box, w: int, h: int, expected) -> None:
    img = noise(w, h, seed=3)
    if expected is None:
        with pytest.raises(ImageError):
            crop(img, box)
        return
    piece, clamped = crop(img, box)
    assert clamped == expected
    x0, y0, x1, y1 = expected
    assert piece.size == (x1 - x0, y1 - y0)
    assert np.array_equal(np.asarray(piece), np.asarray(img)[y0:y1, x0:x1])


def test_inverted_box_message() -> None:
    with pytest.raises(ImageError, match="inverted"):
        clamp_box((30, 0, 10, 40), 100, 80)
    with pytest.raises(ImageError, match="outside"):
        clamp_box((200, 200, 300, 300), 100, 80)


@pytest.fixture
def parent() -> ImageRef:
    return make_ref("/images/question.png", noise(100, 80))


def test_make_ref(parent: ImageRef) -> None:
    assert parent == {
        "id": "original",
        "uri": "/images/question.png",
        "width": 100,
        "height": 80,
        "parent": None,
        "box": None,
    }


def test_save_crop_inline(parent: ImageRef) -> None:
    piece, box = crop(noise(100, 80, seed=5), (10, 20, 40, 60))
    ref = save_crop(piece, parent, box, 3, crop_dir=None)
    assert ref["id"] == "crop-3"
    assert ref["uri"].startswith("data:image/png;base64,")
    assert (ref["width"], ref["height"]) == (30, 40)
    assert ref["parent"] == "original"
    assert ref["box"] == [10, 20, 40, 60]
    assert np.array_equal(np.asarray(open_image(ref["uri"])), np.asarray(piece))


def test_save_crop_to_dir(parent: ImageRef, tmp_path: Path) -> None:
    crop_dir = tmp_path / "nested" / "crops"  # created on demand
    piece, box = crop(noise(100, 80, seed=6), (-5, 0, 50, 500))
    assert box == (0, 0, 50, 80)
    refs = [save_crop(piece, parent, box, i, crop_dir=str(crop_dir)) for i in (1, 1, 2)]
    for ref in refs:
        path = Path(ref["uri"])
        assert path.parent == crop_dir
        assert path.is_file()
        assert path.name.startswith(f"{ref['id']}-") and path.suffix == ".png"
        assert ref["parent"] == "original"
        assert ref["box"] == [0, 0, 50, 80]
        assert (ref["width"], ref["height"]) == (50, 80)
        assert np.array_equal(np.asarray(open_image(ref["uri"])), np.asarray(piece))
    assert len({r["uri"] for r in refs}) == 3  # saving the same index twice never overwrites
    assert [r["id"] for r in refs] == ["crop-1", "crop-1", "crop-2"]
