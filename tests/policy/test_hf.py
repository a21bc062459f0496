"""`HFPolicy` on the tiny Qwen2.5-VL: stops, end-of-turn, vision-token suppression, sampling knobs, dtype."""

from __future__ import annotations

import pytest

from nodes.reason import first_messages
from policy.base import GenerationRequest, SamplingParams
from policy.protocol import Answer, parse_step
from tools.images import open_image

torch = pytest.importorskip("torch")

from transformers import LogitsProcessor  # noqa: E402

from policy.hf import VISION_PLACEHOLDERS, HFPolicy, resolve_dtype  # noqa: E402


class Steer(LogitsProcessor):
    """Pushes the given token ids, one per step, then leaves the model alone."""

    def __init__(self, prompt_len: int, ids: list[int], boost: float = 1e4) -> None:
        self.prompt_len, self.ids, self.boost = prompt_len, ids, boost

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_len
        if step < len(self.ids):
            scores = scores.clone()
            scores[:, self.ids[step]] += self.boost
        return scores


class Boost(LogitsProcessor):
    """Adds a large bonus to fixed token ids at every step."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[:, self.ids] += 1e4
        return scores


def request(demo_path, max_new_tokens: int = 16, **params) -> GenerationRequest:
    return GenerationRequest(
        messages=first_messages("Which flag is in the middle?"),
        images=[open_image(str(demo_path))],
        params=SamplingParams(max_new_tokens=max_new_tokens, **params),
    )


def test_stops_on_closing_tag_and_appends_end_of_turn(tiny_policy, demo_path):
    req = request(demo_path, max_new_tokens=40)
    prompt_len = len(tiny_policy.prompt_ids(req))
    tok = tiny_policy.tokenizer
    steer_ids = tok.encode("<reason>x</reason><answer>Paris</answer> and more", add_special_tokens=False)
    policy = HFPolicy(tiny_policy.model, tiny_policy.processor, logits_processors=[Steer(prompt_len, steer_ids)])
    gen = policy.generate(req)
    assert gen.text == "<reason>x</reason><answer>Paris</answer>"
    assert parse_step(gen.text).action == Answer("Paris")
    assert gen.completion_ids[-2:] == [tok.convert_tokens_to_ids("</answer>"), policy.end_id]
    # "model" logprobs: the forced <|im_end|> gets the model's own (low, untrained) log-probability of ending there
    raw = HFPolicy(tiny_policy.model, tiny_policy.processor).score_batch([req], [gen.text])[0]
    assert raw.completion_ids == gen.completion_ids
    assert abs(raw.logprobs[-1] - gen.logprobs[-1]) < 1e-4 and gen.logprobs[-1] < -1.0
    # "sampling" logprobs: the forced token had probability 1
    sampled = HFPolicy(
        tiny_policy.model,
        tiny_policy.processor,
        logprob_mode="sampling",
        logits_processors=[Steer(prompt_len, steer_ids)],
    ).generate(req)
    assert sampled.completion_ids == gen.completion_ids and sampled.logprobs[-1] == 0.0


def test_stop_tag_spelled_in_pieces_also_stops(tiny_policy, demo_path):
    req = request(demo_path, max_new_tokens=40)
    prompt_len = len(tiny_policy.prompt_ids(req))
    pieces = [
        tiny_policy.tokenizer.convert_tokens_to_ids(c) for c in ["<", "/", "t", "ext", "_", "s", "e", "arch", ">"]
    ]
    pieces = [p for p in pieces if p is not None and p != tiny_policy.tokenizer.unk_token_id]
    text = tiny_policy.tokenizer.decode(pieces)
    if text != "</text_search>":
        pytest.skip(f"the fixture vocabulary spells it differently: {text!r}")
    policy = HFPolicy(tiny_policy.model, tiny_policy.processor, logits_processors=[Steer(prompt_len, pieces)])
    gen = policy.generate(req)
    assert gen.text.endswith("</text_search>") and gen.completion_ids[-1] == policy.end_id


def test_vision_placeholders_are_never_generated(tiny_policy, demo_path):
    tok = tiny_policy.tokenizer
    vision = [tok.convert_tokens_to_ids(t) for t in VISION_PLACEHOLDERS]
    policy = HFPolicy(tiny_policy.model, tiny_policy.processor, logits_processors=[Boost(vision)])
    gen = policy.generate(request(demo_path, max_new_tokens=12))
    assert len(gen.completion_ids) == 12 and not set(gen.completion_ids) & set(vision)


def test_truncated_turn_has_no_end_of_turn(tiny_policy, demo_path):
    gen = tiny_policy.generate(request(demo_path, max_new_tokens=5))
    assert len(gen.completion_ids) == len(gen.logprobs) == 5
    assert tiny_policy.end_id not in gen.completion_ids
    assert tiny_policy.tokenizer.decode(gen.completion_ids) == gen.text


def test_model_ending_its_turn_keeps_end_of_turn_once(tiny_policy, demo_path):
    req = request(demo_path, max_new_tokens=30)
    prompt_len = len(tiny_policy.prompt_ids(req))
    ids = tiny_policy.tokenizer.encode("<reason>x</reason>", add_special_tokens=False) + [tiny_policy.end_id]
    policy = HFPolicy(tiny_policy.model, tiny_policy.processor, logits_processors=[Steer(prompt_len, ids)])
    gen = policy.generate(req)
    assert gen.completion_ids == ids and gen.text == "<reason>x</reason>"
    # the next prompt extends the trajectory without a second <|im_end|>
    messages = [*req.messages, {"role": "assistant", "content": [{"type": "text", "text": gen.text}]}]
    messages.append({"role": "user", "content": [{"type": "text", "text": "<information>x</information>"}]})
    nxt = GenerationRequest(messages=messages, images=req.images, context_ids=gen.prompt_ids + gen.completion_ids)
    prompt = policy.prompt_ids(nxt)
    assert prompt == policy.encode(policy.render(messages, True), req.images)
    assert prompt[len(nxt.context_ids)] != policy.end_id


def test_checkpoint_sampling_defaults_do_not_leak(tiny_policy, demo_path):
    model = tiny_policy.model
    saved = model.generation_config.to_dict()
    try:  # Qwen2.5-VL-Instruct ships these
        model.generation_config.top_k = 1
        model.generation_config.repetition_penalty = 1.05
        a = tiny_policy.generate(request(demo_path, max_new_tokens=12))
    finally:
        for key in ("top_k", "repetition_penalty"):
            setattr(model.generation_config, key, saved.get(key))
    b = tiny_policy.generate(request(demo_path, max_new_tokens=12))
    assert a.completion_ids == b.completion_ids


def test_context_without_assistant_turn_is_an_error(tiny_policy, demo_path):
    req = request(demo_path)
    bad = GenerationRequest(messages=req.messages, images=req.images, context_ids=[1, 2, 3])
    with pytest.raises(ValueError, match="no assistant turn"):
        tiny_policy.prompt_ids(bad)


def test_dtype_and_device_resolution(tiny_dir):
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError):
        resolve_dtype("fp8", torch.device("cpu"))
    policy = HFPolicy.from_pretrained(tiny_dir, dtype="bf16", device="cpu")
    assert policy.model.dtype == torch.bfloat16 and policy.device.type == "cpu"


def test_bf16_generation_runs(tiny_dir, demo_path):
    policy = HFPolicy.from_pretrained(tiny_dir, dtype="bf16", device="cpu")
    gen = policy.generate(request(demo_path, max_new_tokens=6))
    assert len(gen.completion_ids) == len(gen.logprobs) > 0


def test_prefix_cache_gives_the_same_trajectory(tiny_policy, tools, inputs):
    from graph import RunConfig, build_graph
    from graph.demo import DEMO_SCRIPT
    from policy.hf import ForcedHFPolicy

    uncached = HFPolicy(tiny_policy.model, tiny_policy.processor, prefix_cache=False)
    cached = HFPolicy(tiny_policy.model, tiny_policy.processor)
    assert cached.prefix_cache and not uncached.prefix_cache
    ctx = RunConfig(max_turns=3, max_new_tokens=10)
    for make in (lambda p: p, lambda p: ForcedHFPolicy(p, DEMO_SCRIPT, mode="generate")):
        a = build_graph(make(cached), tools).invoke(inputs, context=ctx)["trace"]
        b = build_graph(make(uncached), tools).invoke(inputs, context=ctx)["trace"]
        assert a["completion_ids"] == b["completion_ids"] and a["env_mask"] == b["env_mask"]
        assert max(abs(x - y) for x, y in zip(a["logprobs"], b["logprobs"], strict=True)) < 1e-4
    assert cached.prefix_hits >= 4
    assert len(cached._prefixes) == 2  # only the final turns of the two runs, which nothing continues
    cached.clear_prefix_cache()
    assert not cached._prefixes


def test_a_batch_of_one_first_turn_prefills_it_once(tiny_policy, demo_path, tmp_path):
    """Rows starting with the same prompt and image (a GRPO group) share one prefill and generate what separate
    calls would; a different image under the same prompt ids is not shared."""
    from PIL import Image

    req = request(demo_path, max_new_tokens=8)
    alone = tiny_policy.generate(req)
    shared = HFPolicy(tiny_policy.model, tiny_policy.processor)
    copy = request(demo_path, max_new_tokens=8)  # the same file loaded again: equal pixels, another object
    gens = shared.generate_batch([req, copy, req])
    assert shared.shared_prefills == 1 and shared.prefix_hits == 3
    for gen in gens:
        assert gen.prompt_ids == alone.prompt_ids and gen.completion_ids == alone.completion_ids
        assert gen.logprobs == pytest.approx(alone.logprobs, abs=1e-4)

    other = tmp_path / "other.png"
    Image.open(demo_path).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    flipped = request(other, max_new_tokens=8)
    assert tiny_policy.prompt_ids(flipped) == alone.prompt_ids  # same size: the prompt ids cannot tell them apart
    fresh = HFPolicy(tiny_policy.model, tiny_policy.processor)
    mixed = fresh.generate_batch([req, flipped])
    assert fresh.shared_prefills == 0 and fresh.prefix_hits == 0
    assert mixed[1].completion_ids == tiny_policy.generate(flipped).completion_ids
