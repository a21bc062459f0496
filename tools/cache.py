"""A SQLite record/replay cache in front of any search backend, so runs with paid APIs are reproducible and cheap.

Entries are keyed by the backend's name and the normalised arguments: a text query is Unicode-normalised (NFKC),
case-folded and whitespace-collapsed; an image is its SHA-256 over size and RGB pixels, so the same picture in PNG
or re-saved (lossless) hits the same entry. An entry recorded for `k` hits also serves any smaller `k`.

Modes:
    record: serve hits from the cache; on a miss call the backend and store what it returned (errors are not stored).
    replay: serve hits from the cache only; a miss is a `ToolError` and the backend is never called.
    off: call the backend, touch no file.

One file may be shared by several processes (WAL journal, busy timeout) and by the threads of one process.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from PIL import Image

from tools.base import Hit, ImageSearchBackend, TextSearchBackend, ToolError

Mode = Literal["record", "replay", "off"]
MODES: tuple[Mode, ...] = ("record", "replay", "off")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (
    backend TEXT NOT NULL,
    key TEXT NOT NULL,
    k INTEGER NOT NULL,
    argument TEXT NOT NULL,
    hits TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (backend, key)
)
"""


def normalise_query(query: str) -> str:
    """The cache form of a text query: NFKC, case-folded, inner whitespace collapsed, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def image_key(image: Image.Image) -> str:
    """SHA-256 of an image's size and RGB pixels (the encoding does not matter)."""
    rgb = image.convert("RGB")
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


class SearchCache:
    """The cache file and its mode; wrap backends with `CachedTextSearch` / `CachedImageSearch`.

    Args:
        path: the SQLite file (created with its folder); unused in mode "off".
        mode: "record", "replay" or "off".
    """

    def __init__(self, path: str | Path, mode: Mode = "record") -> None:
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r} is not one of {MODES}")
        self.path = Path(path)
        self.mode = mode
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if mode != "off":
            if mode == "replay" and not self.path.is_file():
                raise ValueError(f"{self.path}: no cache file to replay; record one first (mode='record')")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()

    def __repr__(self) -> str:
        return f"SearchCache({str(self.path)!r}, mode={self.mode!r})"

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def get(self, backend: str, key: str, k: int) -> list[Hit] | None:
        """The cached hits for `(backend, key)` cut to `k`, or None when there is no entry that covers `k`."""
        assert self._db is not None, "the cache is off"
        with self._lock:
            row = self._db.execute("SELECT k, hits FROM hits WHERE backend = ? AND key = ?", (backend, key)).fetchone()
        if row is None:
            return None
        stored_k, payload = row
        hits = [Hit(**h) for h in json.loads(payload)]
        # a stored answer serves a larger k only when the backend had nothing more to give
        if stored_k < k and len(hits) >= stored_k:
            return None
        return hits[:k]

    def put(self, backend: str, key: str, k: int, argument: str, hits: list[Hit]) -> None:
        """Store the hits a backend returned for `(backend, key)` at `k` (replacing an older entry)."""
        assert self._db is not None, "the cache is off"
        payload = json.dumps([h.__dict__ for h in hits], ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO hits VALUES (?, ?, ?, ?, ?, ?)",
                (backend, key, k, argument, payload, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        assert self._db is not None, "the cache is off"
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM hits").fetchone()[0])

    def lookup(self, backend: str, key: str, k: int, argument: str, call: Callable[[], list[Hit]]) -> list[Hit]:
        """Serve `(backend, key)` by the cache mode, calling `call()` on a recordable miss."""
        if self.mode == "off":
            return call()
        hits = self.get(backend, key, k)
        if hits is not None:
            return hits
        if self.mode == "replay":
            raise ToolError(f"the replay cache has no {backend} result for {argument}; record it first")
        hits = call()
        self.put(backend, key, k, argument, hits)
        return hits


class CachedTextSearch:
    """A text-search backend behind a `SearchCache`, keyed by the normalised query."""

    def __init__(self, backend: TextSearchBackend, cache: SearchCache, name: str | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.name = name or type(backend).__name__

    def __repr__(self) -> str:
        return f"CachedTextSearch({self.backend!r}, {self.cache!r})"

    def search(self, query: str, k: int) -> list[Hit]:
        """Hits for `query` from the cache, or from the backend (mode permitting)."""
        norm = normalise_query(query)
        if not norm:
            raise ToolError("the query is empty")
        return self.cache.lookup(self.name, f"q:{norm}", k, repr(norm), lambda: self.backend.search(query, k))


class CachedImageSearch:
    """An image-search backend behind a `SearchCache`, keyed by the image's pixel hash."""

    def __init__(self, backend: ImageSearchBackend, cache: SearchCache, name: str | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.name = name or type(backend).__name__

    def __repr__(self) -> str:
        return f"CachedImageSearch({self.backend!r}, {self.cache!r})"

    def search(self, image: Image.Image, k: int) -> list[Hit]:
        """Hits for `image` from the cache, or from the backend (mode permitting)."""
        digest = image_key(image)
        argument = f"image {image.width}x{image.height} sha256:{digest[:12]}"
        return self.cache.lookup(self.name, f"img:{digest}", k, argument, lambda: self.backend.search(image, k))
