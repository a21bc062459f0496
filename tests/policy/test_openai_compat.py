"""OpenAIChatPolicy against a local scripted server (tests/policy/mock_openai.py); offline, a few seconds.

Run: pytest tests/policy/test_openai_compat.py
"""

from __future__ import annotations

import logging

import pytest
from mock_openai import LOGPROB, MockOpenAI, Reply
from PIL import Image

from graph import RunConfig, build_graph
from graph.demo import DEMO_SCRIPT
from policy.base import ChatMessage, GenerationRequest, SamplingParams
from policy.openai_compat import ACTION_STOPS, OpenAIChatPolicy, PolicyBackendError, restore_stop
from policy.scripted import ByteChatTemplate
from tools.images import open_image

R = "<reason>r</reason>"
KEY = "sk-test-SECRET-4242"


def request(images: int = 1, context_ids: list[int] | None = None, **params) -> GenerationRequest:
    colours = ["red", "blue", "green"]
    return GenerationRequest(
        messages=[
            ChatMessage(role="system", content=[{"type": "text", "text": "be brief"}]),
            ChatMessage(
                role="user",
                content=[{"type": "image"}] * images + [{"type": "text", "text": "what is this?"}],
            ),
        ],
        images=[Image.new("RGB", (16 + i, 12), colours[i]) for i in range(images)],
        context_ids=context_ids or [],
        params=SamplingParams(**params),
    )


def policy(mock: MockOpenAI, **kw) -> OpenAIChatPolicy:
    kw.setdefault("backoff", 0.01)
    return OpenAIChatPolicy(mock.url, "mock-vl", **kw)


def test_messages_and_images_are_converted():
    req = request(images=2)
    with MockOpenAI([Reply(f"{R}<answer>a</answer>")]) as mock:
        policy(mock).generate(req)
    system, user = mock.received[0].body["messages"]
    assert system == {"role": "system", "content": "be brief"}  # text-only messages are plain strings
    assert [p["type"] for p in user["content"]] == ["image_url", "image_url", "text"]
    for part, image in zip(user["content"][:2], req.images, strict=True):
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        decoded = open_image(url)
        assert decoded.size == image.size and decoded.tobytes() == image.tobytes()


def test_image_count_must_match():
    req = request(images=1)
    bad = GenerationRequest(messages=req.messages, images=req.images * 2)
    with pytest.raises(ValueError, match="1 image parts but the request has 2 images"):
        OpenAIChatPolicy("http://127.0.0.1:9/v1", "m").generate(bad)


def test_sampling_params_stops_and_extras_are_sent():
    with MockOpenAI([Reply(f"{R}<answer>a</answer>")]) as mock:
        policy(mock, api_key=KEY, extra_body={"top_k": 5, "seed": 3}).generate(
            request(max_new_tokens=77, temperature=0.7, top_p=0.9)
        )
    got = mock.received[0]
    assert got.path == "/v1/chat/completions"
    assert got.headers["Authorization"] == f"Bearer {KEY}"
    body = got.body
    assert body["model"] == "mock-vl"
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (77, 0.7, 0.9)
    assert body["stop"] == ["</text_search>", "</img_search>", "</answer>"] == list(ACTION_STOPS)
    assert body["logprobs"] is True and body["return_token_ids"] is True
    assert (body["top_k"], body["seed"]) == (5, 3)


def test_token_ids_off_sends_a_plain_request():
    with MockOpenAI([Reply(f"{R}<answer>a</answer>")]) as mock:
        gen = policy(mock, token_ids=False).generate(request())
    assert "logprobs" not in mock.received[0].body and "return_token_ids" not in mock.received[0].body
    assert gen.completion_ids == [] and gen.text == f"{R}<answer>a</answer>"


@pytest.mark.parametrize("vllm", [True, False])
@pytest.mark.parametrize(
    "output",
    [
        f"{R}<answer>Paris</answer>",
        f"{R}<text_search>capital of France</text_search>",
        f"{R}<img_search><img></img_search>",
    ],
)
def test_stripped_stop_string_is_restored(vllm, output):
    with MockOpenAI([Reply(output + " and then some")], vllm=vllm) as mock:
        gen = policy(mock).generate(request())
    assert mock.received  # the server really stripped it: see mock_openai.apply_stop
    assert gen.text == output


@pytest.mark.parametrize(
    ("text", "finish", "stop_reason", "expected"),
    [
        ("<answer>x", "stop", ..., "<answer>x</answer>"),  # OpenAI: infer from the open tag
        ("<answer>x", "stop", "</answer>", "<answer>x</answer>"),  # vLLM names the stop
        ("<answer>x", "stop", None, "<answer>x"),  # vLLM: the model ended the turn itself
        ("<answer>x", "length", ..., "<answer>x"),  # cut by max_tokens: leave it malformed
        ("<answer>x</answer>", "stop", ..., "<answer>x</answer>"),  # server kept the stop string
        ("<answer>x</answer>", "stop", "</answer>", "<answer>x</answer>"),
        ("<reason>only reasoning</reason>", "stop", ..., "<reason>only reasoning</reason>"),
        ("<text_search>a</text_search><answer>b", "stop", ..., "<text_search>a</text_search><answer>b</answer>"),
    ],
)
def test_restore_stop(text, finish, stop_reason, expected):
    assert restore_stop(text, finish, ACTION_STOPS, stop_reason) == expected


def test_token_ids_give_an_exact_trace_through_the_graph(tools, inputs):
    with MockOpenAI([Reply(t) for t in DEMO_SCRIPT]) as mock:
        out = build_graph(policy(mock), tools).invoke(inputs, context=RunConfig())
    assert out["answer"] == "Paris" and out["stop_reason"] == "answered"
    assert len(mock.received) == len(DEMO_SCRIPT)
    trace, template = out["trace"], ByteChatTemplate()
    ids = trace["prompt_ids"] + trace["completion_ids"]
    full = template.encode(template.render(out["messages"], add_generation_prompt=False))
    # every turn stopped on its closing tag, so the last turn's end-of-turn marker is the template's, not sampled
    assert ids + template.encode("<|end|>\n") == full
    assert len(trace["completion_ids"]) == len(trace["env_mask"]) == len(trace["logprobs"])
    policy_ids = [i for i, m in zip(trace["completion_ids"], trace["env_mask"], strict=True) if m]
    assert bytes(policy_ids).decode() == "".join(t["output"] for t in out["turns"]) == "".join(DEMO_SCRIPT)
    assert sum(trace["env_mask"]) == out["counters"]["response_tokens"]
    assert {lp for lp, m in zip(trace["logprobs"], trace["env_mask"], strict=True) if m} == {LOGPROB}
    assert {lp for lp, m in zip(trace["logprobs"], trace["env_mask"], strict=True) if not m} == {0.0}


def test_text_only_server_gives_an_empty_trace(tools, inputs):
    with MockOpenAI([Reply(t) for t in DEMO_SCRIPT], vllm=False) as mock:
        out = build_graph(policy(mock), tools).invoke(inputs, context=RunConfig())
    assert out["answer"] == "Paris"
    assert out["trace"] == {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": []}
    assert [t["output"] for t in out["turns"]] == DEMO_SCRIPT
    assert out["counters"]["response_tokens"] == sum(len(t.split()) for t in DEMO_SCRIPT)


def test_missing_token_ids_mid_trajectory_is_an_error():
    with MockOpenAI([Reply(f"{R}<answer>a</answer>")], vllm=False) as mock:
        with pytest.raises(PolicyBackendError, match="no token ids in the middle of a traced trajectory"):
            policy(mock).generate(request(context_ids=[1, 2, 3]))


def test_rate_limit_is_retried(caplog):
    script = [Reply(status=429, error="slow down", retry_after=0), Reply(status=503), Reply(f"{R}<answer>a</answer>")]
    with MockOpenAI(script) as mock, caplog.at_level(logging.WARNING, logger="policy.openai_compat"):
        gen = policy(mock, max_retries=2).generate(request())
    assert gen.text == f"{R}<answer>a</answer>"
    assert len(mock.received) == 3
    assert "HTTP 429: slow down; retry 1 of 2" in caplog.text and "HTTP 503" in caplog.text


def test_server_errors_exhaust_the_retries():
    with MockOpenAI([Reply(status=500, error="engine dead")] * 3) as mock:
        with pytest.raises(PolicyBackendError, match=r"gave up after 3 attempts; last: HTTP 500: engine dead") as err:
            policy(mock, max_retries=2).generate(request())
    assert err.value.status == 500 and len(mock.received) == 3
    assert "mock-vl at http://127.0.0.1:" in str(err.value)


def test_client_errors_are_not_retried():
    with MockOpenAI([Reply(status=400, error="max_tokens is too large"), Reply("unused")]) as mock:
        with pytest.raises(PolicyBackendError, match="HTTP 400: max_tokens is too large") as err:
            policy(mock, max_retries=3).generate(request())
    assert err.value.status == 400 and len(mock.received) == 1


def test_timeout_is_retried_then_reported():
    with MockOpenAI([Reply("late", delay_s=0.6), Reply(f"{R}<answer>a</answer>")]) as mock:
        assert policy(mock, timeout=0.2, max_retries=1).generate(request()).text == f"{R}<answer>a</answer>"
    with MockOpenAI([Reply("late", delay_s=0.6)] * 2) as mock:
        with pytest.raises(PolicyBackendError, match="gave up after 2 attempts; last: no answer within the 0.2 s"):
            policy(mock, timeout=0.2, max_retries=1).generate(request())


def test_connection_refused_is_reported():
    with MockOpenAI([]) as mock:
        url = mock.url
    with pytest.raises(PolicyBackendError, match="connection failed"):
        OpenAIChatPolicy(url, "m", max_retries=0).generate(request())


def test_api_key_is_never_shown(caplog):
    script = [Reply(status=429, error=f"key {KEY} is rate limited"), Reply(status=401, error=f"invalid key {KEY}")]
    with MockOpenAI(script) as mock, caplog.at_level(logging.DEBUG):
        p = policy(mock, api_key=KEY, max_retries=1)
        with pytest.raises(PolicyBackendError) as err:
            p.generate(request())
    assert mock.received[0].headers["Authorization"] == f"Bearer {KEY}"  # it is sent ...
    shown = [repr(p), str(p), str(vars(p)), str(err.value), repr(err.value), caplog.text]
    assert not any(KEY in s for s in shown)  # ... and never shown
    assert "api_key='***'" in repr(p) and "invalid key ***" in str(err.value)
    assert "api_key=None" in repr(OpenAIChatPolicy("http://127.0.0.1:9/v1", "m"))
