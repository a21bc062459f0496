import argparse
from pathlib import Path

import pytest

from world.cli import EXIT_ERROR, EXIT_NO_HITS, EXIT_OK, register


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepmmsearch")
    register(p.add_subparsers(dest="command", required=True))
    return p


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    return args.handler(args)


def test_world_build_then_search(parser, tmp_path: Path, capsys):
    out = tmp_path / "w"
    assert run(parser, ["world", "build", "--size", "fixture", "--out", str(out)]) == EXIT_OK
    assert "pages" in capsys.readouterr().out
    assert run(parser, ["world", "search", "capital of France", "--world", str(out), "-k", "2"]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.startswith("1. ") and "Paris" in text
    flag = tmp_path / "flag.png"
    from tools.frozen import FrozenImageSearch

    FrozenImageSearch.open(out).image("fixture:flag-germany").save(flag)
    assert run(parser, ["world", "search", "--image", str(flag), "--world", str(out)]) == EXIT_OK
    assert "Flag of Germany" in capsys.readouterr().out.splitlines()[0]
    assert run(parser, ["world", "search", "qqqzzz", "--world", str(out)]) == EXIT_NO_HITS


def test_search_errors_are_one_line(parser, tmp_path: Path, capsys, world_dir: Path):
    assert run(parser, ["world", "search", "x", "--world", str(tmp_path)]) == EXIT_ERROR
    assert "not a built world" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert run(parser, ["world", "search", "--image", str(bad), "--world", str(world_dir)]) == EXIT_ERROR
    assert run(parser, ["world", "search", "--world", str(world_dir)]) == EXIT_ERROR
    assert run(parser, ["world", "search", "", "--world", str(world_dir)]) == EXIT_ERROR
    assert "empty" in capsys.readouterr().err


def test_build_help_lists_sizes(parser, capsys):
    with pytest.raises(SystemExit):
        parser.parse_args(["world", "build", "--help"])
    assert "fixture" in capsys.readouterr().out
