"""Fold a LoRA training checkpoint into its base model, as a checkpoint every command loads (`hf:DIR`).

SFT and GRPO runs save `checkpoint-N` folders of LoRA adapters every `save_steps` (for resuming), and only `final`
with the adapters merged, the processor and the prompt profile. Choosing a checkpoint on the validation split — the
honest way to pick how far a GRPO run should go — needs the intermediate ones evaluated too; this makes them
loadable the same way, with the base checkpoint's processor and profile (without the profile an evaluation would
silently fall back to the paper's prompts).

    deepmmsearch policy merge --adapter runs/rl/tiny-cpu/checkpoint-10 --out runs/rl/tiny-cpu/merged-10
"""

from __future__ import annotations

import json
from pathlib import Path


def adapter_base(adapter: Path) -> Path:
    """The base model an adapter folder was trained on (`adapter_config.json`'s `base_model_name_or_path`).

    Raises:
        ValueError: the folder holds no adapter, or names no base.
    """
    config = _adapter_config(adapter)
    base = json.loads(config.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config} names no base model; pass --base")
    return Path(base)


def _adapter_config(adapter: Path) -> Path:
    config = adapter / "adapter_config.json"
    if not config.is_file():
        raise ValueError(f"{adapter} holds no LoRA adapter (no adapter_config.json)")
    return config


def merge_adapter(adapter: Path, out: Path, base: Path | None = None) -> Path:
    """Load `base` (default: the adapter's own), apply the adapter, merge it, and save weights, processor, profile.

    Raises:
        ValueError: no adapter in `adapter`, or a base folder that does not exist.
    """
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from policy.processors import load_processor
    from policy.profile import load_profile

    _adapter_config(adapter)
    base = base or adapter_base(adapter)
    if not (base / "config.json").is_file():
        raise ValueError(f"base model {base} does not exist (run from the training run's folder, or pass --base)")
    model = AutoModelForImageTextToText.from_pretrained(base, dtype="auto")
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    load_processor(base).save_pretrained(out)
    profile = load_profile(base)
    if profile is not None:
        profile.save(out)
    return out
