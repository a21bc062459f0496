"""LiveVQA (Fu et al., 2025): questions about recent news photos, arXiv figures and video keyframes.

Reads a release file `liveVQA_benchmarks/{News,Paper,Video}/benchmark.json`, a JSON list of

    {"id": "0_2025…", "img_path": "cnn_….jpg", "source": "CNN World", "time": "2024-10-02T…",
     "level1_qa": {"question": "...", "question_type": "event", "options": ["A. …", …], "Ground_Truth": "B",
                   "Ground_Truth_List": ["…", "…"], "img_url": "…"},
     "level2_qa": {… the same keys …}}

Each item gives up to two open-ended questions: level 1 (identify what the image shows) and level 2 (a multi-hop
fact from the source article); `levels` picks which, and their ids are `<id>:L1` and `<id>:L2`. The gold is
`Ground_Truth_List` (the text of the `Ground_Truth` option when the list is empty); the options stay in `meta`, and
`question_type` (person, event, location, …) is the category. A simpler variant is read too: a JSON list or JSONL
of `{"id", "question", "answer" (string or list), "image", "topic" or "category"}`.

Images are `<image_root>/<img_path>`; `image_root` defaults to the JSON's folder (for `News/benchmark.json` pass
`News/News_imgs`).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from evals.loaders.common import ImageRef, Pending, check_unique, fail, finish, make_gold, read_records, validate
from evals.records import EvalExample

NAME = "livevqa"
LAYOUT = (
    "a LiveVQA benchmark.json (a list of {id, img_path, level1_qa, level2_qa} with question, question_type, "
    "options, Ground_Truth, Ground_Truth_List) or rows with id, question, answer, image; images at "
    "<image_root>/<img_path>"
)
_OPTION_RE = re.compile(r"^\s*([A-Z])[.)]\s*(.*)$", re.DOTALL)


class QA(BaseModel):
    """One level's question."""

    question: str
    question_type: str = ""
    options: list[str] = []
    Ground_Truth: str = ""
    Ground_Truth_List: list[str | int | float] = []
    img_path: str = ""
    img_url: str = ""


class Item(BaseModel):
    """One item of the release's benchmark.json."""

    id: str | int
    img_path: str
    level1_qa: QA | None = None
    level2_qa: QA | None = None
    source: str = ""
    time: str = ""


class FlatRow(BaseModel):
    """One row of the simple variant."""

    id: str | int
    question: str
    answer: str | int | float | list[str | int | float]
    image: str
    topic: str = ""
    category: str = ""


def load(
    path: Path, *, limit: int | None = None, image_root: Path | None = None, levels: tuple[int, ...] = (1, 2)
) -> list[EvalExample]:
    """Load LiveVQA (see the module docstring).

    Args:
        path: A benchmark.json (or a JSON/JSONL file of the simple variant).
        limit: Keep the first `limit` questions by id.
        image_root: The image folder; default the file's folder.
        levels: Which question levels of the release format to keep.

    Returns:
        One example per question, sorted by id.

    Raises:
        ValueError: a missing file or image, or a row that matches neither schema.
    """
    if not set(levels) <= {1, 2} or not levels:
        raise ValueError(f"livevqa: levels must be a non-empty subset of (1, 2), got {levels}")
    rows = read_records(path, NAME, LAYOUT)
    root = image_root if image_root is not None else path.parent
    pending = []
    for n, raw in enumerate(rows, 1):
        where = f"record {n} of {path}"
        if "level1_qa" in raw or "level2_qa" in raw:
            pending += _release_item(validate(Item, raw, where, NAME, LAYOUT), levels, root, where)
        else:
            pending.append(_flat_row(validate(FlatRow, raw, where, NAME, LAYOUT), root, where))
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)


def _option_text(options: list[str], letter: str) -> str | None:
    for option in options:
        m = _OPTION_RE.match(option)
        if m and m.group(1) == letter.strip().upper():
            return m.group(2).strip()
    return None


def _release_item(item: Item, levels: tuple[int, ...], root: Path, where: str) -> list[Pending]:
    pending = []
    for level in levels:
        qa = item.level1_qa if level == 1 else item.level2_qa
        if qa is None:
            continue
        answers = qa.Ground_Truth_List or [_option_text(qa.options, qa.Ground_Truth) or ""]
        gold = make_gold(answers)
        if gold is None:
            raise fail(NAME, f"{where} level {level} has no Ground_Truth_List or Ground_Truth option", LAYOUT)
        example = EvalExample(
            id=f"{item.id}:L{level}",
            benchmark=NAME,
            question=qa.question,
            image="",
            gold=gold,
            category=qa.question_type,
            meta={
                "level": level,
                "options": qa.options,
                "ground_truth_option": qa.Ground_Truth,
                "source": item.source,
                "time": item.time,
                "img_url": qa.img_url,
            },
        )
        pending.append(Pending(example, ImageRef((root / (qa.img_path or item.img_path),))))
    return pending


def _flat_row(row: FlatRow, root: Path, where: str) -> Pending:
    gold = make_gold(row.answer if isinstance(row.answer, list) else [row.answer])
    if gold is None:
        raise fail(NAME, f"{where} has no answer", LAYOUT)
    example = EvalExample(
        id=str(row.id), benchmark=NAME, question=row.question, image="", gold=gold, category=row.topic or row.category
    )
    return Pending(example, ImageRef((root / row.image,)))
