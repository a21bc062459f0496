"""What the benchmark loaders share: reading JSON/JSONL/parquet rows, checking them, building golds, finding images.

A loader parses its benchmark's rows into `Pending` examples (an `EvalExample` whose image is still an `ImageRef`)
and hands them to `finish`, which sorts them by id, applies the limit and only then resolves the images of the
examples kept: the first existing candidate file, or embedded bytes (base64 strings, parquet image structs) written
once to a cache folder. A missing image, a file that is not there and a row that does not match the benchmark's
schema all raise a one-line `ValueError` that says what is wrong and which file layout the loader expects.

Not covered: downloading anything. The benchmarks are not shipped; the loaders read files a user downloaded.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evals.judge import Gold, normalize_answer
from evals.records import EvalExample

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".webp", ".gif", ".bmp")
"""Extensions tried, in order, where a benchmark names an image by id only."""
_LOWER_SUFFIXES = tuple(dict.fromkeys(s.lower() for s in IMAGE_SUFFIXES))
_MAX_MISSING_SHOWN = 3
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_NATURAL_RE = re.compile(r"(\d+)")
_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"))

Model = TypeVar("Model", bound=BaseModel)


def fail(benchmark: str, problem: str, layout: str) -> ValueError:
    """The loaders' one error: `<benchmark>: <what is wrong>; expected <layout>`, on one line."""
    return ValueError(" ".join(f"{benchmark}: {problem}; expected {layout}".split()))


def require_file(path: Path, benchmark: str, layout: str) -> None:
    """Raise `fail` unless `path` is a file."""
    if not path.is_file():
        raise fail(benchmark, f"no file at {path}", layout)


def has_cjk(text: str) -> bool:
    """Whether `text` contains Chinese, Japanese or Korean characters."""
    return _CJK_RE.search(text) is not None


# ---------------------------------------------------------------------------------------------------------------------
# Reading rows


def read_json(path: Path, benchmark: str, layout: str) -> Any:
    """The parsed JSON document at `path`."""
    require_file(path, benchmark, layout)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise fail(benchmark, f"{path} is not valid JSON ({e})", layout) from e


def read_records(path: Path, benchmark: str, layout: str, *, parquet: bool = False) -> list[dict[str, Any]]:
    """The rows of a JSON array, a JSON-lines file or (with `parquet`) a parquet file or folder of parquet shards.

    A folder is read as its `*.parquet` files in name order (a Hugging Face snapshot's `data/test-0000N-of-…`).
    """
    if parquet and (path.suffix == ".parquet" or path.is_dir()):
        return _read_parquet(path, benchmark, layout)
    require_file(path, benchmark, layout)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise fail(benchmark, f"{path} is not a UTF-8 JSON or JSONL file", layout) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise fail(benchmark, f"line {n} of {path} is not JSON ({e})", layout) from e
    rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise fail(benchmark, f"{path} holds no list of JSON objects", layout)
    return rows


def _read_parquet(path: Path, benchmark: str, layout: str) -> list[dict[str, Any]]:
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise fail(benchmark, f"no .parquet files in the folder {path}", layout)
    require_file(files[0], benchmark, layout)
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise fail(
            benchmark, f"reading {path} needs pyarrow (pip install pyarrow), or export it to JSONL", layout
        ) from e
    rows: list[dict[str, Any]] = []
    for file in files:
        rows += pq.read_table(file).to_pylist()
    return rows


def validate(model: type[Model], row: dict[str, Any], where: str, benchmark: str, layout: str) -> Model:
    """`row` parsed as `model`; a mismatch raises `fail` naming the first few bad fields."""
    try:
        return model.model_validate(row)
    except ValidationError as e:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in e.errors()[:_MAX_MISSING_SHOWN]
        )
        raise fail(benchmark, f"{where} does not match the schema ({errors})", layout) from e


def check_unique(ids: Iterable[str], benchmark: str, source: Path, layout: str) -> None:
    """Raise `fail` when an id occurs twice (results are keyed by id, so a duplicate would be lost)."""
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        raise fail(benchmark, f"{len(dupes)} duplicate ids in {source}, e.g. {dupes[0]!r}", layout)


# ---------------------------------------------------------------------------------------------------------------------
# Golds


def answer_texts(answers: Iterable[object]) -> list[str]:
    """Answers as stripped strings, without empty ones and without repeats (compared after `normalize_answer`)."""
    seen: set[str] = set()
    texts = []
    for a in answers:
        text = str(a).strip()
        key = normalize_answer(text)
        if key and key not in seen:
            seen.add(key)
            texts.append(text)
    return texts


def make_gold(answers: Iterable[object], numeric: float | None = None, tolerance: float = 0.0) -> Gold | None:
    """A gold from answers in order of preference (the first is the answer, the rest aliases); None if none is usable.

    A numeric gold without text answers gets its number as the answer.
    """
    texts = answer_texts(answers)
    if not texts and numeric is not None:
        texts = [f"{numeric:g}"]
    if not texts:
        return None
    return Gold(texts[0], tuple(texts[1:]), numeric, tolerance)


def range_gold(answers: Sequence[object], lo: float, hi: float) -> Gold | None:
    """A numeric gold for the range [lo, hi]: the midpoint, with the relative tolerance that reaches both ends.

    A range centred on zero cannot be written as a relative tolerance; its gold keeps only the text answers.
    """
    lo, hi = min(lo, hi), max(lo, hi)
    mid = (lo + hi) / 2
    if mid == 0:
        return make_gold(answers)
    return make_gold(answers, numeric=mid, tolerance=(hi - lo) / 2 / abs(mid))


def vqa_gold(answers: Sequence[str], raw: Sequence[str] | None = None) -> tuple[Gold | None, dict[str, int]]:
    """The gold of a VQA-style question with ten crowd answers, and the vote count of each answer.

    The VQA accuracy of an answer is min(#humans who gave it / 3, 1). The gold is the most common answer (ties go to
    the one given first); its aliases are the other answers given by at least three annotators, i.e. those with full
    VQA credit. `raw`, when given, holds the unprocessed form of each answer (OK-VQA's `raw_answer`; its `answer` is
    stemmed): the gold then reads the most common raw form of each kept answer, with the other forms as aliases.

    The rule judge is therefore stricter than the VQA metric in one way (answers with one or two votes, worth 1/3 or
    2/3 of a point there, count as wrong) and looser in another (its normalisation and containment rule accept
    phrasings that the VQA exact match after its own normalisation does not).
    """
    raw = raw if raw is not None else answers
    votes: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for answer, raw_answer in zip(answers, raw, strict=True):
        key = normalize_answer(answer)
        if key:
            votes[key] += 1
            forms.setdefault(key, Counter())[raw_answer.strip() or answer.strip()] += 1
            forms[key][answer.strip()] += 0  # the processed form is accepted too, after the raw ones
    if not votes:
        return None, {}
    top = max(votes, key=lambda k: votes[k])  # first-seen order breaks ties (Counter keeps insertion order)
    kept = [top] + [k for k in votes if k != top and votes[k] >= 3]
    texts = [form for key in kept for form, _ in forms[key].most_common()]
    counts = {forms[k].most_common(1)[0][0]: n for k, n in votes.items()}
    return make_gold(texts), counts


# ---------------------------------------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class ImageRef:
    """Where an example's image is: candidate files (the first that exists wins) or embedded bytes."""

    paths: tuple[Path, ...] = ()
    data: bytes | None = None
    """Embedded image bytes; written to `cache` as `<id><ext>` when the example is kept."""
    cache: Path | None = None


@dataclass(frozen=True)
class Pending:
    """A parsed example whose image is not resolved yet (its `example.image` is empty)."""

    example: EvalExample
    image: ImageRef


def candidates(root: Path, stem: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> tuple[Path, ...]:
    """`root/<stem><suffix>` for each suffix."""
    return tuple(root / f"{stem}{s}" for s in suffixes)


def embedded_cache(path: Path, image_root: Path | None, benchmark: str) -> Path:
    """Where a benchmark's embedded images are written: `image_root`, else `<data folder>/<benchmark>_images`."""
    return image_root if image_root is not None else (path if path.is_dir() else path.parent) / f"{benchmark}_images"


def image_value(value: object, base: Path, cache: Path) -> ImageRef | None:
    """The image of a JSON or parquet image field, or None when the field is empty.

    Accepted: a path (relative to `base`, or absolute); a base64 string, bare or as a `data:` URL; a Hugging Face
    image struct `{"bytes": …, "path": …}` (bytes raw or base64; without bytes, the path is used).
    """
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        data = value.get("bytes")
        if data:
            return ImageRef(data=data if isinstance(data, bytes) else _b64(str(data)), cache=cache)
        return image_value(value.get("path"), base, cache)
    if isinstance(value, bytes):
        return ImageRef(data=value, cache=cache)
    text = str(value).strip()
    if text.startswith("data:"):
        return ImageRef(data=_b64(text.partition(",")[2]), cache=cache)
    path = ImageRef(paths=(base / text,))
    if len(text) < 1024 and (text.lower().endswith(_LOWER_SUFFIXES) or (base / text).is_file()):
        return path  # base64 has no "." and a short file name is no image
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return path
    return ImageRef(data=data, cache=cache) if _suffix(data) != ".img" else path


def _b64(text: str) -> bytes:
    return base64.b64decode(text.strip())


def _suffix(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((suffix for magic, suffix in _MAGIC if data.startswith(magic)), ".img")


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value ("en2" before "en10")."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _NATURAL_RE.split(text) if part)


def finish(benchmark: str, pending: list[Pending], limit: int | None, layout: str) -> list[EvalExample]:
    """Sort by id, keep the first `limit`, and resolve their images to absolute paths.

    Raises:
        ValueError: an image of a kept example is missing (the first few are named).
    """
    pending = sorted(pending, key=lambda p: _natural_key(p.example.id))[:limit]
    examples, missing = [], []
    for p in pending:
        path = _resolve(p.example.id, p.image)
        if path is None:
            tried = p.image.paths[0] if p.image.paths else "no image given"
            missing.append(f"{p.example.id} ({tried})")
        else:
            examples.append(dataclasses.replace(p.example, image=str(path.resolve())))
    if missing:
        shown = ", ".join(missing[:_MAX_MISSING_SHOWN])
        raise fail(benchmark, f"{len(missing)} of {len(pending)} images are missing, e.g. {shown}", layout)
    log.info("%s: %d examples", benchmark, len(examples))
    return examples


def _resolve(example_id: str, ref: ImageRef) -> Path | None:
    if ref.data is not None and ref.cache is not None:
        path = ref.cache / (re.sub(r"[^\w.-]", "_", example_id) + _suffix(ref.data))
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(ref.data)
        return path
    return next((p for p in ref.paths if p.is_file()), None)
