"""The transformers backend: an `AutoModelForImageTextToText` policy (Qwen2.5-VL reference, Qwen2-VL too).

`HFPolicy.from_pretrained(dir)` loads a checkpoint directory — a real one such as Qwen2.5-VL-7B-Instruct, or one
built by `policy init-tiny` — with the stock processor where torchvision exists and the image-only processor of
`policy.processors` otherwise, in fp32 or bf16, on the chosen device. `generate` / `generate_batch` run
`model.generate` on token ids and return, per request, the text, the exact prompt ids, the sampled ids and their
log-probabilities. `score_batch` and `ForcedHFPolicy` put given turns through the model instead (teacher forcing),
for tests, teacher data and benchmarks.

**Prompt ids (token-exact traces).** The first turn's prompt is the processor's tokenisation of the transcript
rendered with the chat template (image placeholders expanded to one `<|image_pad|>` per merged patch, as a trainer's
processor does). A later turn's prompt is `request.context_ids` followed by the ids of the text the template adds
after the last assistant turn's content: the transcript is rendered in full, the text is cut right after that
content, and only the suffix (end of turn, the environment's user turn, the assistant header) is tokenised. Earlier
turns are never re-tokenised. The suffix starts with a special token (`<|im_end|>`), and tokenizers split at
special tokens before anything else, so the suffix's ids are exactly the ids the full transcript's tokenisation has
there (`tests/policy/test_hf_trace.py` proves the equality on real trajectories). If the completion already ends
with `<|im_end|>` the template's copy is not inserted twice. The template must be prefix-preserving (Qwen's and the
project's are); a template that is not raises `ValueError` instead of drifting.

**Stops.** A turn ends when the model writes `<|im_end|>` (or another end-of-turn id of the generation config), when
its text contains an action's closing tag (`</text_search>`, `</img_search>`, `</answer>`), or at
`max_new_tokens`. After a closing tag, the next token is forced to `<|im_end|>` inside the same `generate` call (a
logits processor), so the completion ends with the template's end-of-turn and the transcript stays
template-consistent at no extra forward pass. A turn cut at `max_new_tokens` has no end-of-turn id (the model never
chose one); the next prompt inserts the template's `<|im_end|>` as an environment token (`env_mask` 0). A turn whose
closing tag is its `max_new_tokens`-th token is cut the same way. Rows of a batch stop independently.

**Sampling.** Temperature 0 is greedy; otherwise multinomial sampling with `temperature` and `top_p` (no top-k, no
repetition penalty: the checkpoint's `generation_config` sampling defaults, such as Qwen2.5-VL-Instruct's
`top_k=1, temperature=0.1`, are overridden so `request.params` is what runs). Vision placeholder tokens
(`<|image_pad|>`, `<|video_pad|>`, `<|vision_start|>`, `<|vision_end|>`, `<|vision_pad|>`) are suppressed: one fed
back would break the next forward with an image feature/token count mismatch.

**Log-probabilities** (`logprob_mode`). Recorded step by step inside `generate` by a logits processor, which keeps
one (batch, vocab) row of log-probabilities at a time instead of `output_scores`/`output_logits` for every step
(which would hold steps × batch × vocab floats: gigabytes for a 152k vocabulary).

- `"model"` (default): `log_softmax(raw_logits / T)` with `T` the request's temperature (1 when greedy), before
  suppression, the forced end-of-turn and top-p. This is what TRL's GRPO trainer recomputes for the same ids
  (`log_softmax(logits / temperature)`), so on-policy importance ratios start at 1. The forced `<|im_end|>` after
  a closing tag gets the model's own log-probability of ending the turn there.
- `"sampling"`: log-softmax of the processed scores, the exact distribution the token was drawn from
  (suppression, forcing, temperature and top-p applied); a forced `<|im_end|>` gets 0.0.

**Prefix KV cache** (on by default for Qwen2-VL / Qwen2.5-VL). After each turn the backend keeps the row's KV cache
(keys/values of the prompt and completion, without the last completion token, which was never fed) and its M-RoPE
offset, keyed by the trajectory's ids. The next turn of that trajectory (`request.context_ids` equal to those ids)
then prefills only the environment's new tokens instead of the whole trajectory: rows of a batch are laid out as
`[pad, cached ids | pad, new ids]` over a preallocated `StaticCache`, with an attention mask that skips both pads.
Results equal the uncached path (tested: same ids, logprobs within float noise). Each kept turn is continued once;
identical trajectories share one cache; at most `max_prefixes` are kept (oldest dropped first). Memory per kept turn:
layers × 2 × kv_heads × head_dim × tokens × dtype bytes (about 6 MB for the tiny default model at 1,000 tokens, about
230 MB for Qwen2.5-VL-7B in bf16 at 4,000 tokens: lower `max_prefixes` there, or pass `prefix_cache=False`). Call
`clear_prefix_cache()` after changing the weights (the kept caches belong to the old ones).

**Shared first turns.** Rows of one batch that start a trajectory with the same prompt ids and the same images (the
rollouts of a GRPO group, or the same question asked many times) prefill that prompt once: one forward over it,
its KV cache then serves every such row through the prefix path above. Prefill is compute-bound, so a group of 8
saves 7 of 8 prefills: much of a first turn with the paper's long system prompt (16 rollouts on 2 cores: 3.2x ->
4.0x faster than one by one), little with the compact profile's short one, where decoding dominates.

Thread safety: calls into the model are serialised by a lock (Qwen2-VL keeps `rope_deltas` on the module between
steps). Concurrent rollouts should share forward passes through `policy.batching.BatchingPolicy`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    StaticCache,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper
from transformers.processing_utils import ProcessorMixin

from policy.base import ChatMessage, Generation, GenerationRequest
from policy.processors import load_processor
from policy.protocol import ACTION_TAGS
from policy.scripted import ScriptExhaustedError, ScriptItem
from policy.templates import extend_ids, suffix_after_last_turn

LogprobMode = Literal["model", "sampling"]

ACTION_CLOSING_TAGS: tuple[str, ...] = tuple(f"</{tag}>" for tag in ACTION_TAGS)
"""A turn is complete once one of these is written."""
VISION_PLACEHOLDERS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")
"""Tokens the policy must never generate."""
END_OF_TURN = "<|im_end|>"
"""The chat template's end of an assistant turn."""
IMAGE_TOKEN = "<|image_pad|>"
VIDEO_TOKEN = "<|video_pad|>"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`"auto"`/None: CUDA if available, else CPU; anything else as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """`"auto"`/None: bf16 on a GPU that supports it, else fp32; `"bf16"`/`"bfloat16"`, `"fp32"`/`"float32"`."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32}
    if dtype not in names:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {sorted(names)} or 'auto'")
    return names[dtype]


class _LogprobRecorder(LogitsProcessor):
    """Records `log_softmax(scores / temperature)` of each sampled token, one step late (see `finish`)."""

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature
        self.prev: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prev is not None:  # input_ids[:, -1] is the token drawn from the previous step's distribution
            self.values.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def finish(self, sequences: torch.Tensor, prompt_len: int) -> torch.Tensor:
        """(batch, generated) log-probabilities aligned with `sequences[:, prompt_len:]`."""
        n = sequences.shape[1] - prompt_len
        if self.prev is not None and len(self.values) < n:
            self.values.append(
                self.prev.gather(1, sequences[:, prompt_len + len(self.values)].unsqueeze(1)).squeeze(1)
            )
        if not self.values:
            return torch.zeros(sequences.shape[0], 0)
        return torch.stack(self.values[:n], dim=1).cpu()


class _TurnControl(LogitsProcessor):
    """Per-row turn control: suppress vision tokens, force `<|im_end|>` after a closing tag, or force a target."""

    def __init__(
        self,
        policy: HFPolicy,
        prompt_len: int,
        targets: Sequence[Sequence[int] | None],
    ) -> None:
        self.policy = policy
        self.prompt_len = prompt_len
        self.targets = targets
        self.closed = [False] * len(targets)

    def _force(self, scores: torch.Tensor, row: int, token: int) -> None:
        scores[row] = float("-inf")
        scores[row, token] = 0.0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        p = self.policy
        scores = scores.clone()  # type: ignore[assignment]
        scores[:, p.suppress_ids] = float("-inf")
        generated = input_ids[:, self.prompt_len :]
        step = generated.shape[1]
        for row, target in enumerate(self.targets):
            if target is not None:
                self._force(scores, row, target[step] if step < len(target) else p.end_id)
                continue
            if not self.closed[row] and step and bool(p.has_gt[int(generated[row, -1])]):
                text = p.tokenizer.decode(generated[row].tolist(), skip_special_tokens=False)
                self.closed[row] = any(tag in text for tag in p.stop_tags)
            if self.closed[row]:
                self._force(scores, row, p.end_id)
        return scores


class _RowCaps(StoppingCriteria):
    """Row i is done once it has `caps[i]` new tokens."""

    def __init__(self, prompt_len: int, caps: torch.Tensor) -> None:
        self.prompt_len = prompt_len
        self.caps = caps

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return (input_ids.shape[1] - self.prompt_len) >= self.caps.to(input_ids.device)  # type: ignore[return-value]


@dataclass(frozen=True)
class _Row:
    prompt_ids: list[int]
    images: list[Image.Image]
    cap: int
    target: list[int] | None
    prefix: _Prefix | None = None


@dataclass(frozen=True)
class _Prefix:
    """The KV cache of a finished turn: keys/values of all but the last of `ids` (that token was never fed)."""

    ids: tuple[int, ...]
    keys: tuple[torch.Tensor, ...]
    """Per layer, (kv_heads, len(ids) - 1, head_dim)."""
    values: tuple[torch.Tensor, ...]
    rope_delta: int

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[1])


def _image_key(image: Image.Image) -> tuple[Any, ...]:
    """Identity of an image's pixels (two loads of one file are equal), for sharing a prompt's prefill."""
    return (image.mode, image.size, hashlib.blake2b(image.tobytes(), digest_size=16).digest())


PREFIX_CACHE_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl"})
"""Model types whose M-RoPE state (`rope_deltas`) the prefix cache knows how to restore."""


class HFPolicy:
    """A `Policy` on a transformers image-text-to-text model; `generate_batch` serves `BatchingPolicy`.

    Example:
        >>> policy = HFPolicy.from_pretrained("runs/tiny", dtype="fp32")  # doctest: +SKIP
        >>> build_graph(policy, tools).invoke(inputs, context=RunConfig(max_new_tokens=64))  # doctest: +SKIP
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        *,
        logprob_mode: LogprobMode = "model",
        stop_tags: Sequence[str] = ACTION_CLOSING_TAGS,
        end_of_turn: str = END_OF_TURN,
        seed: int | None = None,
        logits_processors: Sequence[LogitsProcessor] = (),
        prefix_cache: bool | None = None,
        max_prefixes: int = 64,
    ) -> None:
        """Wrap a loaded model and processor.

        Args:
            model: an `AutoModelForImageTextToText` model (Qwen2.5-VL / Qwen2-VL), already on its device.
            processor: its processor (chat template, tokenizer, image processor).
            logprob_mode: which log-probabilities to report; see the module docstring.
            stop_tags: texts that complete a turn (the action's closing tags).
            end_of_turn: the template's end-of-turn token.
            seed: seed for sampling (torch's global generator); None leaves it alone.
            logits_processors: extra processors (e.g. a grammar constraint), applied before vision-token
                suppression and the stop handling, and after the `"model"` log-probability recorder.
            prefix_cache: keep each finished turn's KV cache so the trajectory's next turn only prefills the
                environment's new tokens; default on for Qwen2-VL / Qwen2.5-VL (see the module docstring).
            max_prefixes: how many turns' caches to keep (least recently stored dropped first).
        """
        if logprob_mode not in ("model", "sampling"):
            raise ValueError(f"logprob_mode must be 'model' or 'sampling', got {logprob_mode!r}")
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.logprob_mode = logprob_mode
        self.stop_tags = tuple(stop_tags)
        self.seed = seed
        self.logits_processors = list(logits_processors)
        tok = self.tokenizer
        self.end_id = tok.convert_tokens_to_ids(end_of_turn)
        if self.end_id is None or self.end_id == tok.unk_token_id:
            raise ValueError(f"the tokenizer has no end-of-turn token {end_of_turn!r}")
        eos = model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.eos_ids = [self.end_id, *[e for e in eos if e != self.end_id]]
        pad = model.generation_config.pad_token_id
        self.pad_id = pad if pad is not None else (tok.pad_token_id if tok.pad_token_id is not None else self.end_id)
        vocab = model.get_output_embeddings().weight.shape[0]
        self.suppress_ids = sorted(
            {i for t in VISION_PLACEHOLDERS if (i := tok.convert_tokens_to_ids(t)) is not None and 0 <= i < vocab}
        )
        self.image_token_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
        self.video_token_id = tok.convert_tokens_to_ids(VIDEO_TOKEN)
        strings = tok.convert_ids_to_tokens(list(range(len(tok))))
        has_gt = torch.zeros(max(vocab, len(tok)), dtype=torch.bool)
        has_gt[[i for i, s in enumerate(strings) if s is not None and ">" in s]] = True
        self.has_gt = has_gt
        self.device = next(model.parameters()).device
        model_type = getattr(model.config, "model_type", None)
        if prefix_cache is None:
            prefix_cache = model_type in PREFIX_CACHE_MODEL_TYPES
        elif prefix_cache and model_type not in PREFIX_CACHE_MODEL_TYPES:
            raise ValueError(f"the prefix cache supports {sorted(PREFIX_CACHE_MODEL_TYPES)}, not {model_type!r}")
        self.prefix_cache = prefix_cache
        self.max_prefixes = max_prefixes
        self._prefixes: OrderedDict[tuple[int, ...], list[Any]] = OrderedDict()  # ids -> [prefix, uses left]
        self.prefix_hits = 0
        """Turns that reused the previous turn's KV cache."""
        self._lock = threading.Lock()
        self.forward_calls = 0
        """Number of `model.generate` / scoring forward calls so far (for batching tests and benchmarks)."""
        self.shared_prefills = 0
        """First-turn prompts prefilled once for several rows of a batch (`_share_first_turns`)."""

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        dtype: str | torch.dtype | None = "auto",
        device: str | torch.device | None = "auto",
        attn_implementation: str | None = None,
        **kwargs: Any,
    ) -> HFPolicy:
        """Load a checkpoint directory through the production path.

        Args:
            path: local checkpoint directory (`config.json`, weights, tokenizer, processor files).
            dtype: `"auto"` (bf16 on a bf16-capable GPU, else fp32), `"bf16"`, `"fp32"` or a torch dtype.
            device: `"auto"` (CUDA if available), `"cpu"`, `"cuda"`, `"cuda:1"`, ...
            attn_implementation: e.g. `"sdpa"`, `"flash_attention_2"`; None for the transformers default.
            **kwargs: passed to `HFPolicy.__init__` (`logprob_mode`, `stop_tags`, `seed`, ...).

        Returns:
            The policy, with the model in eval mode.
        """
        dev = resolve_device(device)
        load_kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, dev)}
        if attn_implementation:
            load_kwargs["attn_implementation"] = attn_implementation
        model = AutoModelForImageTextToText.from_pretrained(str(path), **load_kwargs).to(dev)  # type: ignore[arg-type]
        return cls(model, load_processor(path), **kwargs)

    # ---- prompts -------------------------------------------------------------------------------------------------

    def render(self, messages: list[ChatMessage], add_generation_prompt: bool) -> str:
        """The transcript as text, with the processor's chat template."""
        return self.processor.apply_chat_template(
            messages,  # type: ignore[arg-type]
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )

    def encode(self, text: str, images: Sequence[Image.Image] = ()) -> list[int]:
        """Ids of `text`, with each image placeholder expanded for the matching image of `images`."""
        if images:
            out = self.processor(text=[text], images=list(images), return_tensors="pt")
            return out["input_ids"][0].tolist()
        return self.tokenizer.encode(text, add_special_tokens=False)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The ids this turn is conditioned on: `request.context_ids` extended by the environment's new text.

        Raises:
            ValueError: context ids without an assistant turn to extend, or a template that is not prefix-preserving.
        """
        messages = request.messages
        if not request.context_ids:
            return self.encode(self.render(messages, True), request.images)
        suffix, last = suffix_after_last_turn(self.render, messages)
        seen = sum(p["type"] == "image" for m in messages[: last + 1] for p in m["content"])
        return extend_ids(request.context_ids, self.encode(suffix, request.images[seen:]), self.eos_ids)

    # ---- generation ----------------------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate one turn."""
        return self.generate_batch([request])[0]

    def generate_batch(
        self, requests: Sequence[GenerationRequest], targets: Sequence[str | None] | None = None
    ) -> list[Generation]:
        """Generate one turn per request, batched (left padding); results in request order.

        Requests with different temperature/top-p run as separate `generate` calls; different `max_new_tokens`
        share one call with per-row caps.

        Args:
            requests: the turns to generate.
            targets: optional per-request forced text (constrained decoding through `generate`: every step is
                forced to the target's next id, the end-of-turn follows; log-probabilities as in `logprob_mode`).
        """
        if not requests:
            return []
        targets = list(targets) if targets is not None else [None] * len(requests)
        rows = self._share_first_turns([self._row(r, t) for r, t in zip(requests, targets, strict=True)])
        out: list[Generation | None] = [None] * len(requests)
        groups: dict[tuple[float, float, bool], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.params.temperature, r.params.top_p, rows[i].prefix is not None), []).append(i)
        for (temperature, top_p, _), idx in groups.items():
            for i, gen in zip(idx, self._generate_rows([rows[i] for i in idx], temperature, top_p), strict=True):
                out[i] = gen
        return [g for g in out if g is not None]

    def _row(self, request: GenerationRequest, target: str | None) -> _Row:
        target_ids = None
        if target is not None:
            target_ids = self.tokenizer.encode(target, add_special_tokens=False) + [self.end_id]
        cap = (
            request.params.max_new_tokens
            if target_ids is None
            else min(len(target_ids), request.params.max_new_tokens)
        )
        prompt = self.prompt_ids(request)
        prefix = None
        if self.prefix_cache and request.context_ids:
            prefix = self._take_prefix(tuple(request.context_ids))
        return _Row(prompt, list(request.images), max(cap, 1), target_ids, prefix)

    def _share_first_turns(self, rows: list[_Row]) -> list[_Row]:
        """Rows starting a trajectory with the same prompt and images get one prefilled prefix between them."""
        if not self.prefix_cache or len(rows) < 2:
            return rows
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, row in enumerate(rows):
            if row.prefix is None and len(row.prompt_ids) > 1 and row.prompt_ids[-1] != self.image_token_id:
                groups.setdefault((tuple(row.prompt_ids), *map(_image_key, row.images)), []).append(i)
        rows = list(rows)
        for idx in groups.values():
            if len(idx) > 1:
                prefix = self._prefill(rows[idx[0]])
                self.shared_prefills += 1
                for i in idx:
                    rows[i] = replace(rows[i], prefix=prefix)
        return rows

    def _prefill(self, row: _Row) -> _Prefix:
        """The KV cache and M-RoPE offset of `row`'s prompt without its last token (which generation feeds)."""
        inputs = self._inputs([row.prompt_ids[:-1]], row.images)
        with self._lock, torch.inference_mode():
            self.forward_calls += 1
            out = self.model(**inputs, use_cache=True, logits_to_keep=1)
            delta = int(self.model.model.rope_deltas.reshape(-1)[0])
        layers = out.past_key_values.layers
        return _Prefix(
            ids=tuple(row.prompt_ids),
            keys=tuple(layer.keys[0] for layer in layers),
            values=tuple(layer.values[0] for layer in layers),
            rope_delta=delta,
        )

    def _inputs(self, seqs: Sequence[Sequence[int]], images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs for `seqs`, with the pixel values of `images` (all rows' images, in order)."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
                mask[i, width - len(s) :] = 1
        types = (ids == self.image_token_id).int() + 2 * (ids == self.video_token_id).int()
        types = types * mask
        inputs: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": types}
        if images:
            pixels = self.processor.image_processor(images=list(images), return_tensors="pt")
            inputs["pixel_values"] = pixels["pixel_values"].to(self.model.dtype)
            inputs["image_grid_thw"] = pixels["image_grid_thw"]
            expected = int((pixels["image_grid_thw"].prod(-1) // self._merge_area).sum())
            found = int((ids == self.image_token_id).sum())
            if expected != found:
                raise ValueError(f"the prompts hold {found} image tokens but the images need {expected}")
        return {k: v.to(self.device) for k, v in inputs.items()}

    @property
    def _merge_area(self) -> int:
        return int(getattr(self.processor.image_processor, "merge_size", 2)) ** 2

    def _generation_config(self, temperature: float, max_new_tokens: int) -> GenerationConfig:
        # every sampling knob explicit: None would be filled in from the checkpoint's generation_config
        # (temperature and top-p run as our own processors, after the log-probability recorder)
        sampling = {"top_k": 0} if temperature > 0 else {}
        return GenerationConfig(
            do_sample=temperature > 0,
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            temperature=1.0,
            top_p=1.0,
            typical_p=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            num_beams=1,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            use_cache=True,
            disable_compile=True,  # shapes change every call; compiling would cost more than it saves
            **sampling,
        )

    def _cached_inputs(self, rows: Sequence[_Row], max_new_tokens: int) -> tuple[dict[str, Any], torch.Tensor]:
        """Inputs that continue each row's cached turn: [pad, cached ids | pad, new ids], with the KV cache.

        Returns:
            The `generate` keyword arguments and the rows' M-RoPE deltas, shape (batch, 1).
        """
        prefixes = [r.prefix for r in rows if r.prefix is not None]
        c_max = max(p.length for p in prefixes)
        n_max = max(len(r.prompt_ids) - r.prefix.length for r in rows if r.prefix is not None)
        ids = torch.full((len(rows), c_max + n_max), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        first = prefixes[0].keys[0]
        layers = len(prefixes[0].keys)
        shape = (len(rows), first.shape[0], c_max, first.shape[2])
        keys = [torch.zeros(shape, dtype=first.dtype, device=first.device) for _ in range(layers)]
        values = [torch.zeros(shape, dtype=first.dtype, device=first.device) for _ in range(layers)]
        for i, row in enumerate(rows):
            p = row.prefix
            assert p is not None
            c, new = p.length, row.prompt_ids[p.length :]
            ids[i, c_max - c : c_max] = torch.tensor(row.prompt_ids[:c])
            mask[i, c_max - c : c_max] = 1
            ids[i, c_max + n_max - len(new) :] = torch.tensor(new)
            mask[i, c_max + n_max - len(new) :] = 1
            for layer in range(layers):
                keys[layer][i, :, c_max - c :] = p.keys[layer]
                values[layer][i, :, c_max - c :] = p.values[layer]
        types = ((ids == self.image_token_id).int() + 2 * (ids == self.video_token_id).int()) * mask
        cache = StaticCache(config=self.model.config, max_cache_len=c_max + n_max + max_new_tokens)
        for layer in range(layers):
            cache.update(keys[layer], values[layer], layer)
        inputs = {
            "input_ids": ids.to(self.device),
            "attention_mask": mask.to(self.device),
            "mm_token_type_ids": types.to(self.device),
            "past_key_values": cache,
        }
        deltas = torch.tensor([[r.prefix.rope_delta if r.prefix else 0] for r in rows], dtype=torch.long)
        return inputs, deltas.to(self.device)

    def _store_prefixes(self, gens: Sequence[Generation], cache: Any, mask: torch.Tensor, steps: int) -> None:
        """Keep each row's KV cache for the trajectory's next turn."""
        deltas = getattr(getattr(self.model, "model", None), "rope_deltas", None)
        if cache is None or deltas is None:
            return
        layers = list(cache.layers) if hasattr(cache, "layers") else []
        if not layers or getattr(layers[0], "keys", None) is None:
            return
        width = mask.shape[1]
        for i, gen in enumerate(gens):
            needed = len(gen.prompt_ids) + len(gen.completion_ids) - 1
            real = torch.cat([mask[i].nonzero().squeeze(1).cpu(), torch.arange(width, width + steps)])[:needed]
            index = real.to(layers[0].keys.device)
            if int(index[-1]) >= layers[0].keys.shape[2]:
                continue
            entry = _Prefix(
                ids=tuple(gen.prompt_ids + gen.completion_ids),
                keys=tuple(layer.keys[i].index_select(1, index) for layer in layers),
                values=tuple(layer.values[i].index_select(1, index) for layer in layers),
                rope_delta=int(deltas.reshape(-1)[i if deltas.numel() > 1 else 0]),
            )
            slot = self._prefixes.get(entry.ids)
            if slot is not None:  # identical trajectories (greedy rollouts of one prompt) share one cache
                slot[1] += 1
                continue
            self._prefixes[entry.ids] = [entry, 1]
            while len(self._prefixes) > self.max_prefixes:
                self._prefixes.popitem(last=False)

    def _take_prefix(self, ids: tuple[int, ...]) -> _Prefix | None:
        """The kept cache that `ids` continue, if any; each stored turn is continued once."""
        with self._lock:
            slot = self._prefixes.get(ids)
            if slot is None:
                return None
            slot[1] -= 1
            if slot[1] == 0:
                del self._prefixes[ids]
            return slot[0]

    def clear_prefix_cache(self) -> None:
        """Drop every kept KV cache (e.g. after the weights changed: the caches were computed by the old ones)."""
        with self._lock:
            self._prefixes.clear()

    def _generate_rows(self, rows: Sequence[_Row], temperature: float, top_p: float) -> list[Generation]:
        deltas = None
        caps = torch.tensor([r.cap for r in rows])
        if rows[0].prefix is not None:
            inputs, deltas = self._cached_inputs(rows, int(caps.max()))
        else:
            inputs = self._inputs([r.prompt_ids for r in rows], [img for r in rows for img in r.images])
        prompt_len = inputs["input_ids"].shape[1]
        control = _TurnControl(self, prompt_len, [r.target for r in rows])
        model_t = temperature if temperature > 0 else 1.0
        processors: list[LogitsProcessor] = []
        recorder = _LogprobRecorder(model_t if self.logprob_mode == "model" else 1.0)
        if self.logprob_mode == "model":
            processors.append(recorder)
        processors += self.logits_processors
        processors.append(control)
        if temperature > 0:
            if temperature != 1.0:
                processors.append(TemperatureLogitsWarper(temperature))
            if top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p))
        if self.logprob_mode == "sampling":
            processors.append(recorder)
        config = self._generation_config(temperature, int(caps.max()))
        config.return_dict_in_generate = self.prefix_cache
        if self.prefix_cache and deltas is None:
            config.cache_implementation = "static"  # preallocated: no per-step copy of a growing cache
        with self._lock, torch.inference_mode():
            if self.seed is not None:
                torch.manual_seed(self.seed)
            if deltas is not None:
                self.model.model.rope_deltas = deltas  # the M-RoPE offsets of the cached turns' images
                self.prefix_hits += len(rows)
            self.forward_calls += 1
            out = self.model.generate(
                **inputs,
                generation_config=config,
                logits_processor=LogitsProcessorList(processors),
                stopping_criteria=StoppingCriteriaList([_RowCaps(prompt_len, caps)]),
            )
            sequences = out.sequences if self.prefix_cache else out
            logprobs = recorder.finish(sequences, prompt_len)
            generated = sequences[:, prompt_len:].cpu()
            gens = [self._finish(row, generated[i].tolist(), logprobs[i].tolist()) for i, row in enumerate(rows)]
            if self.prefix_cache:
                steps = sequences.shape[1] - prompt_len
                self._store_prefixes(gens, out.past_key_values, inputs["attention_mask"], steps)
        return gens

    def _finish(self, row: _Row, ids: list[int], logprobs: list[float]) -> Generation:
        n = min(row.cap, len(ids))
        end = next((k for k, t in enumerate(ids[:n]) if t in self.eos_ids), None)
        if end is not None:
            n = end + 1
        completion = ids[:n]
        body = completion[:-1] if completion and completion[-1] in self.eos_ids else completion
        return Generation(
            text=self.tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False),
            prompt_ids=list(row.prompt_ids),
            completion_ids=completion,
            logprobs=[float(x) for x in logprobs[:n]],
        )

    # ---- teacher forcing -----------------------------------------------------------------------------------------

    def score_batch(self, requests: Sequence[GenerationRequest], targets: Sequence[str]) -> list[Generation]:
        """Put each target turn through the model in one forward pass (teacher forcing); no sampling.

        The target is tokenised canonically (`tokenizer.encode`, then `<|im_end|>`), which is the chat template's
        tokenisation of the turn whenever the turn starts at a pre-token boundary, as every protocol turn
        (`<reason>…`) does. Log-probabilities are `log_softmax(logits / T)` (T = the request's temperature, 1 when
        greedy) — the `"model"` mode, whatever `logprob_mode` says; `max_new_tokens` truncates the target.
        """
        rows = [self._row(r, t) for r, t in zip(requests, targets, strict=True)]
        seqs = [r.prompt_ids + (r.target or [])[: r.cap] for r in rows]
        inputs = self._inputs(seqs, [img for r in rows for img in r.images])
        width = inputs["input_ids"].shape[1]
        with self._lock, torch.inference_mode():
            self.forward_calls += 1
            logits = self.model(**inputs, use_cache=False).logits.float()
        out = []
        for i, (row, req) in enumerate(zip(rows, requests, strict=True)):
            t = req.params.temperature if req.params.temperature > 0 else 1.0
            target = (row.target or [])[: row.cap]
            start = width - len(target)  # position of the first target token
            logp = torch.log_softmax(logits[i, start - 1 : width - 1] / t, dim=-1)
            values = logp.gather(1, torch.tensor(target, device=logp.device).unsqueeze(1)).squeeze(1)
            out.append(self._finish(row, target, values.cpu().tolist()))
        return out


class ForcedHFPolicy:
    """Plays back a script through a real model: the text of each turn is given, its ids and logprobs are the model's.

    Script items are those of `policy.scripted.ScriptedPolicy` (fixed strings or functions of the transcript), and
    the turn index is the number of assistant messages so far. `mode="score"` scores each turn with one forward pass
    (teacher forcing: cheap, for tests and SFT/teacher data); `mode="generate"` forces the turn token by token
    through `model.generate` (constrained decoding: the same cost as free generation, for benchmarks). Both return
    the same ids; their log-probabilities agree to float precision.
    """

    def __init__(self, backend: HFPolicy, script: Sequence[ScriptItem], mode: Literal["score", "generate"] = "score"):
        if mode not in ("score", "generate"):
            raise ValueError(f"mode must be 'score' or 'generate', got {mode!r}")
        self.backend = backend
        self.script = list(script)
        self.mode = mode

    def target(self, request: GenerationRequest) -> str:
        """The scripted text of this request's turn."""
        turn = sum(m["role"] == "assistant" for m in request.messages)
        if turn >= len(self.script):
            raise ScriptExhaustedError(f"script has {len(self.script)} turns; turn {turn + 1} was requested")
        item = self.script[turn]
        return item if isinstance(item, str) else item(request.messages)

    def generate(self, request: GenerationRequest) -> Generation:
        """The scripted turn, through the model."""
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """The scripted turns of many requests in one batched model call."""
        targets = [self.target(r) for r in requests]
        if self.mode == "score":
            return self.backend.score_batch(requests, targets)
        return self.backend.generate_batch(requests, targets=targets)
