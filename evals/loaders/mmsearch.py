"""MMSearch (Jiang et al., 2024): news and knowledge queries for multimodal search engines, end-to-end subset.

Reads the Hugging Face release `CaraJ/MMSearch`, config `end2end`, as downloaded (parquet file or folder of shards)
or exported to JSON / JSONL, one query per row:

    {"sample_id": "...", "query": "...", "query_image": …, "gt_answer": "...",
     "alternative_gt_answers": ["..."], "area": "news", "subfield": "...", "gt_requery": "...", "timestamp": "..."}

`query_image` may be a path (relative to `image_root`, default the data file's folder), a base64 string, or the
parquet image struct `{"bytes", "path"}`; embedded images are written once to `image_root`, default
`<data folder>/mmsearch_images/`. Text-only queries (no `query_image`) do not fit a visual-question benchmark and are
skipped; their number is logged. The other columns (`image_search_result`, the website screenshots) are not used.
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
    image_value,
    make_gold,
    read_records,
    validate,
)
from evals.records import EvalExample

log = logging.getLogger(__name__)
NAME = "mmsearch"
LAYOUT = (
    "MMSearch end2end as parquet (CaraJ/MMSearch) or JSON/JSONL rows with sample_id, query, gt_answer, "
    "alternative_gt_answers, query_image (path, base64 or {bytes, path}), area, subfield"
)


class Row(BaseModel):
    """One end-to-end query (extra keys are ignored)."""

    sample_id: str | int
    query: str
    gt_answer: str | int | float
    alternative_gt_answers: list[str | int | float] | None = None
    query_image: str | dict[str, Any] | None = None
    area: str = ""
    subfield: str = ""
    gt_requery: str | None = None
    timestamp: str | None = None


def load(path: Path, *, limit: int | None = None, image_root: Path | None = None) -> list[EvalExample]:
    """Load the MMSearch end-to-end queries that have an image (see the module docstring).

    Args:
        path: A parquet file, a folder of parquet shards, or a JSON/JSONL file.
        limit: Keep the first `limit` queries by `sample_id`.
        image_root: Where image paths are resolved and embedded images written.

    Returns:
        One example per image query, sorted by `sample_id`.

    Raises:
        ValueError: a missing file or image, or a row that does not match the schema.
    """
    rows = read_records(path, NAME, LAYOUT, parquet=True)
    base = image_root if image_root is not None else (path if path.is_dir() else path.parent)
    cache = embedded_cache(path, image_root, NAME)
    pending, text_only = [], 0
    for n, raw in enumerate(rows, 1):
        where = f"record {n} of {path}"
        row = validate(Row, raw, where, NAME, LAYOUT)
        image = image_value(row.query_image, base, cache)
        if image is None:
            text_only += 1
            continue
        gold = make_gold([row.gt_answer, *(row.alternative_gt_answers or [])])
        if gold is None:
            raise fail(NAME, f"{where} has no gt_answer", LAYOUT)
        example = EvalExample(
            id=str(row.sample_id),
            benchmark=NAME,
            question=row.query,
            image="",
            gold=gold,
            category=row.area,
            meta={"subfield": row.subfield, "gt_requery": row.gt_requery, "timestamp": row.timestamp},
        )
        pending.append(Pending(example, image))
    log.info("%s: skipped %d text-only queries (no query_image) of %d", NAME, text_only, len(rows))
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)
