"""The offline tiny-model builder and its CLI: sizes, tokenizer, chat template, save/reload round trip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from chat_fixtures import MESSAGES, parse  # noqa: E402

from policy import cli  # noqa: E402
from policy.hf import HFPolicy  # noqa: E402
from policy.processors import Qwen2_5_VLImageOnlyProcessor, Qwen2VLImageOnlyProcessor, load_processor  # noqa: E402
from policy.tiny import PROTOCOL_TOKENS, SIZES, SPECIAL_TOKENS, build_model, build_tokenizer, init_tiny  # noqa: E402


def test_test_size_is_small_and_fast(tmp_path):
    start = time.perf_counter()
    build = init_tiny(tmp_path / "t", size="test")
    assert time.perf_counter() - start < 2.0
    assert build.params < 1_000_000 and build.vision_params > 0
    assert {"config.json", "model.safetensors", "chat_template.jinja", "tokenizer.json"} <= {
        p.name for p in (tmp_path / "t").iterdir()
    }


def test_default_size_is_in_the_learnability_range():
    tok = build_tokenizer(["a tiny corpus about France and Paris"] * 4, SIZES["default"].vocab_size)
    model = build_model(tok, SIZES["default"])
    params = sum(p.numel() for p in model.parameters())
    assert 4_000_000 <= params <= 10_000_000


def test_cli_sizes_match_the_builder():
    assert set(cli.SIZE_CHOICES) == set(SIZES)


def test_cli_init_tiny_round_trip(tmp_path, inputs):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The capital of France is Paris.\n\nThe capital of Japan is Tokyo.\n" * 20)
    args = parse(["policy", "init-tiny", "--out", str(tmp_path / "m"), "--corpus", str(corpus), "--seed", "3"])
    assert args.handler(args) == 0
    built = json.loads((tmp_path / "m" / "tiny_build.json").read_text())
    assert built["size"] == "test" and built["arch"] == "qwen2_5_vl"
    policy = HFPolicy.from_pretrained(tmp_path / "m", dtype="fp32", device="cpu")
    assert isinstance(policy.processor, Qwen2_5_VLImageOnlyProcessor)
    assert type(policy.model).__name__ == "Qwen2_5_VLForConditionalGeneration"


def test_cli_rejects_missing_corpus(tmp_path, capsys):
    args = parse(["policy", "init-tiny", "--out", str(tmp_path / "m"), "--corpus", str(tmp_path / "nope.txt")])
    assert args.handler(args) == cli.EXIT_BAD_INPUT
    assert "neither a text file nor a built world" in capsys.readouterr().err


def test_tags_and_special_tokens_are_single_tokens(tiny_policy):
    tok = tiny_policy.tokenizer
    for token in PROTOCOL_TOKENS + SPECIAL_TOKENS:
        assert len(tok.encode(token, add_special_tokens=False)) == 1, token
    text = "<reason>x</reason><text_search>capital of France</text_search>"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_chat_template_has_generation_markers_and_assistant_mask(tiny_policy):
    processor = tiny_policy.processor
    assert "{% generation %}" in processor.chat_template.replace("{%- generation -%}", "{% generation %}")
    from PIL import Image

    image = {"type": "image", "image": Image.new("RGB", (96, 64), "red")}
    messages = [{"role": "user", "content": [image, MESSAGES[0]["content"][1]]}, *MESSAGES[1:]]
    out = processor.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"][0], out["assistant_masks"][0]
    kept = tiny_policy.tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert kept == (
        "<reason>r</reason><img_search><img></img_search><|im_end|>\n<reason>r</reason><answer>France</answer><|im_end|>\n"
    )


def test_chat_template_is_prefix_preserving(tiny_policy):
    for k in (1, 3):
        prompt = tiny_policy.render(MESSAGES[:k], add_generation_prompt=True)
        assert tiny_policy.render(MESSAGES[: k + 1], add_generation_prompt=False).startswith(prompt)


def test_save_reload_gives_identical_generation(tmp_path, tiny_policy, inputs):
    from graph.build import build_graph
    from tools.fixture import fixture_toolset

    tiny_policy.model.save_pretrained(tmp_path / "copy")
    tiny_policy.processor.save_pretrained(tmp_path / "copy")
    again = HFPolicy.from_pretrained(tmp_path / "copy", dtype="fp32", device="cpu")
    from graph import RunConfig

    ctx = RunConfig(max_turns=2, max_new_tokens=8)
    a = build_graph(tiny_policy, fixture_toolset()).invoke(inputs, context=ctx)
    b = build_graph(again, fixture_toolset()).invoke(inputs, context=ctx)
    # the same tokens; log-probabilities to float rounding (CPU kernels may pick another blocking for the reloaded
    # tensors' memory layout, which changes the last bits of a sum)
    assert {k: v for k, v in a["trace"].items() if k != "logprobs"} == {
        k: v for k, v in b["trace"].items() if k != "logprobs"
    }
    assert a["trace"]["logprobs"] == pytest.approx(b["trace"]["logprobs"], abs=1e-5)


def test_qwen2_vl_variant_builds_and_generates(tmp_path, inputs):
    from graph import RunConfig, build_graph
    from tools.fixture import fixture_toolset

    init_tiny(tmp_path / "q2", size="test", arch="qwen2_vl")
    assert isinstance(load_processor(tmp_path / "q2"), Qwen2VLImageOnlyProcessor)
    policy = HFPolicy.from_pretrained(tmp_path / "q2", dtype="fp32", device="cpu")
    state = build_graph(policy, fixture_toolset()).invoke(inputs, context=RunConfig(max_turns=1, max_new_tokens=6))
    assert state["counters"]["turns"] == 1 and state["trace"]["prompt_ids"]


def test_load_processor_without_torchvision_is_image_only(tiny_dir):
    processor = load_processor(tiny_dir, use_stock=False)
    assert isinstance(processor, Qwen2_5_VLImageOnlyProcessor)
    assert not hasattr(processor, "video_processor") or processor.video_processor is None


def test_unknown_size_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        init_tiny(tmp_path, size="huge")  # type: ignore[arg-type]


def test_built_dir_is_self_describing(tiny_dir: Path):
    info = json.loads((tiny_dir / "tiny_build.json").read_text())
    assert info["spec"]["hidden"] == SIZES["test"].hidden


def test_tokenizer_corpus_from_a_built_world(tmp_path):
    from policy.tiny import read_corpus
    from world.build import build_world

    build_world("fixture", tmp_path / "world")
    texts = read_corpus(tmp_path / "world")
    assert any(t.startswith("France\n") for t in texts)  # its pages, title first
    assert any(t.startswith("Question: ") for t in texts)  # and the compact prompts
