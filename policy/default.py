"""Which policy a command uses when the user names none: the main job's trained agent once it exists.

Composition roots (`deepmmsearch ask`, `graph/app.py`) call `default_policy_spec`; library code takes a policy.
"""

from __future__ import annotations

from pathlib import Path

MAIN_RUN = Path(__file__).resolve().parents[1] / "runs" / "main"
"""Where `deepmmsearch main` writes by default."""
TRAINED_POLICY = MAIN_RUN / "rl" / "final"
"""The SFT + GRPO checkpoint the main job leaves."""


def default_policy_spec() -> str:
    """`hf:<the main job's SFT+GRPO checkpoint>` once it is saved, else "scripted" (the scripted search plan)."""
    return f"hf:{TRAINED_POLICY}" if (TRAINED_POLICY / "config.json").is_file() else "scripted"
