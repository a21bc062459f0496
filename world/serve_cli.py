"""`deepmmsearch serve`: the search server over a world, so many rollout workers share one index.

    deepmmsearch serve                                   # the fixture world on http://127.0.0.1:8765
    deepmmsearch serve --world runs/world --port 9000    # a built frozen web
    python -m world.serve_cli serve --port 0             # standalone; port 0 picks a free port

`register(subparsers)` adds the sub-command to a parser; its handler is `args.handler(args)` (`handle`). Clients use
`tools.remote.remote_toolset(url)`.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from tools.base import Toolset

EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `serve` sub-command to `subparsers` and return its parser."""
    p = subparsers.add_parser("serve", help="serve text search, image search and grounding over HTTP")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default: 8765)")
    p.add_argument("--world", default="fixture", help="a built world folder, or 'fixture' (default)")
    p.add_argument("--concurrency", type=int, default=1, help="calls that may run in each backend at once")
    p.set_defaults(handler=handle)
    return p


def load_toolset(world: str) -> Toolset:
    """The toolset the server exposes: the fixture world's, or the frozen web's backends over a built world.

    Raises:
        ValueError: `world` is neither "fixture" nor a folder.
    """
    if world != "fixture" and not Path(world).is_dir():
        raise ValueError(
            f"{world}: no such world folder (build one with `deepmmsearch world build`, or use 'fixture')"
        )
    from tools.defaults import default_toolset

    return default_toolset(world)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def handle(args: argparse.Namespace) -> int:
    """Run the server until interrupted; returns the exit code (2 for a bad world or port)."""
    from tools.server import serve

    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a TCP port", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    if args.concurrency < 1:
        print(f"error: --concurrency {args.concurrency} must be ≥ 1", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    try:
        tools = load_toolset(args.world)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    port = args.port or _free_port(args.host)
    # one line on stdout, so scripts (and the server benchmark) can wait for it
    print(f"serving {args.world} on http://{args.host}:{port}  (GET /health)", flush=True)  # noqa: T201
    serve(tools, host=args.host, port=port, concurrency=args.concurrency)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m world.serve_cli serve [...]`."""
    parser = argparse.ArgumentParser(prog="python -m world.serve_cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
