"""YAML recipes for the training jobs: a frozen dataclass per job, read from a file, overridden by flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def load_recipe(cls: type[T], path: Path, required: Iterable[str], **overrides: Any) -> T:
    """Read the YAML recipe at `path` into the dataclass `cls`, then apply the non-None `overrides`.

    Raises:
        ValueError: a key `cls` does not have, or a `required` key that neither the file nor the overrides set.
    """
    import yaml  # type: ignore[import-untyped]

    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a mapping of keys to values")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{path}: unknown recipe keys {sorted(unknown)}; known: {sorted(known)}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    missing = set(required) - set(data)
    if missing:
        raise ValueError(f"{path}: the recipe needs {sorted(missing)}")
    return cls(**data)


COMMON_OVERRIDES = ("out", "max_steps", "learning_rate", "report_to", "max_seconds")
"""Recipe fields every training job lets a flag override (`add_recipe_arguments`)."""


def add_recipe_arguments(p: argparse.ArgumentParser, recipes: str) -> None:
    """The options every training job has: its recipe and the `COMMON_OVERRIDES` flags."""
    p.add_argument("--config", type=Path, required=True, help=f"YAML recipe ({recipes})")
    p.add_argument("--out", help="override: output folder")
    p.add_argument("--max-steps", type=int, help="override: stop after N optimiser steps")
    p.add_argument("--learning-rate", type=float, help="override: (peak) learning rate")
    p.add_argument("--report-to", help="override: wandb (offline by default) or none")
    p.add_argument("--max-seconds", type=float, help="override: stop (and save) after this much training time")


def run_recipe_job(
    args: argparse.Namespace,
    load: Callable[..., R],
    overrides: Iterable[str],
    inputs: Callable[[R], dict[str, str]],
    train: Callable[[R], dict[str, Any]],
) -> int:
    """The command-line body of a training job: load the recipe, check its inputs exist, train, print the summary.

    wandb logs offline unless `WANDB_MODE` says otherwise. Bad input (a bad recipe, a missing input folder, a
    `ValueError` from training's setup) prints one line and returns 2; Ctrl-C prints one line (the same command
    resumes from the last checkpoint) and returns 130.

    Args:
        args: parsed arguments with `config` and the `overrides` attributes.
        load: `Recipe.load(path, **overrides)`.
        overrides: the recipe fields that flags may override.
        inputs: what must exist before training, as {what: path}.
        train: runs the recipe and returns its summary.
    """
    import json
    import os
    import sys

    os.environ.setdefault("WANDB_MODE", "offline")
    try:
        recipe = load(args.config, **{k: getattr(args, k) for k in overrides})
        for what, path in inputs(recipe).items():
            if not Path(path).exists():
                raise ValueError(f"{what} {path} does not exist")
        summary = train(recipe)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:  # the shell's own exit status for Ctrl-C
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)  # noqa: T201
        return 130
    print(json.dumps(summary, indent=1))  # noqa: T201
    return 0
