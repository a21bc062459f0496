"""A reader for Qt resource bundles (`.rcc`), the format GCompris ships its photos and activity files in.

Format (Qt `rcc` versions 1–3): a `qres` magic, then big-endian u32 version, tree offset, data offset and names
offset (and u32 flags from version 3). Tree nodes are 14 bytes (version 1) or 22 bytes (version ≥ 2, with a u64
mtime); a node is a directory (flag 2: child count, first child index) or a file (locale, data offset). Names are
u16 length + u32 hash + UTF-16BE; data is u32 size + bytes, zlib-compressed behind a 4-byte size (flag 1) or zstd
(flag 4). No published Python reader exists, hence this one; zstd entries are skipped (GCompris does not use them).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

_DIR, _ZLIB, _ZSTD = 2, 1, 4


def read_rcc(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield `(path, content)` for every file in a Qt resource bundle.

    Args:
        data: the whole `.rcc` file.

    Returns:
        An iterator of slash-separated paths (without the leading `:/`) and their decompressed bytes.

    Raises:
        ValueError: `data` is not a Qt resource bundle.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle (no 'qres' magic)")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version < 2 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        start = names + offset + 6
        return data[start : start + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> Iterator[tuple[str, bytes]]:
        base = tree + index * node_size
        name_off, flags = struct.unpack(">IH", data[base : base + 6])
        path = f"{prefix}/{name_at(name_off)}" if index else ""
        if flags & _DIR:
            count, first = struct.unpack(">II", data[base + 6 : base + 14])
            for child in range(first, first + count):
                yield from walk(child, path)
            return
        (offset,) = struct.unpack(">I", data[base + 10 : base + 14])
        (size,) = struct.unpack(">I", data[payload + offset : payload + offset + 4])
        blob = data[payload + offset + 4 : payload + offset + 4 + size]
        if flags & _ZSTD:
            return
        if flags & _ZLIB:
            blob = zlib.decompress(blob[4:])
        yield path.lstrip("/"), blob

    yield from walk(0, "")
