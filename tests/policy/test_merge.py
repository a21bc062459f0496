"""`deepmmsearch policy merge`: a LoRA checkpoint becomes a policy that scores like the adapted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from chat_fixtures import parse  # noqa: E402

from policy import cli  # noqa: E402


def _adapter(base: Path, out: Path) -> None:
    """A LoRA adapter with non-zero weights (so merging changes the model), saved like a trainer's checkpoint."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(base)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft = get_peft_model(model, config)
    peft.save_pretrained(out)
    config_path = out / "adapter_config.json"
    saved = json.loads(config_path.read_text())
    saved["base_model_name_or_path"] = str(base)
    config_path.write_text(json.dumps(saved))


def test_merged_checkpoint_scores_like_the_adapted_model_and_keeps_the_profile(tmp_path: Path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from policy.hf import HFPolicy
    from policy.profile import get_profile, load_profile
    from policy.tiny import init_tiny

    init_tiny(tmp_path / "base", size="test")
    get_profile("compact").save(tmp_path / "base")
    _adapter(tmp_path / "base", tmp_path / "checkpoint-3")
    args = parse(["policy", "merge", "--adapter", str(tmp_path / "checkpoint-3"), "--out", str(tmp_path / "merged")])
    assert args.handler(args) == 0

    merged = HFPolicy.from_pretrained(tmp_path / "merged", dtype="fp32", device="cpu")
    profile = load_profile(tmp_path / "merged")
    assert profile is not None and profile.name == "compact"  # eval would use the paper's prompts without it
    load = AutoModelForImageTextToText.from_pretrained
    adapted = PeftModel.from_pretrained(load(tmp_path / "base"), tmp_path / "checkpoint-3")
    base = load(tmp_path / "base")
    ids = torch.tensor([merged.tokenizer.encode("<reason>I search by text")])
    with torch.no_grad():
        got, want, before = (m.eval()(input_ids=ids).logits for m in (merged.model, adapted, base))
    assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(got, before, atol=1e-3)  # the adapter changed the model, and the merge kept that


def test_merge_refuses_a_folder_without_an_adapter(tmp_path: Path, capsys):
    (tmp_path / "plain").mkdir()
    args = parse(["policy", "merge", "--adapter", str(tmp_path / "plain"), "--out", str(tmp_path / "o")])
    assert args.handler(args) == cli.EXIT_BAD_INPUT
    assert "no LoRA adapter" in capsys.readouterr().err
