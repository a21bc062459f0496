"""Supervised fine-tuning of the policy on DeepMMSearchVQA trajectories: TRL `SFTTrainer`, loss on policy tokens only.

    python sft/train.py --config recipes/sft-tiny-cpu.yaml [--max-steps 50] [--out DIR]
    accelerate launch --num_processes 2 sft/train.py --config recipes/sft-tiny-cpu.yaml

The conversations (`deepmmsearch data generate` → `hf/sft`) are in the TRL conversational format with images.
The loss covers only what the policy wrote: TRL's `assistant_only_loss` masks everything outside the chat
template's `{% generation %}` blocks (prompts, `<information>` results, image tokens); `max_length` stays None so a
conversation is never cut inside its image tokens. A killed run resumes from its last checkpoint; the final model
(LoRA merged) and processor go to `<out>/final`, which `HFPolicy.from_pretrained` loads as the graph's policy, with
a loss curve PNG beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graph.subcommand import Subcommand
from policy.precision import Bf16Setting, resolve_bf16


@dataclass(frozen=True)
class SFTRecipe:
    """One SFT run (a YAML recipe; command-line flags override it)."""

    model: str
    data: str
    out: str
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    lora_modules_to_save: list[str] = field(default_factory=list)
    """Modules trained in full beside the adapters (e.g. `visual`: a vision tower grafted on at random init)."""
    freeze_vision: bool = True
    """Keep the vision tower and projector frozen (the paper's setting; LoRA already leaves them out)."""
    epochs: float = 1.0
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    batch_size: int = 8
    gradient_accumulation: int = 1
    max_steps: int = -1
    bf16: Bf16Setting = False
    """Mixed precision: true, false or "auto" (`policy.precision.resolve_bf16`: bf16 where the hardware runs it
    natively). On CPU it autocasts over fp32 weights (fp32 master weights keep small LoRA updates; ~2x faster
    forward + backward with AVX512-BF16, 20x slower without); on GPU the weights load in bf16."""
    use_cpu: bool = True
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass (TRL's default): saves memory on a 7B model; on a 135M one it
    only costs time (~a third more per step), so the CPU recipes switch it off."""
    save_steps: int = 200
    logging_steps: int = 10
    report_to: str = "wandb"
    seed: int = 0
    group_by_length: bool = True
    """Batch conversations of similar length together: trajectories run from ~100 to ~1,000 tokens, so random
    batches are mostly padding."""
    max_seconds: float | None = None
    """Stop after this much training time (checked every step; the checkpoint is saved). A budget, not a target:
    set `max_steps` so that the schedule ends near it."""
    profile: str | None = None
    """Prompt profile written into the checkpoint (`policy.profile`); None: the one the data was generated with."""

    @classmethod
    def load(cls, path: Path, **overrides: Any) -> SFTRecipe:
        """Read a YAML recipe and apply the non-None `overrides`.

        Raises:
            ValueError: an unknown key, or a missing required one.
        """
        from graph.recipe import load_recipe

        return load_recipe(cls, path, ("model", "data", "out"), **overrides)


def _freeze_vision(model: Any) -> int:
    """Freeze the vision tower and the projector (Qwen2.5-VL's `visual`); return how many parameters were frozen."""
    frozen = 0
    for name, p in model.named_parameters():
        if ".visual." in f".{name}" or name.startswith("visual.") or "vision" in name:
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def _chars(messages: list[dict[str, Any]]) -> int:
    return sum(len(part.get("text") or "") for m in messages for part in m["content"])


def length_grouped_order(
    lengths: list[int], batch_size: int, seed: int, *, accumulation: int = 1, megabatch: int = 50
) -> list[int]:
    """A shuffled row order: micro-batches of similar length, each step's micro-batches from across the lengths.

    Each micro-batch of `batch_size` rows has similar lengths, and each optimiser step's `accumulation` micro-batches
    come from different parts of the length range. The idea of transformers' `LengthGroupedSampler`, fixed once so
    the order survives a resume (the trainer then reads it sequentially): shuffle, sort by length within windows of
    `megabatch` steps, cut into micro-batches, deal them into steps across `accumulation` length bands, shuffle the
    steps (any short step goes last). TRL's vision collator drops the length column the stock sampler would need.

    Why steps span the length range: length follows behaviour here. Answering at once makes a one-turn, short
    conversation; searching makes a long one. Grouped by length alone, every step (measured: 70 of 70) is all one or
    all the other, so each update pushes the whole policy towards "always answer" or "always search" and the
    checkpoint's tool use swings with the last few batches (42 steps: 98% no tool; 56: 49%; 70: 5%, on the same
    validation questions). With two or more micro-batches per step, each update sees both behaviours and must
    learn which question calls for which, without the padding of mixed-length micro-batches.
    """
    import random

    if batch_size < 1 or accumulation < 1:
        raise ValueError(f"need batch_size >= 1 and accumulation >= 1, got {batch_size}, {accumulation}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * accumulation * megabatch
    steps: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: -lengths[i])
        micro = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        per_band = len(micro) // accumulation
        bands = [micro[b * per_band : (b + 1) * per_band] for b in range(accumulation)]
        steps += [[i for band in bands for i in band[j]] for j in range(per_band)]
        rest = [i for m in micro[per_band * accumulation :] for i in m]  # the window's remainder: its own steps
        steps += [rest[i : i + batch_size * accumulation] for i in range(0, len(rest), batch_size * accumulation)]
    per_step = batch_size * accumulation
    full = [step for step in steps if len(step) == per_step]
    rng.shuffle(full)  # the trainer reads `batch_size` rows at a time: short steps go last so no boundary shifts
    return [i for step in full for i in step] + [i for step in steps if len(step) != per_step for i in step]


def weights_dtype(bf16: bool, use_cpu: bool) -> Any:
    """The dtype to load the weights in: bf16 only for bf16 on GPU; CPU bf16 is autocast over fp32 weights."""
    import torch

    return torch.bfloat16 if bf16 and not use_cpu else torch.float32


def lora_config(
    r: int, alpha: int, dropout: float, targets: list[str], modules_to_save: list[str] | None = None
) -> Any:
    """PEFT's `LoraConfig` for the policy's language model (`modules_to_save`: modules trained in full)."""
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        modules_to_save=modules_to_save or None,
        task_type="CAUSAL_LM",
    )


def save_final(trainer: Any, final: Path, profile: Any, *, merge: bool) -> Path:
    """Save the trained policy where `HFPolicy.from_pretrained` loads it: weights (LoRA merged), processor, profile."""
    model = trainer.model.merge_and_unload() if merge else trainer.model
    if trainer.is_world_process_zero():
        model.save_pretrained(final)
        trainer.processing_class.save_pretrained(final)
        profile.save(final)
    return final


def build_trainer(recipe: SFTRecipe) -> Any:
    """The `SFTTrainer` of a recipe (model, processor, data, LoRA, config)."""
    import datasets
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer

    from policy.processors import load_processor

    processor = load_processor(recipe.model)
    bf16 = resolve_bf16(recipe.bf16, recipe.use_cpu)
    model = AutoModelForImageTextToText.from_pretrained(recipe.model, dtype=weights_dtype(bf16, recipe.use_cpu))
    if recipe.freeze_vision and not recipe.lora:
        _freeze_vision(model)
    train = datasets.load_from_disk(recipe.data)
    keep = {"images", "messages"}
    train = train.remove_columns([c for c in train.column_names if c not in keep])
    if recipe.group_by_length:
        lengths = [_chars(m) for m in train["messages"]]
        processes = int(os.environ.get("WORLD_SIZE", "1"))  # each process takes one micro-batch of a step
        order = length_grouped_order(
            lengths, recipe.batch_size, recipe.seed, accumulation=recipe.gradient_accumulation * processes
        )
        train = train.select(order)
    peft = (
        lora_config(
            recipe.lora_r, recipe.lora_alpha, recipe.lora_dropout, recipe.lora_targets, recipe.lora_modules_to_save
        )
        if recipe.lora
        else None
    )
    args = SFTConfig(
        output_dir=recipe.out,
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float in [0, 1) is a share of the steps
        per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation,
        bf16=bf16,
        use_cpu=recipe.use_cpu,
        activation_checkpointing=recipe.gradient_checkpointing,  # transformers 5 name of gradient_checkpointing
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=2,
        logging_steps=recipe.logging_steps,
        report_to=[] if recipe.report_to == "none" else [recipe.report_to],
        seed=recipe.seed,
        max_length=None,  # never cut through image tokens
        assistant_only_loss=True,
        dataloader_num_workers=0,
        train_sampling_strategy="sequential" if recipe.group_by_length else "random",
    )
    callbacks = [time_budget_callback(recipe.max_seconds)] if recipe.max_seconds else None
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        processing_class=processor,
        peft_config=peft,
        callbacks=callbacks,
    )


def data_profile(data: str | Path) -> str:
    """The profile a DeepMMSearchVQA `hf/sft` folder was generated with (its folder's `generate.json`), or paper."""
    from sft.data.pipeline import CONFIG

    config = Path(data).parent.parent / CONFIG
    if config.is_file():
        return str(json.loads(config.read_text()).get("config", {}).get("profile", "paper"))
    return "paper"


def time_budget_callback(seconds: float) -> Any:
    """A `TrainerCallback` that ends training (saving a checkpoint) once `seconds` of training have passed."""
    import time

    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if time.monotonic() - self.start >= seconds:
                control.should_training_stop = True
                control.should_save = True

    return TimeBudget()


def last_checkpoint(out: Path) -> str | None:
    """The newest `checkpoint-N` folder of a run, to resume from (None for a fresh run)."""
    points = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1]))
    return str(points[-1]) if points else None


def loss_curve(history: list[dict[str, Any]], path: Path) -> Path:
    """Plot the training loss by step as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if points:
        ax.plot(*zip(*points, strict=True))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("SFT loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def train(recipe: SFTRecipe) -> dict[str, Any]:
    """Train (or resume), save `<out>/final` (LoRA merged) and the loss curve; return a summary."""
    from policy.profile import get_profile

    out = Path(recipe.out)
    profile = get_profile(recipe.profile or data_profile(recipe.data))
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))
    trainer = build_trainer(recipe)
    result = trainer.train(resume_from_checkpoint=last_checkpoint(out))
    final = save_final(trainer, out / "final", profile, merge=recipe.lora)
    if trainer.is_world_process_zero():
        loss_curve(trainer.state.log_history, out / "loss.png")
    summary = {
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": result.metrics.get("train_runtime"),
        "final": str(final),
        "profile": profile.name,
        "bf16": resolve_bf16(recipe.bf16, recipe.use_cpu),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The trainer's options (shared by `python sft/train.py` and `deepmmsearch sft`)."""
    from graph.recipe import add_recipe_arguments

    add_recipe_arguments(p, "recipes/sft-*.yaml")
    p.add_argument("--model", help="override: checkpoint directory")
    p.add_argument("--data", help="override: the hf/sft dataset folder")
    p.add_argument("--epochs", type=float, help="override: epochs")
    p.add_argument("--batch-size", type=int, help="override: per-device batch size")


OVERRIDES = ("model", "data", "epochs", "batch_size")
"""Recipe fields that this job's own flags override (besides `graph.recipe.COMMON_OVERRIDES`)."""


def handle(args: argparse.Namespace) -> int:
    """Run one recipe from parsed arguments (wandb logs offline unless WANDB_MODE says otherwise)."""
    from graph.recipe import COMMON_OVERRIDES, run_recipe_job

    return run_recipe_job(
        args, SFTRecipe.load, COMMON_OVERRIDES + OVERRIDES, lambda r: {"model": r.model, "data": r.data}, train
    )


COMMAND = Subcommand(
    "sft", "supervised fine-tuning on DeepMMSearchVQA", __doc__ or "", "sft/train.py", add_arguments, handle
)
register = COMMAND.register
main = COMMAND.main


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
