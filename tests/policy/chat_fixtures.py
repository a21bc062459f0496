"""Shared test data of the model-builder tests: a multi-turn conversation with an image, and the CLI parser."""

from __future__ import annotations

import argparse

from policy import cli

MESSAGES = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which flag is this?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "<reason>r</reason><img_search><img></img_search>"}]},
    {"role": "user", "content": [{"type": "text", "text": "<information>Flag of France</information>"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "<reason>r</reason><answer>France</answer>"}]},
]
"""Two policy turns around one tool result: enough to check assistant masks and templates."""


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse `argv` with the `deepmmsearch` parser's `policy` command."""
    parser = argparse.ArgumentParser(prog="deepmmsearch")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)
