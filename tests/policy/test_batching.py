"""Micro-batching of concurrent policy calls: gathering, bounds, failures, and equality with unbatched generation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from graph import RunConfig, build_graph
from graph.demo import DEMO_SCRIPT
from nodes.reason import first_messages
from policy.base import Generation, GenerationRequest, SamplingParams
from policy.batching import BatchingPolicy
from tools.images import open_image


class EchoBackend:
    """Answers each request with its first message's text; records the size of every batch."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> Generation:
        return self.generate_batch([request])[0]

    def generate_batch(self, requests):
        with self.lock:
            self.batches.append(len(requests))
        time.sleep(self.delay)
        texts = [r.messages[0]["content"][0]["text"] for r in requests]
        if self.fail_on in texts:
            raise RuntimeError(f"bad request {self.fail_on}")
        return [Generation(text=t) for t in texts]


def req(text: str) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": [{"type": "text", "text": text}]}], images=[])


def test_concurrent_calls_share_a_batch_and_keep_their_rows():
    backend = EchoBackend(delay=0.05)
    with BatchingPolicy(backend, max_batch_size=16, max_wait_ms=20) as policy, ThreadPoolExecutor(8) as pool:
        out = list(pool.map(lambda i: policy.generate(req(str(i))).text, range(8)))
    assert out == [str(i) for i in range(8)]
    assert sum(backend.batches) == 8 and len(backend.batches) <= 2


def test_batches_never_exceed_max_batch_size():
    backend = EchoBackend(delay=0.01)
    with BatchingPolicy(backend, max_batch_size=3, max_wait_ms=20) as policy, ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: policy.generate(req(str(i))), range(10)))
    assert max(backend.batches) <= 3 and sum(backend.batches) == 10


def test_a_lone_request_waits_at_most_the_quiet_period():
    backend = EchoBackend()
    with BatchingPolicy(backend, max_batch_size=16, max_wait_ms=30) as policy:
        start = time.perf_counter()
        assert policy.generate(req("x")).text == "x"
        assert time.perf_counter() - start < 0.5
    assert backend.batches == [1]


def test_a_failing_request_fails_only_its_own_caller():
    backend = EchoBackend(delay=0.02, fail_on="3")
    with BatchingPolicy(backend, max_batch_size=8, max_wait_ms=20) as policy, ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(policy.generate, req(str(i))) for i in range(6)]
        results = [f.exception() or f.result().text for f in futures]
    assert [r for r in results if isinstance(r, str)] == ["0", "1", "2", "4", "5"]
    assert isinstance(results[3], RuntimeError)


def test_backend_without_generate_batch_is_called_per_request():
    class Single:
        def generate(self, request):
            return Generation(text="ok")

    with BatchingPolicy(Single()) as policy:
        assert policy.generate(req("a")).text == "ok"
        assert policy.generate_batch([req("a"), req("b")]) == [Generation(text="ok")] * 2


def test_closed_policy_refuses_calls():
    policy = BatchingPolicy(EchoBackend())
    policy.close()
    with pytest.raises(RuntimeError, match="closed"):
        policy.generate(req("x"))


# ---- with the tiny Qwen2.5-VL --------------------------------------------------------------------------------------


def test_batched_greedy_generation_equals_unbatched(tiny_policy, demo_path):
    pytest.importorskip("torch")
    image = open_image(str(demo_path))
    questions = ["Which flag?", "Which country's flag is in the middle of this picture, and what is its capital?", "?"]
    requests = [
        GenerationRequest(
            messages=first_messages(q), images=[image], params=SamplingParams(max_new_tokens=n, temperature=0.0)
        )
        for q, n in zip(questions, [9, 4, 14], strict=True)
    ]
    batched = tiny_policy.generate_batch(requests)
    for request, row in zip(requests, batched, strict=True):
        alone = tiny_policy.generate(request)
        assert row.prompt_ids == alone.prompt_ids and row.completion_ids == alone.completion_ids
        assert row.text == alone.text
        assert max(abs(a - b) for a, b in zip(row.logprobs, alone.logprobs, strict=True)) < 1e-4
    assert [len(g.completion_ids) for g in batched] == [9, 4, 14]


def test_eight_concurrent_rollouts_share_generate_calls(tiny_policy, tools, inputs):
    pytest.importorskip("torch")
    from policy.hf import ForcedHFPolicy

    forced = ForcedHFPolicy(tiny_policy, DEMO_SCRIPT)
    calls: list[int] = []
    inner = forced.generate_batch

    def counting(requests):
        calls.append(len(requests))
        return inner(requests)

    forced.generate_batch = counting  # type: ignore[method-assign]
    with BatchingPolicy(forced, max_batch_size=16, max_wait_ms=50) as policy:
        graph = build_graph(policy, tools)
        states = graph.batch([inputs] * 8, context=RunConfig(), config={"max_concurrency": 8})
    turns = len(DEMO_SCRIPT)
    assert sum(calls) == 8 * turns
    assert len(calls) <= 2 * turns, calls  # about one batched call per turn, not 8
    alone = build_graph(ForcedHFPolicy(tiny_policy, DEMO_SCRIPT), tools).invoke(inputs)
    for state in states:
        assert state["answer"] == "Paris"
        assert state["trace"]["completion_ids"] == alone["trace"]["completion_ids"]
        assert (
            max(abs(a - b) for a, b in zip(state["trace"]["logprobs"], alone["trace"]["logprobs"], strict=True)) < 1e-4
        )


def test_callers_coming_back_from_tools_meet_in_one_batch():
    """After a batch, its callers are waited for (up to max_delay_ms) even when they return further apart than the
    quiet period, as rollouts do when their tool calls take different times."""
    backend = EchoBackend()
    with BatchingPolicy(backend, max_batch_size=16, max_wait_ms=2, max_delay_ms=500) as policy:
        barrier = threading.Barrier(6)

        def rollout(i: int) -> None:
            barrier.wait()
            policy.generate(req(f"{i}-turn1"))
            time.sleep(0.02 * i)  # tools: 0-100 ms, arrivals 20 ms apart, far beyond the 2 ms quiet period
            policy.generate(req(f"{i}-turn2"))

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(rollout, range(6)))
    assert backend.batches[-1] == 6 and sum(backend.batches) == 12


def test_finished_callers_are_waited_for_only_once():
    backend = EchoBackend()
    with BatchingPolicy(backend, max_batch_size=16, max_wait_ms=2, max_delay_ms=100) as policy:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: policy.generate(req(str(i))), range(4)))  # 4 callers served, none comes back
        start = time.perf_counter()
        policy.generate(req("late"))  # waits up to max_delay_ms for the 4, then forgets them
        first = time.perf_counter() - start
        start = time.perf_counter()
        policy.generate(req("later"))
        second = time.perf_counter() - start
    assert first < 0.5 and second < first
