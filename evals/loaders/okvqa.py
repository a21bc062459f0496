"""OK-VQA (Marino et al., 2019): outside-knowledge questions about COCO images, in the VQA v2 file format.

Reads the question file and the annotation file of one split:

    OpenEnded_mscoco_val2014_questions.json
        {"data_subtype": "val2014", "questions": [{"image_id", "question", "question_id"}, …]}
    mscoco_val2014_annotations.json
        {"annotations": [{"question_id", "question_type", "answer_type",
                          "answers": [{"answer", "raw_answer", "answer_id", …} ×10]}, …]}

`path` is the question file (the annotation file is found beside it by name, or passed as `annotations`) or a
folder holding one of each. Images are COCO 2014: `<image_root>/COCO_val2014_<image_id:012d>.jpg` or
`<image_root>/val2014/COCO_val2014_…` (the subtype comes from the question file); `image_root` defaults to the
question file's folder.

The gold follows the VQA accuracy rule min(#humans/3, 1) (`common.vqa_gold`): the most common answer, with the other
answers given by at least three annotators as aliases, and every answer's vote count in `meta`. OK-VQA's `answer`
is stemmed ("race" for "racing"): votes are counted on it, as the official evaluation does, and the gold reads the
`raw_answer` form, with the stemmed form accepted too.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from evals.loaders.common import ImageRef, Pending, check_unique, fail, finish, read_json, validate, vqa_gold
from evals.records import EvalExample

NAME = "okvqa"
LAYOUT = (
    "OK-VQA in the VQA v2 format: OpenEnded_mscoco_val2014_questions.json with mscoco_val2014_annotations.json "
    "beside it, and COCO images at <image_root>/COCO_val2014_<image_id:012d>.jpg"
)


class Question(BaseModel):
    """One entry of the question file's `questions`."""

    image_id: int
    question: str
    question_id: int


class Answer(BaseModel):
    """One crowd answer."""

    answer: str
    raw_answer: str = ""


class Annotation(BaseModel):
    """One entry of the annotation file's `annotations`."""

    question_id: int
    answers: list[Answer]
    question_type: str = ""
    answer_type: str = ""


def find_files(path: Path, annotations: Path | None, benchmark: str, layout: str) -> tuple[Path, Path]:
    """(question file, annotation file) for `path`: a question file, or a folder with one of each."""
    if path.is_dir():
        questions = sorted(path.glob("*questions*.json"))
        if len(questions) != 1:
            raise fail(benchmark, f"{path} holds {len(questions)} *questions*.json files, not one", layout)
        path = questions[0]
    if annotations is None:
        name = path.name.replace("OpenEnded_", "").replace("MultipleChoice_", "").replace("questions", "annotations")
        annotations = path.with_name(name)
    if not annotations.is_file():
        raise fail(benchmark, f"no annotation file {annotations.name} next to {path.name}", layout)
    return path, annotations


def load(
    path: Path, *, limit: int | None = None, image_root: Path | None = None, annotations: Path | None = None
) -> list[EvalExample]:
    """Load OK-VQA (see the module docstring).

    Args:
        path: The question file, or a folder with the question and annotation files.
        limit: Keep the first `limit` questions by `question_id`.
        image_root: The COCO image folder; default the question file's folder.
        annotations: The annotation file, when it is not beside the question file under its usual name.

    Returns:
        One example per question, sorted by `question_id`.

    Raises:
        ValueError: a missing file or image, a question without annotation, or a schema mismatch.
    """
    questions_path, annotations_path = find_files(path, annotations, NAME, LAYOUT)
    qdoc, adoc = read_json(questions_path, NAME, LAYOUT), read_json(annotations_path, NAME, LAYOUT)
    if not (isinstance(qdoc, dict) and "questions" in qdoc and isinstance(adoc, dict) and "annotations" in adoc):
        raise fail(
            NAME,
            f"{questions_path.name} needs a 'questions' list and {annotations_path.name} an 'annotations' list",
            LAYOUT,
        )
    subtype = str(qdoc.get("data_subtype") or "val2014")
    by_id = {}
    for n, raw in enumerate(adoc["annotations"], 1):
        ann = validate(Annotation, raw, f"annotation {n} of {annotations_path}", NAME, LAYOUT)
        by_id[ann.question_id] = ann
    root = image_root if image_root is not None else questions_path.parent
    pending = []
    for n, raw in enumerate(qdoc["questions"], 1):
        where = f"question {n} of {questions_path}"
        q = validate(Question, raw, where, NAME, LAYOUT)
        if q.question_id not in by_id:
            raise fail(NAME, f"{where} (question_id {q.question_id}) has no annotation in {annotations_path}", LAYOUT)
        ann = by_id[q.question_id]
        gold, counts = vqa_gold([a.answer for a in ann.answers], [a.raw_answer for a in ann.answers])
        if gold is None:
            raise fail(NAME, f"{where} has no non-empty answer", LAYOUT)
        name = f"COCO_{subtype}_{q.image_id:012d}.jpg"
        example = EvalExample(
            id=str(q.question_id),
            benchmark=NAME,
            question=q.question,
            image="",
            gold=gold,
            category=ann.question_type,
            meta={"image_id": q.image_id, "answer_type": ann.answer_type, "answer_counts": counts},
        )
        pending.append(Pending(example, ImageRef((root / name, root / subtype / name))))
    check_unique((p.example.id for p in pending), NAME, questions_path, LAYOUT)
    return finish(NAME, pending, limit, LAYOUT)
