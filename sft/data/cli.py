"""`deepmmsearch data …`: generate DeepMMSearchVQA, export it, write its card, and replay-check it.

    deepmmsearch data generate --n 10000 --out runs/data        # oracle teacher over runs/world/full
    deepmmsearch data generate --n 500 --teacher openai --base-url http://127.0.0.1:8000/v1 --model Qwen2.5-VL-72B
    deepmmsearch data verify runs/data [--limit 200]              # replay trajectories through the graph
    deepmmsearch data export runs/data                            # (re)write hf/ and README.md

`generate` is deterministic for a seed and resumable: killed and started again with the same options, it continues
where it stopped, losing and duplicating nothing. It exports the datasets and writes the data card when it finishes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from sft.data.pipeline import GenerateConfig

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
_DEFAULTS = {f.name: f.default for f in fields(GenerateConfig)}


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `data` with `generate`, `export` and `verify` to `subparsers`."""
    data = subparsers.add_parser(
        "data",
        help="generate DeepMMSearchVQA (questions + teacher trajectories)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = data.add_subparsers(dest="data_command", required=True)
    g = sub.add_parser("generate", help="questions over the frozen web and teacher trajectories through the graph")
    g.add_argument("--n", type=int, default=_DEFAULTS["n"], help="SFT trajectories to keep (default: %(default)s)")
    g.add_argument("--rl-n", type=int, default=_DEFAULTS["rl_n"], help="RL prompts to keep (default: %(default)s)")
    g.add_argument(
        "--eval-n",
        type=int,
        default=_DEFAULTS["eval_n"],
        help="questions per validation/test split (default: %(default)s)",
    )
    g.add_argument("--out", type=Path, default=Path("runs/data"), help="output folder (default: %(default)s)")
    g.add_argument("--world", type=Path, default=Path("runs/world/full"), help="built world (default: %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="seed of splits, sampling and wording (default: 0)")
    g.add_argument("--teacher", choices=("oracle", "openai"), default="oracle", help="programmatic oracle or an LLM")
    g.add_argument("--base-url", help="OpenAI-compatible endpoint of the LLM teacher (…/v1)")
    g.add_argument("--model", help="model name of the LLM teacher")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env variable with the teacher's API key")
    g.add_argument("--search-free-share", type=float, default=0.5, help="share of search-free questions (paper: 0.5)")
    g.add_argument("--imperfect-share", type=float, default=0.3, help="share of oracle runs that refine a vague query")
    g.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    g.add_argument(
        "--profile",
        choices=("paper", "compact"),
        default="paper",
        help="prompt style and summary budgets (policy/profile.py): 'paper' for large MLLMs, 'compact' for the "
        "small CPU default policy; SFT records it in the checkpoint (default: %(default)s)",
    )
    g.add_argument("--no-export", action="store_true", help="skip writing hf/ datasets and the card")
    g.set_defaults(handler=handle_generate)
    e = sub.add_parser("export", help="write the Hugging Face datasets and the data card of a generated folder")
    e.add_argument("folder", type=Path)
    e.set_defaults(handler=handle_export)
    v = sub.add_parser("verify", help="replay stored trajectories through the graph; exit 1 on any difference")
    v.add_argument("folder", type=Path)
    v.add_argument("--world", type=Path, help="world to replay against (default: the one the folder was made with)")
    v.add_argument("--limit", type=int, help="check only the first N SFT trajectories")
    v.set_defaults(handler=handle_verify)
    return data


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201
    return EXIT_BAD_INPUT


def handle_generate(args: argparse.Namespace) -> int:
    """Generate (or resume), then export and write the card."""
    from sft.data.pipeline import generate

    cfg = GenerateConfig(
        world=str(args.world),
        out=str(args.out),
        n=args.n,
        rl_n=args.rl_n,
        eval_n=args.eval_n,
        seed=args.seed,
        teacher=args.teacher,
        base_url=args.base_url,
        model=args.model,
        api_key_env=args.api_key_env,
        search_free_share=args.search_free_share,
        imperfect_share=args.imperfect_share,
        workers=args.workers,
        profile=args.profile,
    )
    if args.teacher == "openai" and not (args.base_url and args.model):
        return _err("--teacher openai needs --base-url and --model")
    try:
        summary = generate(cfg)
    except ValueError as exc:
        return _err(str(exc))
    print(json.dumps(summary, indent=1))  # noqa: T201
    return EXIT_OK if args.no_export else handle_export(argparse.Namespace(folder=args.out))


def handle_export(args: argparse.Namespace) -> int:
    """Write hf/ and README.md."""
    from sft.data.card import write_card
    from sft.data.export import export

    try:
        paths = export(args.folder)
    except ValueError as exc:
        return _err(str(exc))
    card = write_card(args.folder)
    print(f"datasets: {paths['sft']}, {paths['questions']}\ncard: {card}")  # noqa: T201
    return EXIT_OK


def handle_verify(args: argparse.Namespace) -> int:
    """Replay SFT trajectories; print the report."""
    from sft.data.pipeline import ATTEMPTS, CONFIG, _read_attempts
    from sft.data.replay import replay

    folder: Path = args.folder
    if not (folder / ATTEMPTS).is_file():
        return _err(f"{folder}: no {ATTEMPTS}")
    config = json.loads((folder / CONFIG).read_text())["config"]
    world = str(args.world) if args.world else config["world"]
    records = [r for r in _read_attempts(folder / ATTEMPTS).values() if r.get("use") == "sft"][: args.limit]
    report = replay(folder, world, records, profile=config.get("profile", "paper"))
    print(f"replayed {report.checked}: {report.identical} identical")  # noqa: T201
    for line in report.mismatches:
        print(f"  {line}")  # noqa: T201
    return EXIT_OK if report.ok else EXIT_FAIL
