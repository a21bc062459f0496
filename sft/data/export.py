"""Hugging Face `datasets` output of a generated folder: SFT conversations and the RL/evaluation question sets.

    <out>/hf/sft          Dataset: images + messages (TRL conversational format) + every label of the question
    <out>/hf/questions    DatasetDict train (RL prompts) / validation / test: image, question, answer and labels
                          (a split with no questions is left out)

Images are stored as bytes inside the Arrow files, so the saved datasets do not depend on the folder they came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sft.data.pipeline import ATTEMPTS, _read_attempts

USE_SPLITS = {"rl": "train", "validation": "validation", "test": "test"}
"""Question-set split of each use."""


def _label_features() -> dict[str, Any]:
    from datasets import Value

    return {
        "id": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
        "aliases": [Value("string")],
        "numeric": Value("float64"),
        "tolerance": Value("float64"),
        "family": Value("string"),
        "category": Value("string"),
        "search_type": Value("string"),
        "hops": Value("int32"),
        "chain": Value("string"),
        "target": Value("string"),
        "box": [Value("int32")],
        "answer_entity": Value("string"),
    }


def _labels(q: dict) -> dict[str, Any]:
    return {
        "id": q["id"],
        "question": q["question"],
        "answer": q["answer"],
        "aliases": q["aliases"],
        "numeric": q["numeric"],
        "tolerance": q["tolerance"],
        "family": q["family"],
        "category": q["category"],
        "search_type": q["search_type"],
        "hops": q["hops"],
        "chain": json.dumps(q["chain"], ensure_ascii=False),
        "target": q["target"],
        "box": q["box"] or [],
        "answer_entity": q["answer_entity"],
    }


def _image(folder: Path, rel: str) -> dict[str, Any]:
    return {"bytes": (folder / rel).read_bytes(), "path": Path(rel).name}


def sft_rows(folder: Path, records: list[dict]) -> Iterator[dict[str, Any]]:
    """Rows of the SFT dataset: one kept teacher trajectory each."""
    for rec in records:
        q = rec["question"]
        messages = [
            {"role": m["role"], "content": [{"type": p["type"], "text": p.get("text")} for p in m["content"]]}
            for m in rec["messages"]
        ]
        c = rec["counters"]
        yield {
            "images": [_image(folder, q["image"])],
            "messages": messages,
            **_labels(q),
            "turns": c.get("turns", 0),
            "image_searches": c.get("image_searches", 0),
            "text_searches": c.get("text_searches", 0),
            "crops": c.get("crops", 0),
        }


def question_rows(folder: Path, records: list[dict]) -> Iterator[dict[str, Any]]:
    """Rows of a question set: the image and the labels, no trajectory."""
    for rec in records:
        q = rec["question"]
        yield {"image": _image(folder, q["image"]), **_labels(q), "teacher_solved": bool(rec["ok"])}


def _dataset(rows: list[dict[str, Any]], features: Any) -> Any:
    from datasets import Dataset

    if not rows:  # `from_list` cannot infer an empty table's columns
        return Dataset.from_dict({k: [] for k in features}, features=features)
    return Dataset.from_list(rows, features=features)


def export(folder: Path) -> dict[str, Path]:
    """Write `<folder>/hf/sft` and `<folder>/hf/questions`; return their paths.

    Raises:
        ValueError: `folder` has no generated attempts.
    """
    from datasets import DatasetDict, Features, Image, Value

    records = list(_read_attempts(folder / ATTEMPTS).values())
    if not records:
        raise ValueError(f"{folder}: no {ATTEMPTS}; run `deepmmsearch data generate` first")
    by_use: dict[str, list[dict]] = {}
    for rec in records:
        by_use.setdefault(rec.get("use", "none"), []).append(rec)
    for recs in by_use.values():
        recs.sort(key=lambda r: r["id"])
    labels = _label_features()
    message = {"role": Value("string"), "content": [{"type": Value("string"), "text": Value("string")}]}
    sft_features = Features(
        {
            "images": [Image()],
            "messages": [message],
            **labels,
            "turns": Value("int32"),
            "image_searches": Value("int32"),
            "text_searches": Value("int32"),
            "crops": Value("int32"),
        }
    )
    q_features = Features({"image": Image(), **labels, "teacher_solved": Value("bool")})
    out = folder / "hf"
    sft = _dataset(list(sft_rows(folder, by_use.get("sft", []))), sft_features)
    sft.save_to_disk(str(out / "sft"))
    sets = DatasetDict(
        {  # an empty split is left out: `datasets` cannot load a saved split with no rows
            split: _dataset(list(question_rows(folder, by_use[use])), q_features)
            for use, split in USE_SPLITS.items()
            if by_use.get(use)
        }
    )
    sets.save_to_disk(str(out / "questions"))
    return {"sft": out / "sft", "questions": out / "questions"}
