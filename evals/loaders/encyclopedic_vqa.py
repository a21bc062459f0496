"""Encyclopedic-VQA (Mensink et al., 2023): questions about fine-grained species and landmarks, Wikipedia-backed.

Reads the released CSV (`train.csv`, `val.csv`, `test.csv`), one textual question per row with the columns
`question`, `answer`, `dataset_image_ids`, `dataset_name` (`inaturalist` or `landmarks`), `question_type`
(`templated`, `automatic`, `multi_answer`, `2_hop`), `encyclopedic_vqa_split`, `wikipedia_title`, `wikipedia_url`,
`dataset_category_id`, `evidence`, `question_original`, …. Answers given by several annotators are separated by
"|" (each one becomes an accepted answer); the parts of a multi_answer answer are joined by "&&" (the gold then
reads "A, B", with "A and B" as an alias). Each row lists up to five images; the loader takes the first, so one row
is one example, with id `<split>-<row index>` (`test-000042`: the CSV has no id column).

Image layout (the iNaturalist 2021 and Google Landmarks v2 images are downloaded separately):

    <image_root>/inaturalist/<image_id>.jpg
    <image_root>/landmarks/<image_id>.jpg        or the GLDv2 tree <image_root>/landmarks/a/b/c/<abc…>.jpg

`image_root` defaults to the CSV's folder. The paper evaluates 2,000 random test questions; sampling is the
harness's job.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel

from evals.loaders.common import ImageRef, Pending, check_unique, fail, finish, make_gold, require_file, validate
from evals.records import EvalExample

NAME = "encyclopedic_vqa"
LAYOUT = (
    "an Encyclopedic-VQA CSV such as test.csv (columns question, answer, dataset_image_ids, dataset_name, "
    "question_type, encyclopedic_vqa_split, wikipedia_url, …) and images at "
    "<image_root>/<dataset_name>/<image_id>.jpg"
)
REQUIRED = ("question", "answer", "dataset_image_ids", "dataset_name")


class Row(BaseModel):
    """One CSV row (the columns the loader uses; the others go to `meta` as text)."""

    question: str
    answer: str
    dataset_image_ids: str
    dataset_name: str
    question_type: str = ""
    encyclopedic_vqa_split: str = ""
    wikipedia_title: str = ""
    wikipedia_url: str = ""


def load(path: Path, *, limit: int | None = None, image_root: Path | None = None) -> list[EvalExample]:
    """Load an Encyclopedic-VQA CSV (see the module docstring).

    Args:
        path: The CSV file, e.g. `test.csv`.
        limit: Keep the first `limit` rows.
        image_root: The folder holding `inaturalist/` and `landmarks/`; default the CSV's folder.

    Returns:
        One example per row (its first image), in file order.

    Raises:
        ValueError: a missing file, column or image, or a row without an answer or image id.
    """
    require_file(path, NAME, LAYOUT)
    root = image_root if image_root is not None else path.parent
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise fail(NAME, f"{path} lacks the columns {', '.join(missing)}", LAYOUT)
        pending = [_pending(i, raw, root, f"row {i + 2} of {path}") for i, raw in enumerate(reader)]
    check_unique((p.example.id for p in pending), NAME, path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)


def _answers(answer: str) -> list[str]:
    texts = []
    for alternative in answer.split("|"):
        parts = [p.strip() for p in alternative.split("&&")]
        texts += [", ".join(parts), " and ".join(parts)] if len(parts) > 1 else parts
    return texts


def _pending(index: int, raw: dict[str, str], root: Path, where: str) -> Pending:
    row = validate(Row, raw, where, NAME, LAYOUT)
    image_ids = [i.strip() for i in row.dataset_image_ids.split("|") if i.strip()]
    gold = make_gold(_answers(row.answer))
    if gold is None or not image_ids:
        raise fail(NAME, f"{where} has no {'answer' if gold is None else 'image id'}", LAYOUT)
    first = image_ids[0]
    folder = root / row.dataset_name
    paths = (folder / f"{first}.jpg", folder / first[:1] / first[1:2] / first[2:3] / f"{first}.jpg")
    split = row.encyclopedic_vqa_split or "row"
    example = EvalExample(
        id=f"{split}-{index:06d}",
        benchmark=NAME,
        question=row.question,
        image="",
        gold=gold,
        category=row.question_type,
        meta={
            "dataset_name": row.dataset_name,
            "dataset_image_ids": image_ids,
            "wikipedia_title": row.wikipedia_title,
            "wikipedia_url": row.wikipedia_url.split("|") if row.wikipedia_url else [],
            **{k: v for k, v in raw.items() if k in ("dataset_category_id", "question_original", "evidence")},
        },
    )
    return Pending(example, ImageRef(paths))
