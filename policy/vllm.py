"""The vLLM engine backend (GPU machines, `pip install ".[gpu]"`): batched generation with exact token ids.

`VLLMPolicy` runs an in-process `vllm.LLM` on token prompts with multimodal data
(`{"prompt_token_ids": ..., "multi_modal_data": {"image": [...]}}`) and returns the text, the prompt ids, the sampled
ids and their logprobs. `generate_batch` sends many requests to the engine at once; `policy.batching` gathers the
calls of concurrent graph rollouts into it.

The prompt of a later turn extends the trajectory's own ids: `extend_prompt` renders the transcript with the
model's chat template, cuts the text right after the last assistant turn and tokenises only what the environment
added after it (end of turn, the tool-result user turn, the assistant header). Earlier turns are never
re-tokenised, so the trace is token-exact by construction. Two details of that contract:

- A turn cut by a stop string (an action's closing tag) ends with the stop string's ids; the end-of-turn token after
  it is template text that the next prompt inserts (environment tokens, `env_mask` 0). A turn the model ended with
  its end-of-turn token keeps that token, and the template's copy is not inserted twice.
- vLLM expands each image placeholder (`<|image_pad|>` for Qwen2-VL / Qwen2.5-VL) to one token per image patch and
  reports the expanded prompt. The trace keeps the expanded ids (what a trainer's processor produces); before a
  prompt goes back to the engine the expanded runs are collapsed to one placeholder each, which vLLM expands again.

vLLM is imported inside `VLLMPolicy.__init__`, so `import policy.vllm` works on machines without it. vLLM does not
run on this project's CPU machines (`../shared/research/stack.md` §1); CPU tests drive the class through a fake
engine, and the `gpu`-marked tests run the real one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from policy.base import ChatMessage, Generation, GenerationRequest, SamplingParams
from policy.openai_compat import ACTION_STOPS
from policy.templates import extend_ids, suffix_after_last_turn

QWEN_IMAGE_TOKEN = "<|image_pad|>"
"""The image placeholder of Qwen2-VL and Qwen2.5-VL chat templates."""
QWEN_END_OF_TURN = ("<|im_end|>", "<|endoftext|>")
"""Tokens that end a Qwen assistant turn."""
INSTALL_HINT = 'VLLMPolicy needs vLLM, which runs on CUDA GPU machines: pip install ".[gpu]"'


class ChatTokenizer(Protocol):
    """The part of a transformers tokenizer that the backend uses."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]:
        """Token ids of `text`."""
        ...

    def convert_tokens_to_ids(self, tokens: str) -> int:
        """The id of one token."""
        ...


class ChatProcessor(Protocol):
    """A transformers processor (or tokenizer) with the model's chat template."""

    tokenizer: ChatTokenizer

    def apply_chat_template(self, conversation: list[ChatMessage], **kwargs: Any) -> str:
        """Render `conversation` (called with `tokenize=False`)."""
        ...


def extend_prompt(
    render: Callable[[list[ChatMessage], bool], str],
    encode: Callable[[str], list[int]],
    messages: list[ChatMessage],
    context_ids: list[int],
    end_of_turn_ids: frozenset[int],
) -> list[int]:
    """The prompt ids for the next turn, extending `context_ids` without re-tokenising them.

    Args:
        render: `render(messages, add_generation_prompt)` with the model's chat template.
        encode: tokenises text without adding special tokens of its own.
        messages: the transcript, ending with the environment's new user turn(s).
        context_ids: prompt + completion ids of the trajectory so far; empty on the first turn.
        end_of_turn_ids: ids that end an assistant turn.

    Returns:
        `encode(render(messages, True))` on the first turn; afterwards `context_ids` followed by the ids of the
        template text that comes after the last assistant turn's content.

    Raises:
        ValueError: there is no assistant turn to extend, or the template does not render the last assistant
            turn right after the generation prompt of the transcript before it (it is not prefix-preserving).
    """
    if not context_ids:
        return encode(render(messages, True))
    suffix, _ = suffix_after_last_turn(render, messages)
    return extend_ids(context_ids, encode(suffix), end_of_turn_ids)


def collapse_placeholders(ids: list[int], placeholder_id: int) -> list[int]:
    """Collapse each run of `placeholder_id` to one id (undoes vLLM's per-patch expansion of image placeholders).

    Example:
        >>> collapse_placeholders([1, 9, 9, 9, 2, 9, 3], 9)
        [1, 9, 2, 9, 3]
    """
    return [t for i, t in enumerate(ids) if t != placeholder_id or i == 0 or ids[i - 1] != placeholder_id]


class VLLMPolicy:
    """A `Policy` on an in-process vLLM engine, with `generate_batch` for micro-batched rollouts.

    Example (on a GPU machine):
        >>> policy = VLLMPolicy("Qwen/Qwen2.5-VL-7B-Instruct", max_model_len=16384)  # doctest: +SKIP
        >>> build_graph(policy, tools).batch(inputs, context=RunConfig())  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str,
        *,
        processor: ChatProcessor | None = None,
        dtype: str = "bfloat16",
        max_model_len: int = 32768,
        max_images: int = 4,
        gpu_memory_utilization: float = 0.85,
        seed: int = 0,
        stop: Sequence[str] = ACTION_STOPS,
        image_token: str = QWEN_IMAGE_TOKEN,
        end_of_turn: Sequence[str] = QWEN_END_OF_TURN,
        **llm_kwargs: Any,
    ) -> None:
        """Start the engine (loads the weights onto the GPU).

        Args:
            model: a checkpoint directory or hub name (`AutoModelForImageTextToText`-compatible).
            processor: renders the chat template and tokenises; default `AutoProcessor.from_pretrained(model)`.
            dtype: engine weights dtype.
            max_model_len: the longest prompt + completion, in tokens (image patches included).
            max_images: images allowed per prompt (`limit_mm_per_prompt`).
            gpu_memory_utilization: fraction of GPU memory vLLM may take (weights + KV cache).
            seed: engine seed, for reproducible sampling.
            stop: stop strings; the action's closing tags by default.
            image_token: the chat template's image placeholder token.
            end_of_turn: tokens that end an assistant turn.
            **llm_kwargs: more `vllm.LLM` arguments (e.g. `mm_processor_kwargs={"max_pixels": ...}`,
                `enforce_eager=True`, `tensor_parallel_size=2`, `logprobs_mode="processed_logprobs"`).

        Raises:
            ImportError: vLLM is not installed.
        """
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        if processor is None:
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(model)
        engine = vllm.LLM(
            model=model,
            dtype=dtype,
            max_model_len=max_model_len,
            limit_mm_per_prompt={"image": max_images},
            gpu_memory_utilization=gpu_memory_utilization,
            seed=seed,
            **llm_kwargs,
        )
        self._bind(engine, processor, stop, image_token, end_of_turn)

    @classmethod
    def from_engine(
        cls,
        llm: Any,
        processor: ChatProcessor,
        *,
        stop: Sequence[str] = ACTION_STOPS,
        image_token: str = QWEN_IMAGE_TOKEN,
        end_of_turn: Sequence[str] = QWEN_END_OF_TURN,
    ) -> VLLMPolicy:
        """Wrap an engine that already runs.

        For example the engine TRL's GRPO trainer colocates with training (`trainer.vllm_generation.llm`), whose
        weights the trainer syncs before every rollout.
        """
        self = cls.__new__(cls)
        self._bind(llm, processor, stop, image_token, end_of_turn)
        return self

    def _bind(
        self,
        llm: Any,
        processor: ChatProcessor,
        stop: Sequence[str],
        image_token: str,
        end_of_turn: Sequence[str],
    ) -> None:
        import vllm

        self.llm = llm
        self.processor = processor
        self.stop = tuple(stop)
        tok = processor.tokenizer
        self.image_token_id = tok.convert_tokens_to_ids(image_token)
        self.end_of_turn_ids = frozenset(tok.convert_tokens_to_ids(t) for t in end_of_turn)
        self._sampling_params = vllm.SamplingParams
        self._lock = threading.Lock()  # vllm.LLM is not thread-safe; graph.batch calls generate from many threads

    def _render(self, messages: list[ChatMessage], add_generation_prompt: bool) -> str:
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def _encode(self, text: str) -> list[int]:
        return self.processor.tokenizer.encode(text, add_special_tokens=False)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The next turn's prompt ids, extending `request.context_ids` (image placeholders unexpanded there)."""
        return extend_prompt(self._render, self._encode, request.messages, request.context_ids, self.end_of_turn_ids)

    def sampling_params(self, params: SamplingParams) -> Any:
        """Sampling parameters for one turn: stop strings kept in the text, logprobs of the sampled ids."""
        return self._sampling_params(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(self.stop),
            include_stop_str_in_output=True,
            logprobs=0,  # the sampled token's logprob only
        )

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate one turn."""
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Generate one turn for each request in one engine call; results are in request order."""
        prompts: list[dict[str, Any]] = []
        for request in requests:
            prompt: dict[str, Any] = {
                "prompt_token_ids": collapse_placeholders(self.prompt_ids(request), self.image_token_id)
            }
            if request.images:
                prompt["multi_modal_data"] = {"image": list(request.images)}
            prompts.append(prompt)
        params = [self.sampling_params(r.params) for r in requests]
        with self._lock:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [self._generation(out) for out in outputs]

    @staticmethod
    def _generation(output: Any) -> Generation:
        sample = output.outputs[0]
        ids = list(sample.token_ids)
        return Generation(
            text=sample.text,
            prompt_ids=list(output.prompt_token_ids),
            completion_ids=ids,
            logprobs=[step[t].logprob for t, step in zip(ids, sample.logprobs, strict=True)],
        )
