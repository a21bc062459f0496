"""SimpleVQA (Cheng et al., 2025): short factual questions about an image, in English and Chinese.

Reads the Hugging Face release `m-a-p/SimpleVQA` as downloaded (its parquet file, or a folder of parquet shards)
or exported to JSON / JSONL, one question per row:

    {"data_id": 0, "image": …, "question": "...", "answer": "...", "language": "EN", "original_category": "...",
     "vqa_category": "...", "source": "...", "atomic_question": "...", "atomic_fact": "..."}

`image` may be a path (relative to `image_root`, default the data file's folder), a base64 string or `data:` URL,
or the parquet image struct `{"bytes", "path"}`; embedded images are written once to `image_root`, default
`<data folder>/simplevqa_images/`. The paper uses all English questions, so only rows with `language` "EN" are kept
unless `all_languages` is set (a row without `language` counts as English when its question has no CJK characters).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evals.loaders.common import (
    Pending,
    check_unique,
    embedded_cache,
    fail,
    finish,
    has_cjk,
    image_value,
    make_gold,
    read_records,
    validate,
)
from evals.records import EvalExample

log = logging.getLogger(__name__)
NAME = "simplevqa"
LAYOUT = (
    "SimpleVQA as parquet (m-a-p/SimpleVQA) or JSON/JSONL rows with data_id, question, answer, image "
    "(path, base64 or {bytes, path}), language, original_category"
)


class Row(BaseModel):
    """One SimpleVQA row (extra keys are ignored)."""

    data_id: int | str
    question: str
    answer: str | int | float | list[str | int | float]
    image: str | dict[str, Any] | None = None
    language: str = ""
    original_category: str = ""
    category: str = ""
    vqa_category: str = ""
    source: str = ""
    atomic_question: str = ""
    atomic_fact: str = ""


def load(
    path: Path, *, limit: int | None = None, image_root: Path | None = None, all_languages: bool = False
) -> list[EvalExample]:
    """Load SimpleVQA (see the module docstring).

    Args:
        path: A parquet file, a folder of parquet shards, or a JSON/JSONL file.
        limit: Keep the first `limit` questions by `data_id`.
        image_root: Where image paths are resolved and embedded images written.
        all_languages: Keep the Chinese questions too.

    Returns:
        One example per question, sorted by `data_id`.

    Raises:
        ValueError: a missing file or image, or a row that does not match the schema.
    """
    rows = read_records(path, NAME, LAYOUT, parquet=True)
    base = image_root if image_root is not None else (path if path.is_dir() else path.parent)
    cache = embedded_cache(path, image_root, NAME)
    pending, skipped = [], 0
    for n, raw in enumerate(rows, 1):
        where = f"record {n} of {path}"
        row = validate(Row, raw, where, NAME, LAYOUT)
        english = row.language.upper() in ("EN", "ENGLISH") if row.language else not has_cjk(row.question)
        if not (english or all_languages):
            skipped += 1
            continue
        gold = make_gold(row.answer if isinstance(row.answer, list) else [row.answer])
        image = image_value(row.image, base, cache)
        if gold is None or image is None:
            raise fail(NAME, f"{where} has no {'answer' if gold is None else 'image'}", LAYOUT)
        example = EvalExample(
            id=str(row.data_id),
            benchmark=NAME,
            question=row.question,
            image="",
            gold=gold,
            category=row.original_category or row.category,
            meta={
                "language": row.language,
                "vqa_category": row.vqa_category,
                "source": row.source,
                "atomic_question": row.atomic_question,
                "atomic_fact": row.atomic_fact,
            },
        )
        pending.append(Pending(example, image))
    if skipped:
        log.info("%s: skipped %d non-English questions (all_languages=False)", NAME, skipped)
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)
