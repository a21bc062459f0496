"""VLLMPolicy: prompt extension with Qwen2.5-VL's real chat template, and the policy on a fake engine (CPU);
the real engine under the `gpu` marker.

Run: pytest tests/policy/test_vllm.py            (CPU: import, prompt extension, fake engine)
     pytest -m gpu tests/policy/test_vllm.py     (GPU machine with `pip install ".[gpu]"`; set VLLM_TEST_MODEL to a
                                                  Qwen2.5-VL checkpoint directory, e.g. Qwen2.5-VL-3B-Instruct)
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from importlib.util import find_spec
from pathlib import Path

import pytest
from mock_openai import apply_stop
from PIL import Image

from graph import RunConfig, build_graph
from graph.demo import DEMO_SCRIPT
from policy.base import ChatMessage, GenerationRequest, SamplingParams
from policy.openai_compat import ACTION_STOPS
from policy.vllm import QWEN_END_OF_TURN, collapse_placeholders, extend_prompt

transformers = pytest.importorskip("transformers")

R = "<reason>r</reason>"
PATCHES = 5
"""Tokens the fake engine expands each image placeholder to."""
SPECIAL = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def qwen_template(name: str = "qwen2_5_vl.jinja") -> str:
    """Qwen2.5-VL's chat template as TRL ships it (read from the installed package, without importing it)."""
    spec = find_spec("trl")
    if spec is None or spec.origin is None:
        pytest.skip("trl is not installed")
    return (Path(spec.origin).parent / "chat_templates" / name).read_text()


@pytest.fixture(scope="module", params=["qwen2_5_vl.jinja", "qwen2_5_vl_training.jinja"])
def tok(request):
    """A byte-level tokenizer (no merges) with Qwen's special tokens and Qwen2.5-VL's chat template."""
    from tokenizers import pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    t = transformers.Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=SPECIAL,
    )
    t.chat_template = qwen_template(request.param)
    return t


def processor(tok) -> types.SimpleNamespace:
    return types.SimpleNamespace(tokenizer=tok, apply_chat_template=tok.apply_chat_template)


def expand(ids: list[int], pad: int) -> list[int]:
    return [x for t in ids for x in ([pad] * PATCHES if t == pad else [t])]


# ---------------------------------------------------------------- import and install hint


def test_import_needs_no_vllm_nor_torch():
    code = "import sys, policy.vllm; print(sorted({'vllm', 'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_constructing_without_vllm_names_the_extra(monkeypatch):
    from policy.vllm import VLLMPolicy

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError, installed or not
    with pytest.raises(ImportError, match=r'pip install "\.\[gpu\]"'):
        VLLMPolicy("any-model")


# ---------------------------------------------------------------- prompt extension


def test_collapse_placeholders():
    assert collapse_placeholders([7, 7, 1, 7, 7, 7, 2, 7], 7) == [7, 1, 7, 2, 7]
    assert collapse_placeholders([], 7) == []


def _render(tok):
    return lambda messages, gen: tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)


def _encode(tok):
    return lambda text: tok.encode(text, add_special_tokens=False)


def test_extend_prompt_tokenises_only_the_new_text(tok):
    eot = frozenset({tok.eos_token_id})
    render, encode = _render(tok), _encode(tok)
    user = ChatMessage(role="user", content=[{"type": "image"}, {"type": "text", "text": "Q?"}])
    first = extend_prompt(render, encode, [user], [], eot)
    assert first == encode(render([user], True))
    # turn 1 stopped on a closing tag: no end-of-turn sampled; the template's one is inserted by the next prompt
    out1 = f"{R}<text_search>q</text_search>"
    ctx = first + encode(out1)
    info = ChatMessage(role="user", content=[{"type": "text", "text": "<information>x</information>"}])
    msgs = [user, ChatMessage(role="assistant", content=[{"type": "text", "text": out1}]), info]
    second = extend_prompt(render, encode, msgs, ctx, eot)
    assert second[: len(ctx)] == ctx and second == encode(render(msgs, True))
    # turn 2 ended with the model's own end-of-turn token: it is not inserted twice
    out2 = "no tags at all"
    ctx = second + encode(out2) + [tok.eos_token_id]
    msgs = [*msgs, ChatMessage(role="assistant", content=[{"type": "text", "text": out2}]), info]
    third = extend_prompt(render, encode, msgs, ctx, eot)
    assert third[: len(ctx)] == ctx and third == encode(render(msgs, True))
    assert tok.decode(third[len(ctx) :]).startswith("\n<|im_start|>user\n<information>")


def test_extend_prompt_rejects_a_template_that_rewrites_history():
    def render(messages, gen):  # numbers assistant headers: the history renders differently later
        n = sum(m["role"] == "assistant" for m in messages)
        body = "".join(f"[{m['role']}{n}]" + m["content"][0]["text"] for m in messages)
        return body + (f"[assistant{n + 1}]" if gen else "")

    msgs = [
        ChatMessage(role="user", content=[{"type": "text", "text": "q"}]),
        ChatMessage(role="assistant", content=[{"type": "text", "text": "a"}]),
        ChatMessage(role="user", content=[{"type": "text", "text": "i"}]),
    ]
    with pytest.raises(ValueError, match="prefix-preserving"):
        extend_prompt(render, lambda s: list(s.encode()), msgs, [1, 2], frozenset())
    with pytest.raises(ValueError, match="no assistant turn"):
        extend_prompt(render, lambda s: list(s.encode()), msgs[:1], [1, 2], frozenset())


# ---------------------------------------------------------------- the policy on a fake engine


class FakeLLM:
    """Stands in for `vllm.LLM`: expands image placeholders, 'samples' scripted text, applies stop strings."""

    def __init__(self, tok, **kwargs) -> None:
        self.tok, self.kwargs = tok, kwargs
        self.pad = tok.convert_tokens_to_ids("<|image_pad|>")
        self.script: list[str] = []
        self.calls: list[tuple[list[dict], list]] = []

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        outs = []
        for prompt, p in zip(prompts, params, strict=True):
            ids = prompt["prompt_token_ids"]
            images = prompt.get("multi_modal_data", {}).get("image", [])
            assert ids.count(self.pad) == len(images), "vLLM wants one unexpanded placeholder per image"
            kept, stop = apply_stop(self.script.pop(0), p.stop)
            text = kept + (stop or "")  # include_stop_str_in_output=True
            sampled = self.tok.encode(text, add_special_tokens=False) + ([] if stop else [self.tok.eos_token_id])
            steps = [{t: types.SimpleNamespace(logprob=-0.5)} for t in sampled]
            sample = types.SimpleNamespace(text=text, token_ids=sampled, logprobs=steps)
            outs.append(types.SimpleNamespace(prompt_token_ids=expand(ids, self.pad), outputs=[sample]))
        return outs


@pytest.fixture
def fake_policy(tok, monkeypatch):
    from policy.vllm import VLLMPolicy

    fake = types.ModuleType("vllm")
    fake.LLM = lambda **kw: FakeLLM(tok, **kw)
    fake.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    return VLLMPolicy("fake/qwen2.5-vl", processor=processor(tok), max_model_len=4096, enforce_eager=True)


def test_engine_arguments_and_sampling_params(fake_policy):
    assert fake_policy.llm.kwargs == {
        "model": "fake/qwen2.5-vl",
        "dtype": "bfloat16",
        "max_model_len": 4096,
        "limit_mm_per_prompt": {"image": 4},
        "gpu_memory_utilization": 0.85,
        "seed": 0,
        "enforce_eager": True,
    }
    sp = fake_policy.sampling_params(SamplingParams(max_new_tokens=33, temperature=0.6, top_p=0.9))
    assert vars(sp) == {
        "n": 1,
        "temperature": 0.6,
        "top_p": 0.9,
        "max_tokens": 33,
        "stop": list(ACTION_STOPS),
        "include_stop_str_in_output": True,
        "logprobs": 0,
    }


@pytest.mark.parametrize("script", [DEMO_SCRIPT, ["I am not sure what to do.", f"{R}<answer>Paris</answer>"]])
def test_graph_run_gives_an_exact_trace(fake_policy, tok, tools, inputs, script):
    fake_policy.llm.script = list(script)
    out = build_graph(fake_policy, tools).invoke(inputs, context=RunConfig())
    assert out["answer"] == "Paris"
    trace = out["trace"]
    ids = trace["prompt_ids"] + trace["completion_ids"]
    text = tok.apply_chat_template(out["messages"], tokenize=False, add_generation_prompt=False)
    full = expand(tok.encode(text, add_special_tokens=False), fake_policy.image_token_id)
    # the last turn stopped on </answer>: only the template's closing end-of-turn is missing
    assert ids + tok.encode("<|im_end|>\n", add_special_tokens=False) == full
    assert ids.count(fake_policy.image_token_id) == PATCHES  # expanded in the trace ...
    for prompts, _ in fake_policy.llm.calls:  # ... collapsed for the engine
        assert prompts[0]["prompt_token_ids"].count(fake_policy.image_token_id) == 1
    policy_ids = [t for t, m in zip(trace["completion_ids"], trace["env_mask"], strict=True) if m]
    sampled = [tok.encode(t["output"], add_special_tokens=False) for t in out["turns"]]
    eos_turns = [t for t in out["turns"] if not t["output"].endswith(ACTION_STOPS)]
    assert len(policy_ids) == sum(map(len, sampled)) + len(eos_turns) == out["counters"]["response_tokens"]
    assert set(trace["logprobs"]) == {-0.5, 0.0}


def test_generate_batch_keeps_request_order(fake_policy):
    fake_policy.llm.script = [f"{R}<answer>{i}</answer>" for i in range(3)]
    requests = [
        GenerationRequest(
            messages=[ChatMessage(role="user", content=[{"type": "image"}, {"type": "text", "text": f"q{i}"}])],
            images=[Image.new("RGB", (8, 8), "red")],
        )
        for i in range(3)
    ]
    gens = fake_policy.generate_batch(requests)
    assert [g.text for g in gens] == [f"{R}<answer>{i}</answer>" for i in range(3)]
    assert len(fake_policy.llm.calls) == 1 and len(fake_policy.llm.calls[0][0]) == 3
    for i, g in enumerate(gens):
        assert g.prompt_ids.count(fake_policy.image_token_id) == PATCHES
        assert f"q{i}" in fake_policy.processor.tokenizer.decode(g.prompt_ids)
        assert len(g.logprobs) == len(g.completion_ids)


# ---------------------------------------------------------------- the real engine (GPU machines)


@pytest.fixture(scope="module")
def real_policy():
    pytest.importorskip("vllm")
    model = os.environ.get("VLLM_TEST_MODEL")
    if not model:
        pytest.skip("set VLLM_TEST_MODEL to a Qwen2.5-VL checkpoint directory")
    from policy.vllm import VLLMPolicy

    return VLLMPolicy(model, max_model_len=8192, gpu_memory_utilization=0.5, enforce_eager=True)


@pytest.mark.gpu
def test_real_engine_graph_trace(real_policy, tools, inputs):
    # an untrained or instruct model may not follow the protocol: parse errors flow as observations
    out = build_graph(real_policy, tools).invoke(inputs, context=RunConfig(max_turns=3, max_new_tokens=128))
    trace = out["trace"]
    assert len(trace["completion_ids"]) == len(trace["env_mask"]) == len(trace["logprobs"])
    assert all(lp <= 0.0 for lp in trace["logprobs"])
    assert sum(trace["env_mask"]) == out["counters"]["response_tokens"]
    # the first prompt, image patches included, is what the trainer's processor produces for the same turn
    image = Image.open(inputs["image"]["uri"]).convert("RGB")
    proc = real_policy.processor
    text = proc.apply_chat_template(out["messages"][:1], tokenize=False, add_generation_prompt=True)
    expected = [int(i) for i in proc(text=[text], images=[image])["input_ids"][0]]
    assert trace["prompt_ids"] == expected


@pytest.mark.gpu
def test_real_engine_batch_matches_single_greedy(real_policy, inputs):
    from nodes.reason import first_messages

    image = Image.open(inputs["image"]["uri"]).convert("RGB")
    req = GenerationRequest(
        messages=first_messages(inputs["question"]), images=[image], params=SamplingParams(max_new_tokens=48)
    )
    single = real_policy.generate(req)
    batch = real_policy.generate_batch([req, req, req])
    assert all(g.completion_ids == single.completion_ids for g in batch)
    assert all(QWEN_END_OF_TURN[0] not in g.text for g in batch)


def test_from_engine_wraps_a_running_engine(fake_policy, tok):
    """GRPO's colocated engine (`trainer.vllm_generation.llm`) serves the graph through the same class."""
    from policy.vllm import VLLMPolicy

    engine = fake_policy.llm
    wrapped = VLLMPolicy.from_engine(engine, processor(tok))
    assert wrapped.llm is engine and wrapped.image_token_id == fake_policy.image_token_id
    engine.script = [f"{R}<answer>ok</answer>"]
    request = GenerationRequest(
        messages=[ChatMessage(role="user", content=[{"type": "image"}, {"type": "text", "text": "q"}])],
        images=[Image.new("RGB", (8, 8), "red")],
        params=SamplingParams(max_new_tokens=8),
    )
    gen = wrapped.generate(request)
    assert gen.text.endswith("<answer>ok</answer>") and gen.completion_ids
