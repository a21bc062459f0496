"""Paired comparisons in the report: won/lost counts on shared questions and the exact McNemar p-value."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report import fake_image, fake_record, fake_run, table_rows

from evals.paired import mcnemar_exact, paired_counts
from evals.report import build_report


@pytest.mark.parametrize(
    ("won", "lost", "p"),
    [(6, 1, 0.125), (11, 6, 0.332306), (0, 0, 1.0), (3, 3, 1.0), (5, 0, 0.0625), (0, 5, 0.0625)],
)
def test_mcnemar_exact_matches_the_binomial_test(won: int, lost: int, p: float):
    # (11, 6): 2 * sum_{k<=6} C(17, k) / 2^17 = 2 * 21778 / 131072
    assert mcnemar_exact(won, lost) == pytest.approx(p, abs=1e-5)


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ValueError, match=">= 0"):
        mcnemar_exact(-1, 2)


def test_paired_counts_use_only_the_shared_questions():
    before = [{"id": i, "correct": c} for i, c in [("a", True), ("b", False), ("c", True), ("d", False), ("x", True)]]
    after = [{"id": i, "correct": c} for i, c in [("a", True), ("b", True), ("c", False), ("d", True), ("y", False)]]
    got = paired_counts(before, after)
    assert got == {
        "n": 4,
        "won": 2,
        "lost": 1,
        "both": 1,
        "neither": 0,
        "acc_before": 0.5,
        "acc_after": 0.75,
        "p": 1.0,
    }


def test_report_pairs_each_model_with_the_previous_one_of_its_workflow(tmp_path: Path):
    image = fake_image(tmp_path / "q.png")
    outcomes = {  # model -> which of 8 questions it gets right
        "untrained": [False] * 8,
        "SFT": [True, True, False, False, False, False, False, False],
        "SFT+RL": [True, False, True, True, True, True, True, False],
    }
    runs = [
        fake_run(
            tmp_path / model,
            [fake_record(f"q{i}", "frozenweb", "agent", model, image, correct=c) for i, c in enumerate(right)],
        )
        for model, right in outcomes.items()
    ]
    runs.append(fake_run(tmp_path / "direct", [fake_record("q0", "frozenweb", "direct", "SFT", image)]))
    md = build_report(runs, tmp_path / "report").read_text()
    rows = table_rows(md, "| Workflow | Before | After")
    assert rows == [
        ["Agent", "untrained", "SFT", "FrozenWeb", "8", "0.0", "25.0", "2", "0", "0.500"],
        ["Agent", "SFT", "SFT+RL", "FrozenWeb", "8", "25.0", "75.0", "5", "1", "0.219"],
    ]  # the direct run has no earlier model in its workflow: no pair
