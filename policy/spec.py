"""Policy specs: the one string every command takes to name a policy (`--policy`, `DEEPMMSEARCH_POLICY`).

`oracle` (the programmatic teacher with the gold chain; frozen-web questions only), `scripted` (the fixed search
plan of `policy.scripted`), `hf:DIR` (a transformers checkpoint, micro-batched), `openai:MODEL` (any
OpenAI-compatible endpoint at `base_url`). Backends are imported only when named, so this module stays light.
"""

from __future__ import annotations

import os
from typing import Any


def policy_from_spec(
    spec: str,
    *,
    concurrency: int = 1,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_turns: int = 10,
    allow_crop: bool = True,
) -> Any:
    """The policy a spec names (see the module docstring); `concurrency` bounds an hf: policy's batches.

    Raises:
        ValueError: an unknown spec, or an endpoint spec without `base_url`.
    """
    if spec == "oracle":
        from sft.data.teacher import OracleTeacher

        return OracleTeacher(imperfect_share=0.0, max_turns=max_turns, crop=allow_crop)
    if spec == "scripted":
        from policy.scripted import ScriptedPolicy, search_plan_script

        return ScriptedPolicy(search_plan_script())
    if spec.startswith("hf:"):
        from policy.batching import BatchingPolicy
        from policy.hf import HFPolicy

        return BatchingPolicy(HFPolicy.from_pretrained(spec[3:]), max_batch_size=max(1, concurrency))
    if spec.startswith("openai:"):
        from policy.openai_compat import OpenAIChatPolicy

        if not base_url:
            raise ValueError("an openai: policy needs --base-url")
        return OpenAIChatPolicy(base_url, spec[7:], api_key=os.environ.get(api_key_env), token_ids=False)
    raise ValueError(f"unknown policy {spec!r}: use oracle, scripted, hf:DIR or openai:MODEL")


def trained_profile(spec: str) -> str:
    """The profile an `hf:DIR` checkpoint was trained with, else "paper"."""
    if spec.startswith("hf:"):
        from policy.profile import load_profile

        saved = load_profile(spec[3:])
        if saved is not None:
            return saved.name
    return "paper"
