"""Protocol profiles: the prompt style and summary budgets a policy is trained and run with.

A policy trained on compact prompts and three-sentence summaries is out of distribution on the paper's long
prompts, and vice versa. So the profile is chosen once, when DeepMMSearchVQA is generated (`data generate
--profile`), recorded in the data folder's `generate.json`, copied into every checkpoint SFT writes
(`PROFILE_FILE`), and read back by evaluation and `ask` when they load that checkpoint.

- `paper`: the paper's prompts (App. E.1) and summary budgets (10–12 text sentences, 4–5 image sentences).
- `compact`: one-line prompts and three-sentence summaries, for small policies on CPU (the embedded default):
  trajectories are about a third as long, which is what makes SFT and GRPO fit the 2-core budgets.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graph.context import RunConfig

PROFILE_FILE = "deepmmsearch_profile.json"
"""The file in a checkpoint directory that names the profile it was trained with."""


@dataclass(frozen=True)
class Profile:
    """How prompts and tool outputs are worded for one policy."""

    name: str
    style: str
    """Prompt style of `policy.prompts` ("paper" or "compact")."""
    text_sentences: int | None
    """Sentences per text-search summary (None: the summariser's own budget)."""
    image_sentences: int | None
    """Sentences per image-search summary (None: the summariser's own budget)."""

    def run_config(self, base: RunConfig | None = None, **overrides: Any) -> RunConfig:
        """`base` (or the default `RunConfig`) with this profile's fields set, then `overrides`."""
        from graph.context import RunConfig

        fields = {"style": self.style, "text_sentences": self.text_sentences, "image_sentences": self.image_sentences}
        return replace(base or RunConfig(), **{**fields, **overrides})

    def save(self, directory: str | Path) -> Path:
        """Write the profile into a checkpoint directory; returns the file."""
        path = Path(directory) / PROFILE_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        return path


PROFILES: dict[str, Profile] = {
    "paper": Profile("paper", "paper", None, None),
    "compact": Profile("compact", "compact", 3, 3),
}


def get_profile(name: str) -> Profile:
    """The named profile.

    Raises:
        ValueError: an unknown name.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {sorted(PROFILES)}")
    return PROFILES[name]


def load_profile(directory: str | Path) -> Profile | None:
    """The profile saved in a checkpoint directory, or None when it has none (a stock checkpoint: use `paper`).

    Raises:
        ValueError: the file exists but does not name a known profile consistently.
    """
    path = Path(directory) / PROFILE_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    profile = get_profile(data.get("name", ""))
    if asdict(profile) != data:
        raise ValueError(f"{path} does not match the {profile.name!r} profile of this version: {data}")
    return profile
