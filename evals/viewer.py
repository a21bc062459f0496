"""A static HTML viewer of evaluation trajectories, written next to the report (`evals.report`).

    <out>/index.html      one line per (workflow, model): its benchmarks, counts and accuracy, and a link to its page
    <out>/<row>.html      the row's examples as collapsible sections, filterable by benchmark and by correctness
    <out>/images/*.jpg    the question images, reduced to at most 512 px a side (one file per distinct image)

Each example shows the question image with every crop box drawn on it (an SVG overlay in the image's own pixel
coordinates, numbered by turn), each turn's reason and action as parsed by `policy.protocol`, the tool calls with
their hits and summaries, the environment's reply (the `<information>` block and the reflection prompt around it),
and the prediction against the gold answer with every judge's verdict. RL rollouts (records whose `extra` names a
`group`) are shown group by group, the members side by side with their rewards.

The folder is self-contained (relative links only) and needs no server; the only script is a few lines of vanilla
JS for the filters. Every string taken from a record is escaped, and only http(s) URLs become links. An image that
cannot be opened is named, not drawn.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from evals.records import ResultRecord
from policy.protocol import Answer, ParseError, TextSearch, parse_step
from tools.images import ImageError, open_image

MAX_SIDE = 512
"""Longest side of the copied images, and of the figure of a single example."""
MEMBER_SIDE = 256
"""Longest side of the figure of one member of an RL group (several stand side by side)."""
BOX_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080")

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #222; }
[hidden] { display: none !important; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
details.ex { border: 1px solid #ccc; border-radius: 4px; margin: 0.4em 0; padding: 0.3em 0.6em; }
details.ex > summary { cursor: pointer; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #cf222e; font-weight: bold; }
.bench { background: #eef; border-radius: 3px; padding: 0 0.3em; font-size: 90%; }
.head { display: flex; gap: 1.2em; align-items: flex-start; margin: 0.6em 0; flex-wrap: wrap; }
.fig { position: relative; flex: none; } .fig img, .fig svg { position: absolute; left: 0; top: 0; }
.box { fill: none; stroke-width: 2; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.1em 0.8em; margin: 0; }
dt { font-weight: bold; } dd { margin: 0; }
.turn { border-left: 3px solid #ddd; padding-left: 0.7em; margin: 0.6em 0; }
.turn h4 { margin: 0.2em 0; } .action { font-family: monospace; } .error { color: #cf222e; }
.obs { background: #f6f8fa; padding: 0.3em 0.6em; margin: 0.3em 0; border-radius: 3px; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0.3em 0; }
.members { display: flex; gap: 0.8em; overflow-x: auto; align-items: flex-start; }
.member { flex: 0 0 340px; border: 1px solid #ddd; border-radius: 4px; padding: 0.4em; }
.member.correct { border-top: 4px solid #1a7f37; } .member.incorrect { border-top: 4px solid #cf222e; }
.filters { position: sticky; top: 0; background: #fff; padding: 0.4em 0; border-bottom: 1px solid #ddd; }
"""

JS = """
function filt() {
  var b = document.getElementById('bench').value, c = document.getElementById('corr').value, n = 0;
  document.querySelectorAll('.ex').forEach(function (e) {
    var ok = (!b || e.dataset.benchmark === b) && (!c || e.dataset.correct.split(' ').indexOf(c) >= 0);
    e.hidden = !ok; n += ok;
  });
  document.getElementById('count').textContent = n + ' shown';
}
function openAll(o) { document.querySelectorAll('.ex:not([hidden])').forEach(function (e) { e.open = o; }); }
"""


def _e(value: Any) -> str:
    """Any value as escaped HTML text (quotes too, so it is safe in attributes)."""
    return escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str, script: str = "") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{CSS}</style>"
        + (f"<script>{script}</script>" if script else "")
        + f"</head><body>\n{body}\n</body></html>\n"
    )


# --- images ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A question image copied into the viewer."""

    src: str
    """Its path relative to the viewer folder."""
    width: int
    """Width of the original, in whose pixels the boxes are given."""
    height: int


class ImageStore:
    """Copies each distinct question image once, reduced, into `<folder>/images/`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._done: dict[str, Shown | str] = {}

    def get(self, uri: str) -> Shown | str:
        """The copied image, or why it could not be opened."""
        if uri not in self._done:
            self._done[uri] = self._copy(uri)
        return self._done[uri]

    def _copy(self, uri: str) -> Shown | str:
        try:
            image = open_image(uri)
        except ImageError as exc:
            return str(exc)
        name = hashlib.sha1(uri.encode()).hexdigest()[:16] + ".jpg"
        width, height = image.size
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        (self.folder / "images").mkdir(parents=True, exist_ok=True)
        image.save(self.folder / "images" / name, "JPEG", quality=85)
        return Shown(f"images/{name}", width, height)


def crop_boxes(observations: Sequence[Mapping[str, Any]]) -> list[tuple[int, list[int], str]]:
    """(turn, [x0, y0, x1, y1], label) of every crop and image-search box, each box once per turn."""
    boxes: dict[tuple[int, tuple[int, ...]], str] = {}
    for o in observations:
        if o["tool"] in ("crop", "image_search") and o.get("box"):
            box = tuple(int(v) for v in o["box"])
            label = f"turn {o['turn']}: {o['tool']}" + (f" {o['query']!r}" if o.get("query") else "")
            boxes.setdefault((o["turn"], box), label)
    return [(turn, list(box), label) for (turn, box), label in boxes.items()]


def figure(shown: Shown | str, boxes: Sequence[tuple[int, list[int], str]], side: int = MAX_SIDE) -> str:
    """The image scaled to fit `side`, with the boxes as an SVG overlay in the original's pixel coordinates."""
    if isinstance(shown, str):
        return f'<p class="error">image not shown: {_e(shown)}</p>'
    scale = min(4.0, side / max(shown.width, shown.height))  # small images are shown larger, up to 4x
    w, h = max(1, round(shown.width * scale)), max(1, round(shown.height * scale))
    font = round(12 / scale)
    marks = []
    for i, (turn, (x0, y0, x1, y1), label) in enumerate(boxes):
        color = BOX_COLORS[i % len(BOX_COLORS)]
        marks.append(
            f'<rect class="box" x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" stroke="{color}" '
            f'vector-effect="non-scaling-stroke"><title>{_e(label)}</title></rect>'
            f'<text x="{x0 + 2}" y="{y0 + font}" fill="{color}" font-size="{font}">{turn}</text>'
        )
    return (
        f'<div class="fig" style="width:{w}px;height:{h}px"><img src="{_e(shown.src)}" width="{w}" height="{h}" '
        f'alt="question image" loading="lazy"><svg viewBox="0 0 {shown.width} {shown.height}" width="{w}" '
        f'height="{h}">{"".join(marks)}</svg></div>'
    )


# --- one trajectory ----------------------------------------------------------------------------------------------


def _text(message: Mapping[str, Any]) -> str:
    """The text of a chat message, an image part shown as "[image]"."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] if p["type"] == "text" else f"[{p['type']}]\n" for p in content)


def _link(hit: Mapping[str, Any]) -> str:
    title, url = _e(hit.get("title") or hit.get("url") or "(untitled)"), hit.get("url") or ""
    score = hit.get("score")
    tail = f" <small>{score:.3f}</small>" if isinstance(score, int | float) else ""
    if url.startswith(("http://", "https://")):
        return f'<a href="{_e(url)}" rel="noreferrer">{title}</a>{tail}'
    return f"{title} <small>{_e(url)}</small>{tail}" if url else f"{title}{tail}"


def _observation(o: Mapping[str, Any]) -> str:
    what = [f"<b>{_e(o['tool'])}</b>"]
    if o.get("query"):
        what.append(f"query <q>{_e(o['query'])}</q>")
    if o.get("box"):
        what.append(f"box {_e(list(o['box']))}")
    parts = [" · ".join(what)]
    if o.get("error"):
        parts.append(f'<div class="error">{_e(o["error"])}</div>')
    if o.get("hits"):
        parts.append("<ol>" + "".join(f"<li>{_link(h)}</li>" for h in o["hits"]) + "</ol>")
    if o.get("text"):
        parts.append(f'<pre class="summary">{_e(o["text"])}</pre>')
    return f'<div class="obs">{"".join(parts)}</div>'


def _step(text: str) -> str:
    """A policy turn parsed by the protocol: its reason and action, or its parse error and raw text."""
    step = parse_step(text)
    if isinstance(step, ParseError):
        return f'<p class="error">parse error ({_e(step.kind)}): {_e(step.message)}</p><pre>{_e(text)}</pre>'
    action = step.action
    if isinstance(action, TextSearch):
        kind, arg = "text_search", action.query
    elif isinstance(action, Answer):
        kind, arg = "answer", action.text
    else:
        kind = "img_search"
        arg = "whole image" if action.whole else str(list(action.box)) if action.box else str(action.target)
    return f'<p><b>reason</b> {_e(step.reason)}</p><p class="action"><b>{kind}</b> {_e(arg)}</p>'


def _turn(number: int, text: str, observations: Sequence[Mapping[str, Any]], replies: Sequence[str]) -> str:
    reply = "\n\n".join(replies)
    env = f"<details><summary>environment reply</summary><pre>{_e(reply)}</pre></details>" if reply else ""
    return (
        f'<div class="turn"><h4>Turn {number}</h4>{_step(text)}'
        f"{''.join(_observation(o) for o in observations)}{env}</div>"
    )


def trajectory(rec: Mapping[str, Any]) -> str:
    """Every turn of a record: the prompt (collapsed), then each policy turn with what the environment did."""
    messages = rec["messages"]
    by_turn: dict[int, list[Mapping[str, Any]]] = {}
    for o in rec["observations"]:
        by_turn.setdefault(o["turn"], []).append(o)
    starts = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    first = starts[0] if starts else len(messages)
    parts = []
    if first:
        prompt = "\n\n".join(_text(m) for m in messages[:first])
        parts.append(f"<details><summary>prompt</summary><pre>{_e(prompt)}</pre></details>")
    for number, (i, j) in enumerate(zip(starts, [*starts[1:], len(messages)], strict=True), start=1):
        replies = [_text(m) for m in messages[i + 1 : j]]
        parts.append(_turn(number, _text(messages[i]), by_turn.pop(number, []), replies))
    for number, obs in sorted(by_turn.items()):  # observations of turns the transcript does not hold
        parts.append(f'<div class="turn"><h4>Turn {number}</h4>{"".join(_observation(o) for o in obs)}</div>')
    return "".join(parts)


def _gold(gold: Mapping[str, Any]) -> str:
    aliases = [a for a in gold.get("aliases", []) if a != gold["answer"]]
    return _e(gold["answer"]) + (f" <small>(also: {_e('; '.join(aliases))})</small>" if aliases else "")


def _mark(correct: bool) -> str:
    return '<span class="ok">✓ correct</span>' if correct else '<span class="bad">✗ incorrect</span>'


def _facts(rec: Mapping[str, Any]) -> str:
    """The example's question, answers, verdicts and counters as a definition list."""
    judges = "; ".join(
        f"{name}: {'correct' if j['correct'] else 'incorrect'}" + (f" ({j['reason']})" if j.get("reason") else "")
        for name, j in rec["judgements"].items()
    )
    counters = ", ".join(f"{k} {v}" for k, v in rec["counters"].items())
    rows = [
        ("question", _e(rec["question"])),
        ("gold", _gold(rec["gold"])),
        ("prediction", _e(rec["prediction"]) or "<i>(none)</i>"),
        ("verdict", f"{_mark(rec['correct'])} by {_e(rec['judge'])}: {_e(rec['reason'])}"),
        ("judges", _e(judges)),
        ("stop", _e(rec["stop_reason"])),
        ("tools", _e(f"{rec['tool_use']}" + (", refined a text query" if rec["refined"] else ""))),
        ("counters", _e(counters)),
        ("search type", _e(rec["search_type"] or "unknown")),
        ("category", _e(rec["category"])),
        ("seconds", _e(rec["seconds"])),
    ]
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows if v) + "</dl>"


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def example(rec: Mapping[str, Any], images: ImageStore) -> str:
    """One record as a collapsible section."""
    shown = images.get(rec["image"])
    summary = (
        f"{_mark(rec['correct'])} <span class='bench'>{_e(rec['benchmark'])}</span> <code>{_e(rec['id'])}</code> "
        f"{_e(_short(rec['question']))} → <b>{_e(_short(rec['prediction'], 40))}</b> "
        f"<small>(gold: {_e(_short(rec['gold']['answer'], 40))})</small>"
    )
    return (
        f'<details class="ex" data-benchmark="{_e(rec["benchmark"])}" data-correct="{int(bool(rec["correct"]))}">'
        f'<summary>{summary}</summary><div class="head">{figure(shown, crop_boxes(rec["observations"]))}'
        f"{_facts(rec)}</div>{trajectory(rec)}</details>"
    )


def _rewards(extra: Mapping[str, Any]) -> str:
    parts = ", ".join(f"{_e(k)} {v:.3f}" for k, v in extra.get("rewards", {}).items())
    return f"<b>reward {extra['reward']:.3f}</b>" + (f" <small>({parts})</small>" if parts else "")


def group(members: Sequence[Mapping[str, Any]], images: ImageStore) -> str:
    """The rollouts of one RL group as a collapsible section, side by side with their rewards."""
    first = members[0]
    rewards = [m["extra"]["reward"] for m in members]
    verdicts = sorted({str(int(bool(m["correct"]))) for m in members})
    summary = (
        f"<span class='bench'>{_e(first['benchmark'])}</span> group <code>{_e(first['extra']['group'])}</code> · "
        f"{sum(bool(m['correct']) for m in members)}/{len(members)} correct · rewards "
        f"{_e(' '.join(f'{r:.2f}' for r in rewards))} · {_e(_short(first['question']))}"
    )
    columns = []
    for m in members:
        state = "correct" if m["correct"] else "incorrect"
        columns.append(
            f'<div class="member {state}"><h4>{_mark(m["correct"])} <code>{_e(m["id"])}</code></h4>'
            f"<p>{_rewards(m['extra'])}</p><p>prediction <b>{_e(m['prediction']) or '<i>(none)</i>'}</b></p>"
            f"{figure(images.get(m['image']), crop_boxes(m['observations']), MEMBER_SIDE)}"
            f"{trajectory(m)}</div>"
        )
    return (
        f'<details class="ex group" data-benchmark="{_e(first["benchmark"])}" data-correct="{" ".join(verdicts)}">'
        f"<summary>{summary}</summary><p><b>question</b> {_e(first['question'])}<br><b>gold</b> {_gold(first['gold'])}"
        f"<br><b>mean reward</b> {sum(rewards) / len(rewards):.3f}</p>"
        f'<div class="members">{"".join(columns)}</div></details>'
    )


# --- pages -------------------------------------------------------------------------------------------------------


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "run"
    slug, k = base, 1
    while slug in taken or slug == "index":
        k += 1
        slug = f"{base}-{k}"
    taken.add(slug)
    return slug


def _row_page(title: str, records: Sequence[Mapping[str, Any]], images: ImageStore) -> str:
    """One (workflow, model)'s examples in input order, an RL group at the place of its first member."""
    items: list[str] = []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    order: list[Mapping[str, Any] | tuple[str, str]] = []
    for rec in records:
        if "group" not in rec["extra"]:
            order.append(rec)
            continue
        key = (rec["benchmark"], str(rec["extra"]["group"]))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(rec)
    for item in order:
        items.append(group(groups[item], images) if isinstance(item, tuple) else example(item, images))
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in records))
    options = "".join(f'<option value="{_e(b)}">{_e(b)}</option>' for b in benchmarks)
    correct = sum(bool(r["correct"]) for r in records)
    filters = (
        '<div class="filters"><a href="index.html">all runs</a> · benchmark <select id="bench" onchange="filt()">'
        f'<option value="">all</option>{options}</select> · answer <select id="corr" onchange="filt()">'
        '<option value="">all</option><option value="1">correct</option><option value="0">incorrect</option>'
        '</select> · <span id="count"></span> · <button onclick="openAll(true)">expand</button> '
        '<button onclick="openAll(false)">collapse</button></div>'
    )
    head = f"<h1>{_e(title)}</h1><p>{len(records)} trajectories, {correct} correct.</p>"
    return _page(title, head + filters + "\n".join(items) + "<script>filt()</script>", JS)


def write_viewer(records: Iterable[Mapping[str, Any] | ResultRecord], out_dir: Path) -> Path:
    """Write the trajectory viewer of `records` under `out_dir`; return the path of its `index.html`.

    Args:
        records: result records (`ResultRecord` or its JSON dict) of any runs; one page per (workflow, model).
            Relative image paths are opened from the current folder (`evals.report` resolves them first).
        out_dir: the viewer folder (created).
    """
    recs = [dataclasses.asdict(r) if isinstance(r, ResultRecord) else r for r in records]
    out_dir.mkdir(parents=True, exist_ok=True)
    images = ImageStore(out_dir)
    rows: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for rec in recs:
        rows.setdefault((rec["workflow"], rec["model"]), []).append(rec)
    taken: set[str] = set()
    lines = []
    for (workflow, model), mine in rows.items():
        slug = _slug(f"{workflow}-{model}", taken)
        title = f"{workflow} · {model}"
        (out_dir / f"{slug}.html").write_text(_row_page(title, mine, images), encoding="utf-8")
        per = {}
        for b in dict.fromkeys(r["benchmark"] for r in mine):
            of_b = [r for r in mine if r["benchmark"] == b]
            per[b] = f"{_e(b)} {sum(bool(r['correct']) for r in of_b)}/{len(of_b)}"
        lines.append(
            f'<tr><td>{_e(workflow)}</td><td><a href="{_e(slug)}.html">{_e(model)}</a></td>'
            f"<td>{len(mine)}</td><td>{' · '.join(per.values())}</td></tr>"
        )
    table = (
        "<table><tr><th>workflow</th><th>model</th><th>trajectories</th><th>correct per benchmark</th></tr>"
        + "".join(lines)
        + "</table>"
    )
    index = out_dir / "index.html"
    index.write_text(_page("Trajectories", f"<h1>Trajectories</h1>{table}"), encoding="utf-8")
    return index
