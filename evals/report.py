"""The report over evaluation runs: Table 1 of the paper, tool use, judge agreement, plots and the trajectory viewer.

    deepmmsearch report runs/eval/direct-7b runs/eval/agent-7b-infoseek … --out runs/report

Each run folder is one (workflow, model, benchmark), as `evals.run` writes it. The report writes

    <out>/report.md         accuracy table (rows: workflow × model, columns: benchmarks and their mean), the same
                            cells with 95% Wilson intervals, paired comparisons (`evals.paired`), tool use per row and
                            per cell, judge agreement, rewards
    <out>/report.json       the numbers behind it (`report_stats`)
    <out>/plots/*.png       accuracy per row grouped by benchmark; tool use per row as stacked shares
    <out>/viewer/index.html the trajectory viewer (`evals.viewer`)

It reads only `results.jsonl` and `summary.json` (a run still in progress is read up to its last complete line and
left untouched), so runs from other machines and other versions of the code can be compared. The "Average" column
is the mean of the row's benchmark accuracies (as in the paper), over the benchmarks the row has; a missing cell is
"—", and rows with different benchmarks therefore have averages that are not comparable.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from evals.markdown import markdown_table
from evals.paired import paired_counts
from evals.records import SEARCH_TYPES, crop_by_need
from evals.run import RESULTS, SUMMARY, wilson
from evals.viewer import write_viewer

BENCHMARKS = {
    "infoseek": "InfoSeek",
    "encyclopedic_vqa": "Enc-VQA",
    "simplevqa": "SimpleVQA",
    "dynvqa": "DynVQA",
    "okvqa": "OKVQA",
    "aokvqa": "A-OKVQA",
    "mmsearch": "MMSearch",
    "livevqa": "LiveVQA",
    "frozenweb": "FrozenWeb",
}
"""Display names, in the paper's column order (Table 1) and then the other benchmarks; unknown ones come last."""
WORKFLOWS = {"direct": "Direct", "rag": "RAG", "agent": "Agent"}
"""Display names, in the paper's row order (direct answer, RAG, search agents)."""
TOOL_USES = ("none", "text", "image", "mixed")
"""The paper's tool-usage classes of a trajectory (`evals.records.tool_use`)."""
MISSING = "—"


@dataclass(frozen=True)
class Run:
    """One run folder: its key, its records and its summary."""

    folder: Path
    workflow: str
    model: str
    benchmark: str
    records: list[dict[str, Any]]
    summary: dict[str, Any] | None
    """`summary.json`, or None for a run that has not written one yet."""


def read_records(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a `results.jsonl`, one record per id (the last line of an id wins).

    Unlike `evals.records.read_jsonl` it never rewrites the file: a torn last line is skipped, not cut off, so a report
    taken while a run is writing leaves the run intact.
    """
    data = path.read_bytes()
    lines = data[: data.rfind(b"\n") + 1].decode("utf-8").splitlines()
    by_id = {rec["id"]: rec for rec in map(json.loads, filter(str.strip, lines))}
    return list(by_id.values())


def load_run(folder: Path) -> Run:
    """Read one run folder.

    Raises:
        ValueError: the folder has no results, or its records are not all of one workflow, model and benchmark.
    """
    path = folder / RESULTS
    records = read_records(path) if path.is_file() else []
    if not records:
        raise ValueError(f"{folder}: no records in {RESULTS}; run `deepmmsearch eval --out {folder}` first")
    keys = {(r["workflow"], r["model"], r["benchmark"]) for r in records}
    if len(keys) > 1:
        raise ValueError(f"{folder}: a run folder holds one workflow, model and benchmark, found {sorted(keys)}")
    workflow, model, benchmark = keys.pop()
    summary_path = folder / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    return Run(folder, workflow, model, benchmark, records, summary)


# --- numbers -----------------------------------------------------------------------------------------------------


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def accuracy_cell(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """n, correct, accuracy and its 95% Wilson interval of a set of records."""
    n, correct = len(records), sum(bool(r["correct"]) for r in records)
    lo, hi = wilson(correct, n)
    return {"n": n, "correct": correct, "accuracy": _share(correct, n), "ci95": [lo, hi]}


def _split_accuracy(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy on the records of a known search type, search-required and search-free apart."""
    known = [r for r in records if r.get("search_type") in SEARCH_TYPES]
    required = [r for r in known if r["search_type"] != "none"]
    free = [r for r in known if r["search_type"] == "none"]
    return {
        "required": {"n": len(required), "accuracy": _share(sum(bool(r["correct"]) for r in required), len(required))},
        "free": {"n": len(free), "accuracy": _share(sum(bool(r["correct"]) for r in free), len(free))},
    }


def tool_stats(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The paper's tool-usage analysis (§4.2, Figure 4) of a set of trajectories.

    Shares are of trajectories: `tool_use` is the share per class (none, text, image, mixed); `crop_rate` the share
    with at least one crop; `crop_rate_by_need` the share that chose a crop (grounded or not) among questions that
    need one and among those that do not (unnecessary crops; None where the benchmark does not say);
    `refinement_rate` the share with more than one text search; `repeated_query_rate` the share that asked one text
    query twice (a loop, not a refinement); `parse_error_rate` the share with at least one unparseable turn.
    `by_search` splits accuracy by the examples' search type where it is known.
    """
    n = len(records)
    counters = [r["counters"] for r in records]
    return {
        "n": n,
        "tool_use": {k: _share(sum(r["tool_use"] == k for r in records), n) for k in TOOL_USES},
        "crop_rate": _share(sum(c.get("crops", 0) > 0 for c in counters), n),
        "crop_rate_by_need": crop_by_need(records),
        "refinement_rate": _share(sum(bool(r["refined"]) for r in records), n),
        "repeated_query_rate": _share(sum(r.get("repeated_queries", 0) > 0 for r in records), n),
        "mean_tool_calls": _share(sum(c.get("tool_calls", 0) for c in counters), n),
        "mean_turns": _share(sum(c.get("turns", 0) for c in counters), n),
        "parse_error_rate": _share(sum(c.get("parse_errors", 0) > 0 for c in counters), n),
        "by_search": _split_accuracy(records),
    }


def judge_agreement(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How often the judges agree, over the records that at least two judges decided.

    `rate` is the share of those records on which every judge gave the same verdict; `pairs` gives the same for each
    pair of judges ("a | b", names sorted) over the records both decided.
    """
    multi = [r["judgements"] for r in records if len(r["judgements"]) >= 2]
    agree = sum(len({bool(j["correct"]) for j in js.values()}) == 1 for js in multi)
    pairs: dict[str, list[int]] = {}
    for js in multi:
        for a, b in combinations(sorted(js), 2):
            cell = pairs.setdefault(f"{a} | {b}", [0, 0])
            cell[0] += bool(js[a]["correct"]) == bool(js[b]["correct"])
            cell[1] += 1
    return {
        "n": len(multi),
        "agree": agree,
        "rate": _share(agree, len(multi)),
        "pairs": {k: {"n": v[1], "agree": v[0], "rate": _share(v[0], v[1])} for k, v in sorted(pairs.items())},
    }


def reward_stats(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean reward and reward components of RL rollouts (records with `extra.group`), or None when there are none.

    `groups_with_spread` counts groups whose rewards are not all equal: only those give GRPO a non-zero advantage.
    """
    rollouts = [r["extra"] for r in records if "group" in r["extra"]]
    if not rollouts:
        return None
    groups: dict[str, list[float]] = {}
    components: dict[str, list[float]] = {}
    for x in rollouts:
        groups.setdefault(x["group"], []).append(x["reward"])
        for k, v in x.get("rewards", {}).items():
            components.setdefault(k, []).append(v)
    return {
        "n": len(rollouts),
        "groups": len(groups),
        "groups_with_spread": sum(max(g) > min(g) for g in groups.values()),
        "mean_reward": round(sum(x["reward"] for x in rollouts) / len(rollouts), 4),
        "components": {k: round(sum(v) / len(v), 4) for k, v in sorted(components.items())},
    }


def _order(names: Iterable[str], known: dict[str, str]) -> list[str]:
    """`names` without duplicates: the known ones in their fixed order, then the others sorted."""
    present = set(names)
    return [k for k in known if k in present] + sorted(present - known.keys())


def report_stats(runs: Sequence[Run]) -> dict[str, Any]:
    """The numbers of a report (pure: no files).

    Rows are (workflow, model) pairs: workflows in the paper's order, models in the order their runs were given.

    Returns:
        {"benchmarks": [...], "runs": [{folder, workflow, model, benchmark, n, git_commit}], "rows": [{"workflow",
        "model", "cells": {benchmark: accuracy_cell + "tools"}, "average", "tools", "agreement", "rewards"}]}.

    Raises:
        ValueError: two runs of the same workflow, model and benchmark.
    """
    seen: dict[tuple[str, str, str], Path] = {}
    for run in runs:
        key = (run.workflow, run.model, run.benchmark)
        if key in seen:
            raise ValueError(f"two runs of {key}: {seen[key]} and {run.folder}; pass one of them")
        seen[key] = run.folder
    benchmarks = _order((r.benchmark for r in runs), BENCHMARKS)
    workflows = _order((r.workflow for r in runs), WORKFLOWS)
    models = list(dict.fromkeys(r.model for r in runs))
    keys = sorted({(r.workflow, r.model) for r in runs}, key=lambda k: (workflows.index(k[0]), models.index(k[1])))
    rows = []
    for workflow, model in keys:
        mine = {r.benchmark: r for r in runs if (r.workflow, r.model) == (workflow, model)}
        cells = {
            b: {**accuracy_cell(mine[b].records), "tools": tool_stats(mine[b].records)}
            for b in benchmarks
            if b in mine
        }
        records = [rec for b in cells for rec in mine[b].records]
        rows.append(
            {
                "workflow": workflow,
                "model": model,
                "cells": cells,
                "average": round(sum(c["correct"] / c["n"] for c in cells.values()) / len(cells), 4),
                "tools": tool_stats(records),
                "agreement": judge_agreement(records),
                "rewards": reward_stats(records),
            }
        )
    return {
        "benchmarks": benchmarks,
        "paired": paired_stats(runs, keys, benchmarks),
        "runs": [
            {
                "folder": str(r.folder),
                "workflow": r.workflow,
                "model": r.model,
                "benchmark": r.benchmark,
                "n": len(r.records),
                "git_commit": r.summary["git_commit"] if r.summary else None,
            }
            for r in runs
        ],
        "rows": rows,
    }


def paired_stats(
    runs: Sequence[Run], keys: Sequence[tuple[str, str]], benchmarks: Sequence[str]
) -> list[dict[str, Any]]:
    """Each model against the model before it in the same workflow, per benchmark, on the shared questions.

    `keys` are the report's (workflow, model) rows in order; the counts are `evals.paired.paired_counts`.
    """
    by_key = {(r.workflow, r.model, r.benchmark): r for r in runs}
    out = []
    for (w1, m1), (w2, m2) in zip(keys, keys[1:], strict=False):
        if w1 != w2:
            continue
        for b in benchmarks:
            if (w1, m1, b) in by_key and (w2, m2, b) in by_key:
                counts = paired_counts(by_key[(w1, m1, b)].records, by_key[(w2, m2, b)].records)
                if counts["n"]:
                    out.append({"workflow": w1, "before": m1, "after": m2, "benchmark": b, **counts})
    return out


# --- plots -------------------------------------------------------------------------------------------------------


def _row_label(row: dict[str, Any], sep: str = " · ") -> str:
    return f"{WORKFLOWS.get(row['workflow'], row['workflow'])}{sep}{row['model']}"


def _accuracy_plot(stats: dict[str, Any], path: Path) -> None:
    """Grouped bars: one group per row, one bar per benchmark (absent cells leave a gap), in %."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, benchmarks = stats["rows"], stats["benchmarks"]
    width = 0.8 / len(benchmarks)
    fig = Figure(figsize=(max(6.0, 1.5 + 0.35 * len(rows) * len(benchmarks)), 4.5), dpi=100)
    ax = fig.add_subplot()
    for j, b in enumerate(benchmarks):
        xs = [i + (j - (len(benchmarks) - 1) / 2) * width for i, row in enumerate(rows) if b in row["cells"]]
        ys = [100 * row["cells"][b]["accuracy"] for row in rows if b in row["cells"]]
        bars = ax.bar(xs, ys, width, label=BENCHMARKS.get(b, b), color=f"C{j % 10}")
        if len(rows) * len(benchmarks) <= 24:  # labels stay legible only on small reports
            ax.bar_label(bars, fmt="%.1f", padding=1, fontsize=7)
    ax.set_xticks(range(len(rows)), [_row_label(r, "\n") for r in rows], fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Accuracy by workflow and model")
    ax.legend(fontsize=8, ncols=min(len(benchmarks), 5), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    FigureCanvasAgg(fig)
    fig.savefig(path)


def _tool_plot(stats: dict[str, Any], path: Path) -> None:
    """Horizontal stacked bars: each row's trajectories split into none / text / image / mixed, in %."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = stats["rows"][::-1]  # first row on top
    fig = Figure(figsize=(8, 1.6 + 0.45 * len(rows)), dpi=100)
    ax = fig.add_subplot()
    left = [0.0] * len(rows)
    labels = [_row_label(r) for r in rows]
    for j, use in enumerate(TOOL_USES):
        shares = [100 * r["tools"]["tool_use"][use] for r in rows]
        bars = ax.barh(labels, shares, left=left, label=use, color=f"C{j}")
        ax.bar_label(bars, labels=[f"{s:.0f}" if s >= 6 else "" for s in shares], label_type="center", fontsize=7)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of trajectories (%)")
    ax.set_title("Search tools used per trajectory")
    ax.legend(fontsize=8, ncols=len(TOOL_USES), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    fig.tight_layout()
    FigureCanvasAgg(fig)
    fig.savefig(path)


def write_plots(stats: dict[str, Any], out: Path) -> dict[str, str]:
    """Draw the plots under `<out>/plots/`; return name → path relative to `out`."""
    (out / "plots").mkdir(parents=True, exist_ok=True)
    paths = {"accuracy": "plots/accuracy.png", "tool_use": "plots/tool_use.png"}
    _accuracy_plot(stats, out / paths["accuracy"])
    _tool_plot(stats, out / paths["tool_use"])
    return paths


# --- report.md ---------------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _ci(cell: dict[str, Any]) -> str:
    lo, hi = cell["ci95"]
    return f"[{_pct(lo)}, {_pct(hi)}]"


def _split(part: dict[str, Any]) -> str:
    return f"{_pct(part['accuracy'])} ({part['n']})" if part["n"] else MISSING


def _names(row: dict[str, Any]) -> list[str]:
    return [WORKFLOWS.get(row["workflow"], row["workflow"]), row["model"]]


def accuracymarkdown_table(stats: dict[str, Any]) -> list[str]:
    """Table 1: accuracy (%) per row and benchmark, and the row's mean over the benchmarks it has."""
    benchmarks = stats["benchmarks"]
    return markdown_table(
        ["Workflow", "Model", *(BENCHMARKS.get(b, b) for b in benchmarks), "Average"],
        (
            [
                *_names(row),
                *(_pct(row["cells"][b]["accuracy"]) if b in row["cells"] else MISSING for b in benchmarks),
                _pct(row["average"]),
            ]
            for row in stats["rows"]
        ),
        text=2,
    )


def _detailmarkdown_table(stats: dict[str, Any]) -> list[str]:
    return markdown_table(
        ["Workflow", "Model", "Benchmark", "n", "correct", "accuracy (%)", "95% CI (%)"],
        (
            [*_names(row), BENCHMARKS.get(b, b), c["n"], c["correct"], _pct(c["accuracy"]), _ci(c)]
            for row in stats["rows"]
            for b, c in row["cells"].items()
        ),
        text=3,
    )


TOOL_HEADER = [
    "n",
    *(f"{u} (%)" for u in TOOL_USES),
    "crop (%)",
    "crop needed / unneeded (%)",
    "refined (%)",
    "repeated query (%)",
    "tool calls",
    "turns",
    "parse errors (%)",
    "acc. search-required (n)",
    "acc. search-free (n)",
]


def _by_need(shares: dict[str, float | None]) -> str:
    values = (shares.get("needed"), shares.get("unneeded"))
    return " / ".join("–" if v is None else _pct(v) for v in values)


def _tool_cells(t: dict[str, Any]) -> list[Any]:
    return [
        t["n"],
        *(_pct(t["tool_use"][u]) for u in TOOL_USES),
        _pct(t["crop_rate"]),
        _by_need(t.get("crop_rate_by_need", {})),
        _pct(t["refinement_rate"]),
        _pct(t.get("repeated_query_rate", 0.0)),
        f"{t['mean_tool_calls']:.2f}",
        f"{t['mean_turns']:.2f}",
        _pct(t["parse_error_rate"]),
        _split(t["by_search"]["required"]),
        _split(t["by_search"]["free"]),
    ]


def _tool_section(stats: dict[str, Any], plots: dict[str, str]) -> list[str]:
    return [
        "## Tool use",
        "",
        "Shares of trajectories: which search tools they called (none, text only, image only, or both: mixed), "
        "whether they cropped (and the share that chose a crop, grounded or not, among questions that need one and "
        "among those that do not: the paper's unnecessary crops; – where the benchmark does not say), whether they "
        "ran more than one text search (the paper's query refinement) and whether they asked one query twice (a "
        "loop); mean tool calls and turns; the share with an unparseable turn; accuracy on search-required and "
        "search-free examples (where the benchmark gives a search type), with their counts.",
        "",
        *markdown_table(
            ["Workflow", "Model", *TOOL_HEADER], ([*_names(r), *_tool_cells(r["tools"])] for r in stats["rows"]), 2
        ),
        f"![Search tools used per trajectory]({plots['tool_use']})",
        "",
        "### By benchmark",
        "",
        *markdown_table(
            ["Workflow", "Model", "Benchmark", *TOOL_HEADER],
            (
                [*_names(r), BENCHMARKS.get(b, b), *_tool_cells(c["tools"])]
                for r in stats["rows"]
                for b, c in r["cells"].items()
            ),
            text=3,
        ),
    ]


def _paired_section(stats: dict[str, Any]) -> list[str]:
    pairs = stats.get("paired") or []
    if not pairs:
        return []
    table = markdown_table(
        ["Workflow", "Before", "After", "Benchmark", "n", "before (%)", "after (%)", "won", "lost", "McNemar p"],
        (
            [WORKFLOWS.get(p["workflow"], p["workflow"]), p["before"], p["after"]]
            + [BENCHMARKS.get(p["benchmark"], p["benchmark"]), p["n"], _pct(p["acc_before"]), _pct(p["acc_after"])]
            + [p["won"], p["lost"], f"{p['p']:.3f}"]
            for p in pairs
        ),
        text=4,
    )
    return [
        "## Paired comparisons",
        "",
        "Each model against the one listed before it in the same workflow, on the questions both answered: "
        "won = right only after, lost = right only before; p is the two-sided exact McNemar test on won vs lost.",
        "",
        *table,
    ]


def _agreement_section(stats: dict[str, Any]) -> list[str]:
    rows = [r for r in stats["rows"] if r["agreement"]["n"]]
    if not rows:
        return []
    pairs = lambda a: "; ".join(f"{k}: {_pct(v['rate'])}% of {v['n']}" for k, v in a["pairs"].items())  # noqa: E731
    return [
        "## Judge agreement",
        "",
        "Over the examples that at least two judges decided: the share on which all judges agree, and per pair.",
        "",
        *markdown_table(
            ["Workflow", "Model", "by judge pair", "judged twice+", "all agree", "agreement (%)"],
            (
                [*_names(r), pairs(r["agreement"]), r["agreement"]["n"], r["agreement"]["agree"]]
                + [_pct(r["agreement"]["rate"])]
                for r in rows
            ),
            text=3,
        ),
    ]


def _reward_section(stats: dict[str, Any]) -> list[str]:
    rows = [r for r in stats["rows"] if r["rewards"]]
    if not rows:
        return []
    components = lambda w: "; ".join(f"{k} {v:.3f}" for k, v in w["components"].items())  # noqa: E731
    return [
        "## Rewards (RL rollouts)",
        "",
        "Groups with spread have rewards that are not all equal; the others give GRPO no advantage.",
        "",
        *markdown_table(
            ["Workflow", "Model", "mean components", "rollouts", "groups", "groups with spread", "mean reward"],
            (
                [*_names(r), components(w), w["n"], w["groups"], w["groups_with_spread"], f"{w['mean_reward']:.3f}"]
                for r in rows
                for w in [r["rewards"]]
            ),
            text=3,
        ),
    ]


def render_report(
    stats: dict[str, Any],
    plots: dict[str, str],
    viewer: str | None = None,
    training: Sequence[dict[str, Any]] = (),
) -> str:
    """The report.md text.

    Args:
        stats: `report_stats` of the runs.
        plots: plot name → PNG path relative to the report (`write_plots`).
        viewer: the viewer's index.html relative to the report, or None for none.
        training: `training_runs` of the SFT / GRPO runs behind the models, if given.
    """
    runs = markdown_table(
        ["Folder", "Workflow", "Model", "Benchmark", "git commit", "n"],
        (
            [f"`{r['folder']}`", r["workflow"], r["model"], BENCHMARKS.get(r["benchmark"], r["benchmark"])]
            + [(r["git_commit"] or "unknown")[:12], r["n"]]
            for r in stats["runs"]
        ),
        text=5,
    )
    lines = [
        "# Evaluation report",
        "",
        *([f"Trajectories: [viewer]({viewer}).", ""] if viewer else []),
        "## Accuracy",
        "",
        "Accuracy (%) judged correct; Average is the mean over the benchmarks the row has (— marks a missing run).",
        "",
        *accuracymarkdown_table(stats),
        f"![Accuracy by workflow and model]({plots['accuracy']})",
        "",
        "### With 95% Wilson intervals",
        "",
        *_detailmarkdown_table(stats),
        *_paired_section(stats),
        *_tool_section(stats, plots),
        *_agreement_section(stats),
        *_reward_section(stats),
        *_training_section(training),
        "## Runs",
        "",
        *runs,
    ]
    return "\n".join(lines)


TRAINING_PLOTS = ("curves.png", "loss.png")
"""The curve a training run folder holds: GRPO's `curves.png`, SFT's `loss.png`."""


def training_runs(folders: Sequence[Path], out: Path) -> list[dict[str, Any]]:
    """Summaries of SFT / GRPO run folders, their curves copied into `out/plots` (paths relative to `out`).

    Raises:
        ValueError: a folder without `summary.json` (a run that never finished).
    """
    rows = []
    for folder in folders:
        summary_path = folder / "summary.json"
        if not summary_path.is_file():
            raise ValueError(f"{folder}: no summary.json (not a finished `deepmmsearch sft` or `rl` run)")
        summary = json.loads(summary_path.read_text())
        plot = next((folder / p for p in TRAINING_PLOTS if (folder / p).is_file()), None)
        copied = None
        if plot is not None:
            target = out / "plots" / f"training-{folder.name}-{plot.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plot, target)
            copied = target.relative_to(out).as_posix()
        timing = summary.get("time_per_step") or {}
        rows.append(
            {
                "folder": str(folder),
                "kind": "GRPO" if "time_per_step" in summary else "SFT",
                "steps": summary.get("steps"),
                "seconds": summary.get("seconds"),
                "train_loss": summary.get("train_loss"),
                "rollout_share": timing.get("rollout_share"),
                "alarms": len(summary.get("alarms") or []),
                "plot": copied,
            }
        )
    return rows


def _training_section(training: Sequence[dict[str, Any]]) -> list[str]:
    if not training:
        return []

    def cell(x: Any, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    table = markdown_table(
        ["Run", "Folder", "Steps", "Minutes", "Train loss", "Rollout share of a step", "Collapse alarms"],
        (
            [t["kind"], f"`{t['folder']}`", cell(t["steps"], "d"), cell((t["seconds"] or 0) / 60, ".1f")]
            + [
                cell(t["train_loss"], ".3f"),
                cell(t["rollout_share"], ".0%"),
                t["alarms"] if t["kind"] == "GRPO" else "—",
            ]
            for t in training
        ),
        text=2,
    )
    plots = [f"![{t['kind']} curves]({t['plot']})" for t in training if t["plot"]]
    return ["## Training", "", *table, "", *plots, ""]


def _with_image_path(rec: dict[str, Any], run: Run) -> dict[str, Any]:
    """The record with its image path made usable from here.

    A relative path is tried as it is (the harness opens it from its working folder), then under the run folder,
    the run's `--image-root` and the benchmark data it was run on; a path found nowhere is kept for the viewer to
    report as missing.
    """
    image = rec["image"]
    if image.startswith("data:") or Path(image).is_absolute() or Path(image).is_file():
        return rec
    config = run.summary["config"] if run.summary else {}
    roots = [run.folder]
    if config.get("image_root"):
        roots.append(Path(config["image_root"]))
    if config.get("data"):
        data = Path(config["data"])
        roots.append(data if data.is_dir() else data.parent)  # a DeepMMSearchVQA folder, or an annotation file
    found = next((root / image for root in roots if (root / image).is_file()), None)
    return {**rec, "image": str(found)} if found else rec


def build_report(run_dirs: list[Path], out: Path, training_dirs: Sequence[Path] = ()) -> Path:
    """Write the report of evaluation runs under `out`; return the path of `report.md`.

    Args:
        run_dirs: run folders written by `evals.run`, one (workflow, model, benchmark) each.
        out: the report folder (created): report.md, report.json, plots/*.png, viewer/.
        training_dirs: SFT / GRPO run folders whose summaries and curves go into a Training section.

    Raises:
        ValueError: no runs, a folder without results, or two runs of the same workflow, model and benchmark.
    """
    if not run_dirs:
        raise ValueError("no run folders given")
    runs = [load_run(Path(d)) for d in run_dirs]
    stats = report_stats(runs)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(stats, out)
    training = training_runs([Path(d) for d in training_dirs], out)
    viewer = write_viewer([_with_image_path(rec, run) for run in runs for rec in run.records], out / "viewer")
    (out / "report.json").write_text(json.dumps({**stats, "training": training}, indent=1, ensure_ascii=False) + "\n")
    report = out / "report.md"
    text = render_report(stats, plots, viewer.relative_to(out).as_posix(), training)
    report.write_text(text, encoding="utf-8")
    return report
