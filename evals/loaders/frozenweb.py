"""DeepMMSearchVQA on the frozen web: the evaluation questions of a `deepmmsearch data generate` folder.

The folder (`sft.data.pipeline`) has an `attempts.jsonl` that records every generated question with what it was
used for; the questions used for "validation" or "test" are the evaluation splits. Each becomes an example with
its image as an absolute path, the gold answer with its aliases and numeric tolerance, the category and search
type, and the whole `Question` in `meta["question"]`: the harness's oracle policy replays its gold chain.
"""

from __future__ import annotations

from pathlib import Path

from evals.judge import Gold
from evals.loaders.common import ImageRef, Pending, fail, finish
from evals.records import EvalExample

NAME = "frozenweb"
LAYOUT = "a DeepMMSearchVQA folder made by `deepmmsearch data generate` (attempts.jsonl and the question images)"
SPLITS = ("validation", "test")


def load(
    path: Path, *, limit: int | None = None, image_root: Path | None = None, split: str = "test"
) -> list[EvalExample]:
    """Load one evaluation split of a generated folder.

    Args:
        path: The folder `deepmmsearch data generate --out` wrote.
        limit: Keep the first `limit` questions by id.
        image_root: Resolve the questions' relative image paths against this folder instead of `path`.
        split: "test" or "validation".

    Returns:
        One example per question of the split, sorted by id.

    Raises:
        ValueError: an unknown split, a folder without attempts.jsonl or without questions of the split, or a
            missing image.
    """
    from sft.data.pipeline import ATTEMPTS, load_questions

    if split not in SPLITS:
        raise ValueError(f"frozenweb: unknown split {split!r}; expected one of {SPLITS}")
    if not (path / ATTEMPTS).is_file():
        raise fail(NAME, f"no {ATTEMPTS} in {path}", LAYOUT)
    questions = load_questions(path, split)
    if not questions:
        raise fail(NAME, f"no {split} questions in {path} (was it generated with eval_n=0?)", LAYOUT)
    root = image_root if image_root is not None else path
    pending = [
        Pending(
            EvalExample(
                id=q.id,
                benchmark=NAME,
                question=q.question,
                image="",
                gold=Gold(q.answer, tuple(q.aliases), q.numeric, q.tolerance),
                category=q.category,
                search_type=q.search_type,
                meta={"question": q.to_dict()},
            ),
            ImageRef((root / q.image,)),
        )
        for q in questions
    ]
    return finish(NAME, pending, limit, LAYOUT)
