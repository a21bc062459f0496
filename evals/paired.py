"""Paired comparisons of two models on the same questions: questions won and lost, and the exact McNemar test.

Two accuracies with overlapping Wilson intervals can still differ reliably when both models answered the same
questions: only the questions where exactly one of them is right carry information about which is better. The
report pairs, per workflow and benchmark, each model with the one listed before it (e.g. untrained → SFT → SFT+RL),
so a training stage's effect is read from the questions it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import Any


def mcnemar_exact(won: int, lost: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of `won` vs `lost` discordant pairs at p = 1/2.

    Raises:
        ValueError: a negative count.
    """
    if won < 0 or lost < 0:
        raise ValueError(f"counts must be >= 0, got won={won}, lost={lost}")
    n = won + lost
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(won, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_counts(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Compare two runs' records on the questions (ids) both answered.

    Returns:
        {"n": shared questions, "won": right only after, "lost": right only before, "both", "neither",
        "acc_before", "acc_after": the two accuracies on the shared questions, "p": exact McNemar}.
    """
    a = {r["id"]: bool(r["correct"]) for r in before}
    b = {r["id"]: bool(r["correct"]) for r in after}
    shared = sorted(a.keys() & b.keys())
    won = sum(b[i] and not a[i] for i in shared)
    lost = sum(a[i] and not b[i] for i in shared)
    both = sum(a[i] and b[i] for i in shared)
    n = len(shared)
    return {
        "n": n,
        "won": won,
        "lost": lost,
        "both": both,
        "neither": n - won - lost - both,
        "acc_before": round((both + lost) / n, 4) if n else 0.0,
        "acc_after": round((both + won) / n, 4) if n else 0.0,
        "p": round(mcnemar_exact(won, lost), 4),
    }
