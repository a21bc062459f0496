"""One definition for a job that is both a `deepmmsearch` sub-command and a script (`python evals/run.py …`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    """A job's command line: its options and its handler, usable as a sub-command or as a script's `main`."""

    name: str
    help: str
    description: str
    prog: str
    """The script's name in its own `--help` (e.g. "evals/run.py")."""
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handle: Callable[[argparse.Namespace], int]

    def register(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Add the job to the `deepmmsearch` command."""
        p = subparsers.add_parser(
            self.name,
            help=self.help,
            description=self.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.add_arguments(p)
        p.set_defaults(handler=self.handle)
        return p

    def main(self, argv: list[str] | None = None) -> int:
        """Parse `argv` as the script and run the job; return the exit code."""
        p = argparse.ArgumentParser(
            prog=self.prog, description=self.description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        self.add_arguments(p)
        return self.handle(p.parse_args(argv))
