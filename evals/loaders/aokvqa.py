"""A-OKVQA (Schwenk et al., 2022): commonsense and world-knowledge questions about COCO 2017 images.

Reads a release file `aokvqa_v1p0_{train,val}.json`, a JSON list of

    {"split": "val", "image_id": 299207, "question_id": "22MexNkBPpdZGX6sxbxVBH", "question": "...",
     "choices": [4 options], "correct_choice_idx": 1, "direct_answers": [10 answers],
     "difficult_direct_answer": false, "rationales": ["...", ×3]}

The test split is released without answers, so it does not load. The gold comes from the ten direct answers by
the VQA rule, as for OK-VQA (`common.vqa_gold`); the correct multiple-choice option is kept in `meta`, not accepted
as an answer. Images are COCO 2017 (`<image_root>/<image_id:012d>.jpg`, or `<image_root>/<split>2017/…` as the
official `get_coco_path` lays them out); `image_root` defaults to the JSON's folder.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from evals.loaders.common import ImageRef, Pending, check_unique, fail, finish, read_records, validate, vqa_gold
from evals.records import EvalExample

NAME = "aokvqa"
LAYOUT = (
    "an A-OKVQA JSON list such as aokvqa_v1p0_val.json (question_id, image_id, question, choices, "
    "correct_choice_idx, direct_answers) and COCO 2017 images at <image_root>/<image_id:012d>.jpg"
)


class Row(BaseModel):
    """One A-OKVQA question (extra keys are ignored)."""

    question_id: str
    image_id: int
    question: str
    direct_answers: list[str]
    choices: list[str] = []
    correct_choice_idx: int | None = None
    difficult_direct_answer: bool = False
    rationales: list[str] = []
    split: str = ""


def load(path: Path, *, limit: int | None = None, image_root: Path | None = None) -> list[EvalExample]:
    """Load A-OKVQA (see the module docstring).

    Args:
        path: The JSON file, e.g. `aokvqa_v1p0_val.json`.
        limit: Keep the first `limit` questions by `question_id`.
        image_root: The COCO 2017 image folder; default the JSON's folder.

    Returns:
        One example per question, sorted by `question_id`.

    Raises:
        ValueError: a missing file or image, an unlabelled (test) file, or a schema mismatch.
    """
    rows = read_records(path, NAME, LAYOUT)
    if rows and "direct_answers" not in rows[0]:
        raise fail(NAME, f"{path} has no direct_answers (the A-OKVQA test split is unlabelled; use val)", LAYOUT)
    root = image_root if image_root is not None else path.parent
    pending = []
    for n, raw in enumerate(rows, 1):
        where = f"record {n} of {path}"
        row = validate(Row, raw, where, NAME, LAYOUT)
        gold, counts = vqa_gold(row.direct_answers)
        if gold is None:
            raise fail(NAME, f"{where} has no non-empty direct answer", LAYOUT)
        idx = row.correct_choice_idx
        correct = row.choices[idx] if idx is not None and 0 <= idx < len(row.choices) else None
        example = EvalExample(
            id=row.question_id,
            benchmark=NAME,
            question=row.question,
            image="",
            gold=gold,
            meta={
                "image_id": row.image_id,
                "split": row.split,
                "choices": row.choices,
                "correct_choice": correct,
                "difficult_direct_answer": row.difficult_direct_answer,
                "answer_counts": counts,
                "rationales": row.rationales,
            },
        )
        name = f"{row.image_id:012d}.jpg"
        split = row.split or path.stem.rpartition("_")[2]
        pending.append(Pending(example, ImageRef((root / name, root / f"{split}2017" / name))))
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)
