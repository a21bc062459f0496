"""InfoSeek (Chen et al., 2023): info-seeking questions about OVEN entity images.

Reads the released annotation JSONL, one question per line:

    {"data_id": "infoseek_val_00000000", "image_id": "oven_04990048", "question": "...",
     "answer": ["1882", ...], "answer_eval": ["1882", ...], "data_split": "val_unseen_question"}

For numerical questions `answer_eval` holds a range, `[{"wikidata": 1.0, "range": [0.9, 1.1]}]` (or the dict
alone). The gold is then numeric: the range's midpoint, with the relative tolerance that reaches both ends, and the
range kept in `meta`. Two side files of the release are merged when they sit next to the JSONL: `<stem>_withkb.jsonl`
(`entity_id`, `entity_text`) and `<stem>_qtype.jsonl` (`question_type`: time / numerical / string). The test split
is released without answers, so only the labelled splits (val, train, human) load.

Images are the OVEN snapshot's `<image_root>/<image_id>.jpg` (other common extensions are tried; `image_root`
defaults to the JSONL's folder). The paper evaluates 2,000 random test questions; sampling is the harness's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evals.loaders.common import (
    ImageRef,
    Pending,
    candidates,
    check_unique,
    fail,
    finish,
    make_gold,
    range_gold,
    read_records,
    validate,
)
from evals.records import EvalExample

NAME = "infoseek"
LAYOUT = (
    "an InfoSeek JSONL such as infoseek_val.jsonl (data_id, image_id, question, answer, answer_eval per line; "
    "optional infoseek_val_withkb.jsonl / infoseek_val_qtype.jsonl beside it) and OVEN images at "
    "<image_root>/<image_id>.jpg"
)


class RangeAnswer(BaseModel):
    """A numerical question's accepted range."""

    range: tuple[float, float]
    wikidata: float | None = None


class Row(BaseModel):
    """One line of the InfoSeek JSONL (extra keys are ignored)."""

    data_id: str
    image_id: str
    question: str
    answer: list[str | int | float]
    answer_eval: list[RangeAnswer | str | int | float] | RangeAnswer = []
    data_split: str = ""
    question_type: str = ""
    entity_id: str = ""
    entity_text: str = ""


def load(path: Path, *, limit: int | None = None, image_root: Path | None = None) -> list[EvalExample]:
    """Load an InfoSeek annotation JSONL (see the module docstring).

    Args:
        path: The JSONL file, e.g. `infoseek_val.jsonl`.
        limit: Keep the first `limit` questions by `data_id`.
        image_root: The OVEN image folder; default the JSONL's folder.

    Returns:
        One example per question, sorted by `data_id`.

    Raises:
        ValueError: a missing file or image, or a line that does not match the schema.
    """
    rows = read_records(path, NAME, LAYOUT)
    if rows and "answer" not in rows[0]:
        raise fail(
            NAME, f"{path} has no answers (the InfoSeek test split is unlabelled; use infoseek_val.jsonl)", LAYOUT
        )
    entities, qtypes = _side_file(path, "withkb"), _side_file(path, "qtype")
    root = image_root if image_root is not None else path.parent
    pending = []
    for n, raw in enumerate(rows, 1):
        where = f"line {n} of {path}"
        merged = {**entities.get(raw.get("data_id"), {}), **qtypes.get(raw.get("data_id"), {}), **raw}
        row = validate(Row, merged, where, NAME, LAYOUT)
        pending.append(Pending(_example(row, where), ImageRef(candidates(root, row.image_id))))
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)


def _side_file(path: Path, kind: str) -> dict[Any, dict[str, Any]]:
    """`<stem>_<kind>.jsonl` next to `path`, by data_id (only the fields the loader uses); {} if absent."""
    side = path.with_name(f"{path.stem}_{kind}.jsonl")
    if not side.is_file():
        return {}
    keep = ("entity_id", "entity_text", "question_type")
    return {r["data_id"]: {k: r[k] for k in keep if k in r} for r in read_records(side, NAME, LAYOUT)}


def _example(row: Row, where: str) -> EvalExample:
    evals = row.answer_eval if isinstance(row.answer_eval, list) else [row.answer_eval]
    ranges = [a for a in evals if isinstance(a, RangeAnswer)]
    texts = [*row.answer, *(a for a in evals if not isinstance(a, RangeAnswer))]
    meta: dict[str, Any] = {
        "image_id": row.image_id,
        "data_split": row.data_split,
        "question_type": row.question_type,
        "entity_id": row.entity_id,
        "entity_text": row.entity_text,
    }
    if ranges:
        lo, hi = ranges[0].range
        gold = range_gold(texts, lo, hi)
        meta |= {"range": [lo, hi], "wikidata": ranges[0].wikidata}
    else:
        gold = make_gold(texts)
    if gold is None:
        raise fail(NAME, f"{where} has no usable answer", LAYOUT)
    return EvalExample(
        id=row.data_id,
        benchmark=NAME,
        question=row.question,
        image="",
        gold=gold,
        category=row.question_type.lower(),
        meta=meta,
    )
