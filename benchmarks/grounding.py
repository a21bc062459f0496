"""Grounding accuracy of the offline `CompositeGrounder` on generated composites: box IoU ≥ 0.5 per expression.

Run from the repository root:

    .venv/bin/python benchmarks/grounding.py --composites 300 --out runs/bench/grounding.json
    .venv/bin/python benchmarks/grounding.py --images DIR --kind image   # any folder of PNG/JPEG images

Each composite pastes 2–4 distinct source images (the fixture world's flags by default), resized so their longer
side is 40–200 px, in a row, a column, a 2×2 grid or a scatter, over a plain, noisy, gradient, checked or striped
background (`tools.composites`). A share of them (`--jpeg`) is re-encoded as JPEG at quality 60–90. Every
referring expression the layout makes unambiguous is asked (positions, ordinals, colours, sizes, colour+position);
an answer counts when its box has IoU ≥ 0.5 with the pasted image's box. Target (issue 3): ≥ 95 %.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from tools.base import ToolError
from tools.composites import iou, jpeg, probes, random_composite
from tools.grounding import CompositeGrounder
from world.fixture import build_fixture_world

TARGET = 0.95


def source_images(folder: Path | None) -> list[Image.Image]:
    """The fixture world's images, or every PNG/JPEG image in `folder`."""
    if folder is None:
        return [i.image for i in build_fixture_world().images]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    return [Image.open(p).convert("RGB") for p in files]


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print the table and return the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--composites", type=int, default=300, help="how many composites to generate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jpeg", type=float, default=0.25, help="share of composites re-encoded as JPEG (quality 60–90)")
    p.add_argument("--images", type=Path, help="folder of source images (default: the fixture world's flags)")
    p.add_argument("--kind", default="flag", help="object noun used in the expressions")
    p.add_argument(
        "--contrast", type=float, default=100.0, help="least RGB distance of background colours from image outlines"
    )
    p.add_argument("--out", type=Path, help="write the JSON report here")
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    images = source_images(args.images)
    grounder = CompositeGrounder()
    rows: list[dict] = []
    latencies: list[float] = []
    start = time.perf_counter()
    for n in range(args.composites):
        comp = random_composite(images, rng, contrast=args.contrast)
        compressed = rng.random() < args.jpeg
        image = jpeg(comp.image, rng.randint(60, 90)) if compressed else comp.image
        for probe in probes(comp, args.kind):
            t0 = time.perf_counter()
            try:
                box = grounder.ground(image, probe.expression)
                score = iou(box, probe.box)
                error = None
            except ToolError as exc:
                score, error = 0.0, str(exc)
            latencies.append(time.perf_counter() - t0)
            rows.append(
                dict(
                    composite=n,
                    layout=comp.layout,
                    background=comp.background + ("+jpeg" if compressed else ""),
                    kind=probe.kind,
                    expression=probe.expression,
                    iou=round(score, 4),
                    error=error,
                )
            )
    elapsed = time.perf_counter() - start

    def share(rs: list[dict]) -> float:
        return sum(r["iou"] >= 0.5 for r in rs) / len(rs)

    groups: dict[str, dict[str, list[dict]]] = {"kind": defaultdict(list), "layout": defaultdict(list)}
    groups["background"] = defaultdict(list)
    for r in rows:
        for g in groups:
            groups[g][r[g]].append(r)
    overall = share(rows)
    report = {
        "benchmark": "grounding",
        "grounder": "CompositeGrounder",
        "composites": args.composites,
        "expressions": len(rows),
        "iou_ge_0.5": round(overall, 4),
        "mean_iou": round(statistics.fmean(r["iou"] for r in rows), 4),
        "target": TARGET,
        "passed": overall >= TARGET,
        "latency_ms_p50": round(statistics.median(latencies) * 1e3, 2),
        "by": {
            g: {k: {"n": len(v), "iou_ge_0.5": round(share(v), 4)} for k, v in sorted(d.items())}
            for g, d in groups.items()
        },
        "failures": [r for r in rows if r["iou"] < 0.5][:50],
        "seed": args.seed,
        "contrast": args.contrast,
        "source_images": len(images),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "seconds": round(elapsed, 1),
    }

    console = Console()
    table = Table(title=f"CompositeGrounder: share of expressions with box IoU ≥ 0.5 ({len(rows)} expressions)")
    for col in ("group", "value", "n", "IoU ≥ 0.5"):
        table.add_column(col, justify="right" if col in ("n", "IoU ≥ 0.5") else "left")
    for g, d in report["by"].items():
        for k, v in d.items():
            table.add_row(g, k, str(v["n"]), f"{v['iou_ge_0.5']:.1%}")
    table.add_row("all", "", str(len(rows)), f"{overall:.1%}", style="bold")
    console.print(table)
    console.print(
        f"mean IoU {report['mean_iou']:.3f}; p50 {report['latency_ms_p50']} ms per expression; "
        f"target {TARGET:.0%}: {'met' if report['passed'] else 'NOT met'}; {elapsed:.1f} s"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
