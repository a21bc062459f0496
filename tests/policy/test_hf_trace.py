"""Token-exact traces: the real graph, the tiny Qwen2.5-VL through `HFPolicy`, multi-turn trajectories with an image.

The invariant: prompt_ids + completion_ids of a finished trajectory equal the chat template's tokenisation of its
final transcript (with the image), up to the template's newline after the last `<|im_end|>`, which no turn
produced; and env_mask is 1 exactly on the policy's tokens (the template's assistant mask, minus the newline the
template puts after each `<|im_end|>`, which the environment inserts with the next turn).
"""

from __future__ import annotations

import math

import pytest

from graph import RunConfig, build_graph
from graph.demo import DEMO_SCRIPT
from policy.base import Generation, GenerationRequest
from tools.images import open_image

pytest.importorskip("torch")

from policy.hf import ForcedHFPolicy, HFPolicy  # noqa: E402

R = "<reason>thinking</reason>"


class Recording:
    """Wraps a policy and records every (request, generation) pair."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[GenerationRequest, Generation]] = []

    def generate(self, request: GenerationRequest) -> Generation:
        gen = self.inner.generate(request)
        self.calls.append((request, gen))
        return gen


def template_ids_and_mask(policy: HFPolicy, state: dict) -> tuple[list[int], list[int]]:
    """The chat template's tokenisation of the final transcript (with the image) and its assistant mask."""
    image = open_image(state["image"]["uri"])
    messages = [dict(m) for m in state["messages"]]
    first = messages[0]
    messages[0] = {
        "role": first["role"],
        "content": [{"type": "image", "image": image} if p["type"] == "image" else p for p in first["content"]],
    }
    out = policy.processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    return list(out["input_ids"][0]), list(out["assistant_masks"][0])


def assert_token_exact(policy: HFPolicy, state: dict) -> None:
    trace = state["trace"]
    ids = trace["prompt_ids"] + trace["completion_ids"]
    ref, assistant = template_ids_and_mask(policy, state)
    newline = policy.tokenizer.encode("\n", add_special_tokens=False)
    assert ref[-len(newline) :] == newline and ids == ref[: -len(newline)]
    expected = [0 if i and ref[i - 1] == policy.end_id else m for i, m in enumerate(assistant)]
    assert [0] * len(trace["prompt_ids"]) + trace["env_mask"] == expected[: len(ids)]
    assert len(trace["logprobs"]) == len(trace["completion_ids"])
    assert all(lp == 0.0 for lp, m in zip(trace["logprobs"], trace["env_mask"], strict=True) if m == 0)
    assert all(lp < 0.0 and math.isfinite(lp) for lp, m in zip(trace["logprobs"], trace["env_mask"], strict=True) if m)


SCRIPTS = {
    "crop-image-text-text-answer": DEMO_SCRIPT,
    "parse-error-whole-image-answer": [
        "I think it is France",  # no tags: a format error comes back as an observation
        f"{R}\n<img_search><img></img_search>",
        f"{R}<text_search>capital of France</text_search>",
        f"{R}<answer>Paris</answer>",
    ],
    "refused-second-image-search": [
        f"{R}<img_search>[24, 24, 120, 88]</img_search>",
        f"{R}<img_search>the flag on the left</img_search>",
        f"{R}<answer>Tokyo</answer>",
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_forced_trajectory_is_token_exact(name, tiny_policy, tools, inputs):
    policy = Recording(ForcedHFPolicy(tiny_policy, SCRIPTS[name]))
    state = build_graph(policy, tools).invoke(inputs, context=RunConfig(max_new_tokens=256))
    assert state["stop_reason"] == "answered"
    assert state["counters"]["turns"] == len(SCRIPTS[name]) >= 3
    assert_token_exact(tiny_policy, state)
    # every prompt, built by extending the trajectory's ids, equals a full re-tokenisation of that turn's transcript
    for request, gen in policy.calls:
        full = tiny_policy.render(request.messages, add_generation_prompt=True)
        assert gen.prompt_ids == tiny_policy.encode(full, request.images)
        assert gen.prompt_ids[: len(request.context_ids)] == request.context_ids
        assert gen.completion_ids[-1] == tiny_policy.end_id


def test_score_and_constrained_generation_agree(tiny_policy, tools, inputs):
    scored = build_graph(ForcedHFPolicy(tiny_policy, DEMO_SCRIPT, mode="score"), tools).invoke(inputs)
    generated = build_graph(ForcedHFPolicy(tiny_policy, DEMO_SCRIPT, mode="generate"), tools).invoke(inputs)
    a, b = scored["trace"], generated["trace"]
    assert a["completion_ids"] == b["completion_ids"] and a["env_mask"] == b["env_mask"]
    assert max(abs(x - y) for x, y in zip(a["logprobs"], b["logprobs"], strict=True)) < 1e-4


def test_untrained_free_generation_runs_end_to_end(tiny_policy, tools, inputs):
    state = build_graph(tiny_policy, tools).invoke(inputs, context=RunConfig(max_turns=3, max_new_tokens=12))
    assert state["stop_reason"] == "max_turns"
    assert state["counters"]["turns"] == 3
    assert state["counters"]["parse_errors"] == 3  # garbage output, reported back as format observations
    assert [o["tool"] for o in state["observations"]] == ["format"] * 3
    assert all("Invalid format" in m["content"][0]["text"] for m in state["messages"][2::2])
    trace = state["trace"]
    assert sum(trace["env_mask"]) == sum(t["num_tokens"] for t in state["turns"])
    # turns cut at max_new_tokens carry no end-of-turn: the template's <|im_end|> comes back as an environment token
    ends = [i for i, t in enumerate(trace["completion_ids"]) if t == tiny_policy.end_id]
    assert ends and all(trace["env_mask"][i] == 0 for i in ends)


def test_sampling_is_seeded_and_logprobs_follow_the_temperature(tiny_dir, tools, inputs):
    a = HFPolicy.from_pretrained(tiny_dir, dtype="fp32", device="cpu", seed=7)
    b = HFPolicy.from_pretrained(tiny_dir, dtype="fp32", device="cpu", seed=7, logprob_mode="sampling")
    ctx = RunConfig(max_turns=2, max_new_tokens=10, temperature=1.5, top_p=0.9)
    sa = build_graph(a, tools).invoke(inputs, context=ctx)
    sb = build_graph(b, tools).invoke(inputs, context=ctx)
    assert sa["trace"]["completion_ids"] == sb["trace"]["completion_ids"]  # same seed, same draws
    la = [x for x, m in zip(sa["trace"]["logprobs"], sa["trace"]["env_mask"], strict=True) if m]
    lb = [x for x, m in zip(sb["trace"]["logprobs"], sb["trace"]["env_mask"], strict=True) if m]
    # top-p renormalises over the nucleus, so the sampling distribution puts at least as much mass on each draw
    assert all(y >= x - 1e-5 for x, y in zip(la, lb, strict=True)) and la != lb
