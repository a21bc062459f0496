"""Dyn-VQA (Li et al., 2024, OmniSearch): questions whose answers change over time and need search.

Reads the release `dataset/DynVQA_en.jsonl` (or `DynVQA_zh.jsonl`, or a dated `DynVQA_en.<yyyymm>.jsonl`), one
question per line:

    {"image_url": "https://…/image_1.jpeg", "question": "...", "question_id": "en1",
     "answer": ["<Chinese answer>", "<English answer>", 0, …], "gloden_query": "..."}

(`gloden_query` is the release's spelling; `golden_query` is read too). The images are only published as URLs, so
the user downloads them: the loader looks for `<image_root>/<basename of image_url>` (`image_1.jpeg`), with
`image_root` defaulting to the JSONL's folder. A simpler variant is read too: a JSON list or JSONL of
`{"id", "question", "answer" (list or string), "image" (path relative to image_root)}`.

Every answer is accepted. The gold's main answer is the first one written in the question's script (English answers
for English questions), the others are aliases.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from pydantic import BaseModel

from evals.loaders.common import (
    ImageRef,
    Pending,
    check_unique,
    fail,
    finish,
    has_cjk,
    make_gold,
    read_records,
    validate,
)
from evals.records import EvalExample

NAME = "dynvqa"
LAYOUT = (
    "a Dyn-VQA JSONL such as DynVQA_en.jsonl (question_id, question, answer, image_url per line) with the images "
    "downloaded to <image_root>/<basename of image_url>, or JSON rows with id, question, answer, image"
)


class Row(BaseModel):
    """One Dyn-VQA row, in the release's or the simple variant's keys (extra keys are ignored)."""

    question: str
    answer: list[str | int | float] | str | int | float
    question_id: str | int | None = None
    id: str | int | None = None
    image_url: str = ""
    image: str = ""
    gloden_query: str = ""
    golden_query: str = ""


def load(path: Path, *, limit: int | None = None, image_root: Path | None = None) -> list[EvalExample]:
    """Load Dyn-VQA (see the module docstring).

    Args:
        path: The JSONL (or JSON) file.
        limit: Keep the first `limit` questions by id ("en1", "en2", … in numeric order).
        image_root: The folder of downloaded images; default the file's folder.

    Returns:
        One example per question, sorted by id.

    Raises:
        ValueError: a missing file or image, or a row without id, answer or image.
    """
    rows = read_records(path, NAME, LAYOUT)
    root = image_root if image_root is not None else path.parent
    pending = []
    for n, raw in enumerate(rows, 1):
        where = f"record {n} of {path}"
        row = validate(Row, raw, where, NAME, LAYOUT)
        rid = row.question_id if row.question_id is not None else row.id
        answers = [str(a) for a in (row.answer if isinstance(row.answer, list) else [row.answer])]
        zh = has_cjk(row.question)
        gold = make_gold([a for a in answers if has_cjk(a) == zh] + [a for a in answers if has_cjk(a) != zh])
        image = row.image or PurePosixPath(urlparse(row.image_url).path).name
        if rid is None or gold is None or not image:
            problem = (
                "no question_id or id" if rid is None else "no answer" if gold is None else "no image or image_url"
            )
            raise fail(NAME, f"{where} has {problem}", LAYOUT)
        example = EvalExample(
            id=str(rid),
            benchmark=NAME,
            question=row.question,
            image="",
            gold=gold,
            meta={
                "language": "zh" if zh else "en",
                "golden_query": row.golden_query or row.gloden_query,
                "image_url": row.image_url,
            },
        )
        pending.append(Pending(example, ImageRef((root / image,))))
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)
