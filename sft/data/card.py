"""The data card of a generated DeepMMSearchVQA folder: what is in it, and how the teacher fared.

    <folder>/README.md      Hugging Face dataset card: totals per use, SFT trajectory tables, evaluation question
                            tables, teacher yield and rejection reasons, licence note
    <folder>/card.json      the numbers behind the card (`card_stats`)
    <folder>/plots/*.png    bar charts of the SFT trajectories, linked from README.md

The card reads `attempts.jsonl` and, when present, `generate.json` (for the teacher, seed and world). It does not
open images or the exported `hf/` datasets. Plots use matplotlib's Agg canvas directly (no pyplot state).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evals.markdown import markdown_table
from evals.records import SEARCH_TYPES
from sft.data.pipeline import ATTEMPTS, CONFIG, MAX_TURNS, _read_attempts
from sft.data.questions import SPLITS

USES = ("sft", "rl", "validation", "test")
EVAL_USES = ("validation", "test")
TOOLS = ("none", "image only", "text only", "image+text")
MISSES = ("check A", "check B", "check C", "judge", "render")
"""Every kind of rejected attempt, in the order the pipeline tests for them."""
MISS_MEANING = {
    "check A": "a reply could not be parsed",
    "check B": f"reached the turn limit ({MAX_TURNS})",
    "check C": "stopped without an answer",
    "judge": "answered, but the judge rejected the answer",
    "render": "the question image could not be drawn",
}
TOP_FAMILIES = 20
PLOTS = ("category", "family", "turns", "tools", "search_type")
"""The SFT facets drawn as bar charts, one PNG each."""


# --- numbers -----------------------------------------------------------------------------------------------------


def _ranked(values: Iterable[str]) -> dict[str, int]:
    """Counts, most frequent first (ties by name)."""
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _ordered(values: Iterable[str], order: Iterable[str]) -> dict[str, int]:
    """Counts of every key of `order` (zeros included), in that order, then of any key it lacks."""
    c = Counter(values)
    known = {k: c[k] for k in order}
    return {**known, **_ranked(k for k in c.elements() if k not in known)}


def _numeric(values: Iterable[int]) -> dict[str, int]:
    """Counts keyed by the number as a string (as JSON keys are), in numeric order."""
    return {str(k): v for k, v in sorted(Counter(values).items())}


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def tools_used(counters: dict[str, int]) -> str:
    """Which search tools a trajectory called: "none", "image only", "text only" or "image+text"."""
    image, text = counters["image_searches"] > 0, counters["text_searches"] > 0
    return TOOLS[image + 2 * text]


def refines(rec: dict) -> bool:
    """Whether a trajectory searched by text more often than its gold chain has text hops (a refined query)."""
    text_hops = sum(h["tool"] == "text_search" for h in rec["question"]["chain"])
    return rec["counters"]["text_searches"] > text_hops


def miss_kind(reason: str) -> str:
    """The kind of a rejection reason: "check A" … "check C", "judge" or "render" ("kept" for none)."""
    return reason.split(":", 1)[0]


def _detail(rec: dict) -> str:
    """The rejection reason without the question id that render errors carry, so equal causes count together."""
    return rec["reason"].replace(f"{rec['id']}: ", "")


def _sft_stats(recs: list[dict]) -> dict[str, Any]:
    questions = [r["question"] for r in recs]
    counters = [r["counters"] for r in recs]
    refined = sum(refines(r) for r in recs)
    return {
        "n": len(recs),
        "family": _ranked(q["family"] for q in questions),
        "category": _ranked(q["category"] for q in questions),
        "hops": _numeric(q["hops"] for q in questions),
        "search_type": _ordered((q["search_type"] for q in questions), SEARCH_TYPES),
        "turns": _numeric(c["turns"] for c in counters),
        "tools": _ordered((tools_used(c) for c in counters), TOOLS),
        "crop": _ordered(("yes" if c["crops"] > 0 else "no" for c in counters), ("yes", "no")),
        "refined": refined,
        "refinement_rate": _share(refined, len(recs)),
        "mean_tool_calls": _share(sum(c["tool_calls"] for c in counters), len(recs)),
        "mean_turns": _share(sum(c["turns"] for c in counters), len(recs)),
    }


def _eval_stats(recs: list[dict]) -> dict[str, Any]:
    return {
        "n": len(recs),
        "teacher_solved": sum(bool(r["ok"]) for r in recs),
        "category": _ranked(r["category"] for r in recs),
        "search_type": _ordered((r["question"]["search_type"] for r in recs), SEARCH_TYPES),
    }


def _yield_stats(records: list[dict]) -> dict[str, Any]:
    splits: dict[str, dict[str, Any]] = {}
    for rec in records:
        s = splits.setdefault(rec["split"], {"attempts": 0, "rendered": 0, "solved": 0, "used": 0})
        s["attempts"] += 1
        s["rendered"] += "question" in rec  # a spec that could not be drawn was never put to the teacher
        s["solved"] += bool(rec["ok"])
        s["used"] += rec["use"] != "none"
    for s in splits.values():
        s["accuracy"] = _share(s["solved"], s["rendered"])
    missed = [r for r in records if r["reason"] != "kept"]
    return {
        "attempts": len(records),
        "solved": sum(bool(r["ok"]) for r in records),
        "used": sum(r["use"] != "none" for r in records),
        "splits": {k: splits[k] for k in SPLITS if k in splits},
        "misses": _ordered((miss_kind(r["reason"]) for r in missed), MISSES),
        "reasons": _ranked(_detail(r) for r in missed),
    }


def card_stats(records: Iterable[dict]) -> dict[str, Any]:
    """The numbers of a folder's card, from its `attempts.jsonl` records (pure: no files).

    Counts are dicts keyed by label (numbers as strings, as in JSON), most frequent first for open vocabularies and
    in a fixed order, zeros included, for closed ones (search types, tools, miss kinds; a value outside the
    vocabulary is counted after it).

    Args:
        records: one dict per attempted question, as `sft.data.pipeline` writes them.

    Returns:
        {"uses": {use: {"total", "required", "free"}}, "sft": {...}, "validation": {...}, "test": {...},
        "yield": {...}}.
    """
    records = list(records)
    by_use: dict[str, list[dict]] = {u: [] for u in (*USES, "none")}
    for rec in records:
        by_use[rec["use"]].append(rec)
    uses = {}
    for use in USES:
        required = sum(bool(r["required"]) for r in by_use[use])
        uses[use] = {"total": len(by_use[use]), "required": required, "free": len(by_use[use]) - required}
    return {
        "uses": uses,
        "sft": _sft_stats(by_use["sft"]),
        **{u: _eval_stats(by_use[u]) for u in EVAL_USES},
        "yield": _yield_stats(records),
    }


# --- plots -------------------------------------------------------------------------------------------------------


def _bar_chart(counts: dict[str, int], path: Path, title: str, label: str, horizontal: bool = False) -> None:
    """One bar chart, each bar labelled with its count, written as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names, values = list(counts), list(counts.values())
    if horizontal:  # largest on top
        fig = Figure(figsize=(8, 1.2 + 0.32 * max(len(names), 1)), dpi=100)
        ax = fig.add_subplot()
        bars = ax.barh(names[::-1], values[::-1], color="#4C72B0")
        ax.set_xlabel("trajectories")
        ax.set_ylabel(label)
        ax.margins(x=0.12)
    else:
        fig = Figure(figsize=(max(4.0, 1.2 + 0.8 * len(names)), 3.8), dpi=100)
        ax = fig.add_subplot()
        bars = ax.bar(range(len(names)), values, color="#4C72B0")
        long = max((len(n) for n in names), default=0) > 6
        ax.set_xticks(range(len(names)), names, rotation=30 if long else 0, ha="right" if long else "center")
        ax.set_xlabel(label)
        ax.set_ylabel("trajectories")
        ax.margins(y=0.12)
    (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    ax.bar_label(bars, padding=2)
    ax.set_title(title)
    fig.tight_layout()
    FigureCanvasAgg(fig)
    fig.savefig(path)


def write_plots(stats: dict[str, Any], folder: Path) -> dict[str, str]:
    """Draw the SFT bar charts under `<folder>/plots/`; return facet → path relative to `folder`."""
    sft = stats["sft"]
    top = dict(list(sft["family"].items())[:TOP_FAMILIES])
    charts = {
        "category": (sft["category"], "SFT trajectories by knowledge category", "category", False),
        "family": (top, f"SFT trajectories by chain family (top {TOP_FAMILIES})", "family", True),
        "turns": (sft["turns"], "SFT trajectories by number of turns", "turns", False),
        "tools": (sft["tools"], "SFT trajectories by search tools used", "tools", False),
        "search_type": (sft["search_type"], "SFT trajectories by search type", "search type", False),
    }
    (folder / "plots").mkdir(exist_ok=True)
    paths = {}
    for name in PLOTS:
        counts, title, label, horizontal = charts[name]
        paths[name] = f"plots/{name}.png"
        _bar_chart(counts, folder / paths[name], title, label, horizontal)
    return paths


# --- README.md ---------------------------------------------------------------------------------------------------


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _count_table(label: str, counts: dict[str, int], total: int) -> list[str]:
    return markdown_table([label, "trajectories", "share"], ([k, v, _pct(v, total)] for k, v in counts.items()))


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def _front_matter(stats: dict[str, Any]) -> list[str]:
    size = _size_category(sum(u["total"] for u in stats["uses"].values()))
    return [
        "---",
        "license: other",
        "license_name: mixed-sources",
        "task_categories:",
        "- visual-question-answering",
        "language:",
        "- en",
        "pretty_name: DeepMMSearchVQA",
        "size_categories:",
        f"- {size}",
        "tags:",
        "- multimodal",
        "- web-search",
        "- agent",
        "---",
        "",
    ]


def _provenance(config: dict[str, Any] | None) -> str:
    """How the folder was made, from its `generate.json` config ("" when there is none)."""
    if config is None:
        return ""
    teacher = f"{config['teacher']} teacher" + (f" ({config['model']})" if config["model"] else "")
    return f" with the {teacher}, seed {config['seed']}, over the world `{config['world']}`"


def _intro(stats: dict[str, Any], config: dict[str, Any] | None) -> list[str]:
    made = _provenance(config)
    return [
        "# DeepMMSearchVQA",
        "",
        "Visual questions that need image search, text search, both, or neither, with the teacher's multi-turn "
        f"search trajectories, generated by `deepmmsearch data generate`{made}. `hf/sft` holds the SFT trajectories "
        "(TRL conversational format), `hf/questions` the RL prompts (train) and the validation and test questions; "
        "`attempts.jsonl` records every attempted question and what it was used for. The numbers below are also in "
        "`card.json`.",
        "",
        "## Totals",
        "",
        *markdown_table(
            ["use", "questions", "search-required", "search-free"],
            [
                *([u, s["total"], s["required"], s["free"]] for u, s in stats["uses"].items()),
                ["total", *(sum(s[k] for s in stats["uses"].values()) for k in ("total", "required", "free"))],
            ],
        ),
    ]


def _image(plots: dict[str, str], name: str) -> list[str]:
    return [f"![SFT trajectories by {name.replace('_', ' ')}]({plots[name]})", ""]


def _sft_section(sft: dict[str, Any], plots: dict[str, str]) -> list[str]:
    n = sft["n"]
    return [
        "## SFT trajectories",
        "",
        f"{n} teacher trajectories, each answered correctly and passing checks A–C. Mean tool calls per trajectory: "
        f"{sft['mean_tool_calls']:.2f}; mean turns: {sft['mean_turns']:.2f}. Query refinement: {sft['refined']} "
        f"({_pct(sft['refined'], n)}) search by text more often than their gold chain has text hops.",
        "",
        "### By knowledge category",
        "",
        *_count_table("category", sft["category"], n),
        *_image(plots, "category"),
        "### By chain family",
        "",
        *_count_table("family", sft["family"], n),
        *_image(plots, "family"),
        "### By hops",
        "",
        *_count_table("hops", sft["hops"], n),
        "### By search type",
        "",
        *_count_table("search type", sft["search_type"], n),
        *_image(plots, "search_type"),
        "### By number of turns",
        "",
        *_count_table("turns", sft["turns"], n),
        *_image(plots, "turns"),
        "### By tools used",
        "",
        *_count_table("tools", sft["tools"], n),
        *_count_table("crop", sft["crop"], n),
        *_image(plots, "tools"),
    ]


def _eval_section(stats: dict[str, Any]) -> list[str]:
    parts = {u: stats[u] for u in EVAL_USES}
    counts = Counter[str]()
    for s in parts.values():
        counts.update(s["category"])
    categories = sorted(counts, key=lambda k: (-counts[k], k))
    line = "; ".join(f"{u}: {s['n']} questions, {s['teacher_solved']} solved by the teacher" for u, s in parts.items())
    return [
        "## Evaluation questions",
        "",
        f"Kept whether or not the teacher solved them ({line}).",
        "",
        "### By knowledge category",
        "",
        *markdown_table(
            ["category", *EVAL_USES], ([c, *(s["category"].get(c, 0) for s in parts.values())] for c in categories)
        ),
        "### By search type",
        "",
        *markdown_table(
            ["search type", *EVAL_USES], ([t, *(s["search_type"][t] for s in parts.values())] for t in SEARCH_TYPES)
        ),
    ]


def _yield_section(y: dict[str, Any]) -> list[str]:
    reasons = (
        markdown_table(["reason", "attempts"], ([r, k] for r, k in y["reasons"].items()))
        if y["reasons"]
        else ["None.", ""]
    )
    return [
        "## Teacher yield",
        "",
        f"{y['attempts']} attempts, {y['solved']} solved by the teacher and passing the checks "
        f"({_pct(y['solved'], y['attempts'])}), {y['used']} used. Train questions are used only when solved; solved "
        "ones beyond the quotas are not used.",
        "",
        *markdown_table(
            ["split", "attempts", "rendered", "solved", "used", "teacher accuracy (solved / rendered)"],
            (
                [k, s["attempts"], s["rendered"], s["solved"], s["used"], _pct(s["solved"], s["rendered"])]
                for k, s in y["splits"].items()
            ),
        ),
        "### Rejections",
        "",
        *markdown_table(
            ["kind", "meaning", "attempts"], ([k, MISS_MEANING.get(k, ""), v] for k, v in y["misses"].items()), text=2
        ),
        "### Rejection reasons",
        "",
        *reasons,
    ]


def _licence(config: dict[str, Any] | None) -> list[str]:
    where = f"`{Path(config['world']) / 'ATTRIBUTION.md'}`" if config else "the world's `ATTRIBUTION.md`"
    return [
        "## Licence",
        "",
        "The images, page texts and facts come from the frozen web world the folder was generated from, built from "
        "public sources under their own licences (Wikipedia text is CC BY-SA 4.0; logos are trademarks of their "
        f"owners). {where} lists every source and its licence; reuse of this dataset must follow them.",
        "",
    ]


def render_card(stats: dict[str, Any], plots: dict[str, str], config: dict[str, Any] | None = None) -> str:
    """The README.md text of a folder's card.

    Args:
        stats: `card_stats` of the folder's attempts.
        plots: facet → PNG path relative to the folder (`write_plots`).
        config: the `config` of the folder's `generate.json`, or None when there is none.
    """
    lines = [
        *_front_matter(stats),
        *_intro(stats, config),
        *_sft_section(stats["sft"], plots),
        *_eval_section(stats),
        *_yield_section(stats["yield"]),
        *_licence(config),
    ]
    return "\n".join(lines)


def write_card(folder: Path) -> Path:
    """Write `<folder>/README.md`, `<folder>/card.json` and `<folder>/plots/*.png`; return the README's path.

    Raises:
        ValueError: `folder` has no generated attempts.
    """
    records = list(_read_attempts(folder / ATTEMPTS).values())
    if not records:
        raise ValueError(f"{folder}: no {ATTEMPTS}; run `deepmmsearch data generate` first")
    stats = card_stats(records)
    config_path = folder / CONFIG
    config = json.loads(config_path.read_text())["config"] if config_path.is_file() else None
    plots = write_plots(stats, folder)
    (folder / "card.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n")
    readme = folder / "README.md"
    readme.write_text(render_card(stats, plots, config), encoding="utf-8")
    return readme
