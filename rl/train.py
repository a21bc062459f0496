"""Online GRPO through the compiled agent graph: TRL `GRPOTrainer` whose rollouts are the graph itself.

    python rl/train.py --config recipes/rl-tiny-cpu.yaml [--max-steps 20] [--out DIR]
    deepmmsearch rl --config recipes/rl-tiny-cpu.yaml
    accelerate launch --num_processes 2 rl/train.py --config recipes/rl-tiny-cpu.yaml

Starts from an SFT checkpoint (`deepmmsearch sft` → `<out>/final`) and the RL question set of DeepMMSearchVQA
(`deepmmsearch data generate` → `hf/questions`, split `train`). Every training prompt is the graph's first message;
`rl.rollout.GraphRollout` runs the graph on each group (with the trainer's weights, micro-batched) and returns the
token trace, whose `env_mask` keeps the tool results and prompts out of the loss. Rewards are `rl.rewards.Rubric`
(paper: 0.9 × judged correctness + 0.1 × format), judged by the rule judge offline or the paper's LLM judge online.
`rl.monitors` logs the rollout statistics and the step-time split, and raises an alarm on collapse.

A killed run resumes from its last checkpoint; the final policy (LoRA merged), its processor and its prompt profile
go to `<out>/final`, which `HFPolicy.from_pretrained` and `deepmmsearch eval --policy hf:DIR` load. Curves of
reward, format rate and KL go to `<out>/curves.png`, the step-time split to `<out>/steps.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.records import SEARCH_TYPES
from graph.subcommand import Subcommand
from policy.precision import Bf16Setting, resolve_bf16


@dataclass(frozen=True)
class RLRecipe:
    """One GRPO run (a YAML recipe; flags override it). Every GRPO setting that differs from TRL's default is here."""

    model: str
    """The SFT checkpoint to start from."""
    data: str
    """The `hf/questions` DatasetDict of a generated DeepMMSearchVQA folder."""
    out: str
    world: str = "runs/world/full"
    """The frozen web the rollouts' tools search."""
    split: str = "train"
    only_teacher_solved: bool = True
    """Train on questions the teacher solved through the same tools (an unsolvable question gives a group of zeros)."""
    search_types: list[str] | None = None
    """Train only on questions of these search types ("none", "image", "text", "mixed"); None: all. The paper's RL
    set (FVQA) was chosen for its higher share of image-search questions."""
    balance_search_types: bool = False
    """Feed the questions in a fixed order that alternates a search-free and a search-required one (each kind shuffled
    with `seed`; TRL's own shuffling off), so an optimiser step of an even number of questions holds both kinds. Not in
    the paper: on 2 cores a step holds one or two questions, and a step on one kind moves the policy's search rate on
    every question. Measured (README, GRPO section): balanced steps still moved the rate on both kinds."""
    profile: str | None = None
    """Prompt profile; None: the checkpoint's (`deepmmsearch_profile.json`), else paper."""
    # --- the policy update
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    learning_rate: float = 2e-6
    """Paper: 2e-6 (full fine-tuning of 7B)."""
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 45
    """Paper: 45 warm-up steps."""
    num_generations: int = 8
    """Rollouts per question (paper: 8)."""
    batch_size: int = 8
    """Rollouts per device per micro-step (a multiple of `num_generations` with the accumulation below)."""
    gradient_accumulation: int = 1
    steps_per_generation: int | None = None
    """Optimiser micro-steps fed by one generation round (None: `gradient_accumulation`); the paper's App. D
    generates 256 questions at once and updates on mini-batches of 64."""
    max_steps: int = -1
    epochs: float = 1.0
    beta: float = 0.001
    """KL coefficient (paper: 0.001; TRL's default is 0, no reference model)."""
    epsilon: float = 0.2
    """Clip range (paper: 0.2)."""
    loss_type: str = "grpo"
    """Per-sequence normalised GRPO loss as in the paper (TRL's default is "dapo")."""
    scale_rewards: str = "group"
    """Advantages divided by the group's reward std (GRPO as published). A reward term's weight then counts only
    against the other terms inside a group: a group whose only variance is one term gets the same advantages at any
    weight of it. "none" keeps the weights as advantages (README, GRPO section: runs D and E)."""
    temperature: float = 1.0
    top_p: float = 1.0
    mask_truncated_completions: bool = False
    """Keep truncated rollouts in the loss: a run that never answers is exactly what the format reward punishes."""
    gradient_checkpointing: bool = False
    """TRL's default is on; it trades compute for memory, which a small model on CPU does not need."""
    # --- the rollouts (tool limits as at inference)
    max_turns: int = 10
    max_tool_calls: int = 10
    max_image_searches: int = 1
    max_new_tokens: int = 512
    """Policy tokens per turn."""
    max_response_tokens: int = 8192
    """Policy tokens per trajectory (paper: 8192)."""
    max_completion_length: int = 16384
    """Everything after the first prompt (policy + tool tokens) that the loss sees; longer traces are cut."""
    # --- rewards
    reward_correctness: float = 0.9
    reward_format: float = 0.1
    reward_search_cost: float = 0.0
    reward_correct_search_cost: float = 0.0
    """Per search of a run whose answer is right (`rl.rewards.correct_search_cost`); a wrong run pays nothing."""
    reward_needless_tools: float = 0.0
    """Per tool action the question did not need, by the generator's labels (`rl.rewards.needless_tools`): a search
    on a search-free question, a crop where no crop is needed, a repeated text query. Needs `search_type` (and
    `target`) in the data."""
    reward_needless_search: float = 0.0
    """Per search on a search-free question, by the labels (`rl.rewards.needless_search`): `reward_needless_tools`
    without its cost on unneeded crops and repeated queries. Needs `search_type` in the data."""
    reward_missing_search: float = 0.0
    """Per run that ended a search-required question without a search, by the labels (`rl.rewards.missing_search`):
    the counterpart of `reward_needless_tools`, which alone teaches the policy to stop searching everywhere."""
    reward_refused_calls: float = 0.0
    judge: str = "rule"
    """"rule" (offline) or "llm" (the paper's LLM judge at `judge_base_url` / `judge_model`)."""
    judge_base_url: str | None = None
    judge_model: str | None = None
    # --- running
    bf16: Bf16Setting = False
    """Mixed precision: true, false or "auto" (bf16 where the hardware runs it natively,
    `policy.precision.resolve_bf16`); autocast over fp32 weights on CPU, bf16 weights on GPU."""
    use_cpu: bool = True
    use_vllm: bool = False
    """Generate on the trainer's colocated vLLM engine (GPU)."""
    vllm_gpu_memory_utilization: float = 0.3
    save_steps: int = 10
    logging_steps: int = 1
    report_to: str = "wandb"
    seed: int = 0
    max_seconds: float | None = None
    """Stop (and save) after this much training time."""
    stop_on_alarm: bool = False
    """End the run when `rl.monitors.CollapseAlarm` fires (it always logs)."""
    skip_zero_advantage: bool = False
    """Spend no forward/backward on micro-batches whose advantages are all zero (groups with one reward for every
    rollout): their only gradient is the KL term (`rl.trainer`)."""
    # --- the first-decision monitor (`rl.decision_monitor`)
    probe_every: int = 0
    """Probe P(search) on held-out questions before training and after every N optimiser steps; 0: off. Each probe
    costs one forward per question (~0.6 s a question on 2 cores) and counts against `max_seconds`."""
    probe_data: str | None = None
    """The generated DeepMMSearchVQA folder (with `questions.jsonl`) to probe; None: the folder that holds `data`."""
    probe_split: str = "validation"
    probe_sample: int = 48
    """Questions probed (a seeded sample, the same every probe and as `deepmmsearch decision --sample`)."""

    @classmethod
    def load(cls, path: Path, **overrides: Any) -> RLRecipe:
        """Read a YAML recipe and apply the non-None `overrides`.

        Raises:
            ValueError: an unknown key, or a missing required one.
        """
        from graph.recipe import load_recipe

        return load_recipe(cls, path, ("model", "data", "out"), **overrides)

    def resolved_profile(self) -> str:
        """The prompt profile of the rollouts (see `profile`)."""
        if self.profile is not None:
            return self.profile
        from policy.profile import load_profile

        saved = load_profile(self.model)
        return saved.name if saved is not None else "paper"

    def rubric(self) -> Any:
        """The reward terms and their weights."""
        from rl.rewards import Rubric

        return Rubric(
            correctness=self.reward_correctness,
            format=self.reward_format,
            search_cost=self.reward_search_cost,
            correct_search_cost=self.reward_correct_search_cost,
            needless_tools=self.reward_needless_tools,
            needless_search=self.reward_needless_search,
            missing_search=self.reward_missing_search,
            refused_calls=self.reward_refused_calls,
        )

    def run_config(self) -> Any:
        """The graph's `RunConfig` for rollouts: inference limits, the trainer's sampling, the profile's prompts."""
        from graph.context import RunConfig
        from policy.profile import get_profile

        base = RunConfig(
            max_turns=self.max_turns,
            max_tool_calls=self.max_tool_calls,
            max_image_searches=self.max_image_searches,
            max_new_tokens=self.max_new_tokens,
            max_response_tokens=self.max_response_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
        )
        return get_profile(self.resolved_profile()).run_config(base)


def build_dataset(recipe: RLRecipe) -> tuple[Any, dict[str, str]]:
    """The GRPO dataset (prompt = the graph's first message, image, gold columns) and its prompt → question map.

    Raises:
        ValueError: the split is missing or holds no usable question.
    """
    import datasets

    from rl.rollout import grpo_prompt, prompt_key

    try:
        loaded = datasets.load_from_disk(recipe.data)
    except FileNotFoundError as exc:
        raise ValueError(f"{recipe.data} is not a hf/questions DatasetDict ({exc})") from None
    if not isinstance(loaded, datasets.DatasetDict) or recipe.split not in loaded:
        raise ValueError(f"{recipe.data} has no split {recipe.split!r} (expected a hf/questions DatasetDict)")
    rows = loaded[recipe.split]
    if recipe.only_teacher_solved and "teacher_solved" in rows.column_names:
        rows = rows.filter(lambda r: bool(r["teacher_solved"]))
    labelled = {
        "reward_needless_tools": recipe.reward_needless_tools,
        "reward_needless_search": recipe.reward_needless_search,
        "reward_missing_search": recipe.reward_missing_search,
    }
    if any(labelled.values()) and "search_type" not in rows.column_names:
        used = " and ".join(k for k, w in labelled.items() if w)
        raise ValueError(f"{used} needs a search_type column, and {recipe.data} has none")
    if recipe.search_types is not None:
        unknown = set(recipe.search_types) - set(SEARCH_TYPES)
        if unknown or not recipe.search_types:
            raise ValueError(f"search_types must be a non-empty subset of {SEARCH_TYPES}, got {recipe.search_types}")
        wanted = set(recipe.search_types)
        rows = rows.filter(lambda r: r["search_type"] in wanted)
    if len(rows) == 0:
        raise ValueError(f"{recipe.data}[{recipe.split}] has no question to train on")
    if recipe.balance_search_types:
        if "search_type" not in rows.column_names:
            raise ValueError(f"balance_search_types needs a search_type column, and {recipe.data} has none")
        rows = rows.select(alternating_order(rows["search_type"], recipe.seed))
    style = recipe.run_config().style
    gold = ("answer", "aliases", "numeric", "tolerance")
    keep = {"id", "image", "question", *gold, "category", "search_type", "target"}  # target: `crop_needs`
    rows = rows.remove_columns([c for c in rows.column_names if c not in keep])
    rows = rows.map(lambda r: {"prompt": grpo_prompt(r["question"], style)})
    questions = {prompt_key(grpo_prompt(q, style)): q for q in rows["question"]}
    return rows, questions


def alternating_order(search_types: Sequence[str], seed: int) -> list[int]:
    """Row indices alternating search-free and search-required questions, each kind in a seeded random order.

    The kind with more questions starts; once the other runs out, its remaining questions follow in their order.

    Raises:
        ValueError: only one kind among the questions (nothing to balance).
    """
    rng = random.Random(seed)
    free = [i for i, t in enumerate(search_types) if t == "none"]
    required = [i for i, t in enumerate(search_types) if t != "none"]
    if not free or not required:
        raise ValueError("balance_search_types needs both search-free and search-required questions")
    rng.shuffle(free)
    rng.shuffle(required)
    first, second = (free, required) if len(free) >= len(required) else (required, free)
    order = [i for pair in zip(first, second, strict=False) for i in pair]
    return order + first[len(second) :]


def crop_needs(rows: Any) -> dict[str, bool] | None:
    """Prompt text -> whether its question takes a crop (None without `target` and `search_type` columns).

    With it GRPO logs its unnecessary crops as it trains (`rl.monitors.rollout_metrics`).
    """
    from evals.records import crop_needed
    from rl.rollout import prompt_key

    if not {"target", "search_type"} <= set(rows.column_names):
        return None
    return {
        prompt_key(p): crop_needed(t, s)
        for p, t, s in zip(rows["prompt"], rows["target"], rows["search_type"], strict=True)
    }


def make_judge(recipe: RLRecipe) -> Any:
    """The correctness judge of the reward.

    Raises:
        ValueError: an unknown judge, or an LLM judge without its endpoint.
    """
    from evals.judge import RuleJudge

    if recipe.judge == "rule":
        return RuleJudge()
    if recipe.judge != "llm":
        raise ValueError(f"unknown judge {recipe.judge!r}: use rule or llm")
    if not (recipe.judge_base_url and recipe.judge_model):
        raise ValueError("an LLM judge needs judge_base_url and judge_model")
    import os

    from evals.llm_judge import LLMJudge
    from tools.live import ChatEndpoint

    endpoint = ChatEndpoint(recipe.judge_base_url, recipe.judge_model, api_key=os.environ.get("OPENAI_API_KEY"))
    return LLMJudge(endpoint, prompt="reward")  # the paper's GRPO reward prompt (App. E.6)


def grpo_config(recipe: RLRecipe) -> Any:
    """TRL's `GRPOConfig` of a recipe, every paper-relevant default set explicitly."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=recipe.out,
        max_steps=recipe.max_steps,
        num_train_epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_steps,
        per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation,
        steps_per_generation=recipe.steps_per_generation,
        num_generations=recipe.num_generations,
        max_completion_length=recipe.max_completion_length,
        temperature=recipe.temperature,
        top_p=recipe.top_p,
        beta=recipe.beta,
        epsilon=recipe.epsilon,
        loss_type=recipe.loss_type,
        scale_rewards=recipe.scale_rewards,
        mask_truncated_completions=recipe.mask_truncated_completions,
        reward_weights=recipe.rubric().weights(),
        activation_checkpointing=recipe.gradient_checkpointing,  # transformers 5 name of gradient_checkpointing
        bf16=resolve_bf16(recipe.bf16, recipe.use_cpu),
        use_cpu=recipe.use_cpu,
        use_vllm=recipe.use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=recipe.vllm_gpu_memory_utilization,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=2,
        logging_steps=recipe.logging_steps,
        report_to=[] if recipe.report_to == "none" else [recipe.report_to],
        seed=recipe.seed,
        shuffle_dataset=not recipe.balance_search_types,  # balanced: the dataset's own alternating order
        remove_unused_columns=False,  # the gold columns reach the reward functions
        dataloader_num_workers=0,
    )


@dataclass
class RLRun:
    """A built trainer and the parts the run reports on."""

    trainer: Any
    rollout: Any


def build_trainer(recipe: RLRecipe, *, tools: Any = None, seed: int | None = None) -> RLRun:
    """The `GRPOTrainer` of a recipe: model, processor, dataset, graph rollout, rewards, monitors.

    Args:
        recipe: the run.
        tools: the rollouts' toolset (default: the frozen web at `recipe.world`).
        seed: sampling seed of the rollout backend (tests); None samples freely.
    """
    import os

    from transformers import AutoModelForImageTextToText

    from policy.processors import load_processor
    from rl.monitors import CollapseAlarm, Stopwatch, step_times_callback, timed
    from rl.rollout import GraphRollout
    from rl.trainer import grpo_trainer_class
    from sft.train import lora_config, time_budget_callback, weights_dtype

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental; trl is pinned
    if tools is None:
        from tools.defaults import default_toolset

        tools = default_toolset(recipe.world)
    dataset, questions = build_dataset(recipe)  # bad data fails before the model loads
    monitor = decision_monitor(recipe)
    needs_crop = crop_needs(dataset)
    processor = load_processor(recipe.model)
    bf16 = resolve_bf16(recipe.bf16, recipe.use_cpu)
    model = AutoModelForImageTextToText.from_pretrained(recipe.model, dtype=weights_dtype(bf16, recipe.use_cpu))
    rollout_watch, reward_watch = Stopwatch(), Stopwatch()
    rollout = GraphRollout(
        tools,
        recipe.run_config(),
        questions,
        max_completion_length=recipe.max_completion_length,
        seed=seed,
        needs_crop=needs_crop,
    )
    rewards = [timed(f, reward_watch) for f in recipe.rubric().functions(make_judge(recipe))]
    peft = (
        lora_config(recipe.lora_r, recipe.lora_alpha, recipe.lora_dropout, recipe.lora_targets)
        if recipe.lora
        else None
    )
    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    callbacks = [
        step_times_callback(out / "steps.jsonl", rollout_watch, reward_watch),
        CollapseAlarm(stop=recipe.stop_on_alarm).callback(out),
    ]
    if monitor is not None:
        callbacks.append(monitor.callback())
    if recipe.max_seconds:
        callbacks.append(time_budget_callback(recipe.max_seconds))
    trainer = grpo_trainer_class(recipe.skip_zero_advantage)(
        model=model,
        reward_funcs=rewards,
        args=grpo_config(recipe),
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft,
        callbacks=callbacks,
        rollout_func=timed(rollout, rollout_watch),
    )
    if monitor is not None:
        monitor.trainer = trainer
    return RLRun(trainer, rollout)


def decision_monitor(recipe: RLRecipe) -> Any:
    """The recipe's `rl.decision_monitor.DecisionMonitor` (writing `out/decision.jsonl`), or None when off.

    Raises:
        ValueError: a negative `probe_every`, or probe data that cannot be read (before any model loads).
    """
    if recipe.probe_every < 0:
        raise ValueError(f"probe_every must be ≥ 0, got {recipe.probe_every}")
    if not recipe.probe_every:
        return None
    from policy.profile import get_profile
    from rl.decision_monitor import DecisionMonitor, probe_examples

    folder = Path(recipe.probe_data) if recipe.probe_data else Path(recipe.data).parent.parent  # DIR/hf/questions
    examples = probe_examples(folder, recipe.probe_split, recipe.probe_sample, recipe.seed)
    style = get_profile(recipe.resolved_profile()).style
    return DecisionMonitor(examples, style, recipe.probe_every, Path(recipe.out) / "decision.jsonl")


def curves(history: list[dict[str, Any]], path: Path, decision: Sequence[dict[str, Any]] = ()) -> Path:
    """Plot reward, format rate, KL and tool calls by step as one PNG, and the probed P(search) when there is one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [
        ("reward", "reward"),
        ("rollout/format_rate", "format rate"),
        ("kl", "KL to the SFT policy"),
        ("rollout/tool_calls", "tool calls per rollout"),
    ]
    columns = 3 if decision else 2
    fig = Figure(figsize=(5 * columns, 6))
    FigureCanvasAgg(fig)
    for i, (key, title) in enumerate(panels, start=1):
        ax = fig.add_subplot(2, columns, i + (i > 2 and columns == 3))
        points = [(h["step"], h[key]) for h in history if key in h and "step" in h]
        if points:
            ax.plot(*zip(*points, strict=True), marker=".")
        ax.set_title(title)
        ax.set_xlabel("step")
    if decision:
        ax = fig.add_subplot(1, 3, 3)
        for key, label in (("p_search_required", "search-required"), ("p_search_free", "search-free")):
            points = [(row["step"], row[key]) for row in decision if row[key] is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=label)
        ax.set_ylim(0, 1)
        ax.set_title("held-out P(search) at the first decision")
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def train(recipe: RLRecipe, *, tools: Any = None, seed: int | None = None) -> dict[str, Any]:
    """Train (or resume), save `<out>/final` (LoRA merged), curves and the step-time split; return a summary."""
    from policy.profile import get_profile
    from rl.monitors import time_breakdown
    from sft.train import last_checkpoint, save_final

    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))
    run = build_trainer(recipe, tools=tools, seed=seed)
    trainer = run.trainer
    result = trainer.train(resume_from_checkpoint=last_checkpoint(out))
    profile = get_profile(recipe.resolved_profile())
    final = save_final(trainer, out / "final", profile, merge=recipe.lora)
    from rl.decision_monitor import decision_trend

    history = trainer.state.log_history
    trend = decision_trend(out / "decision.jsonl")
    if trainer.is_world_process_zero():
        curves(history, out / "curves.png", trend)
        (out / "log_history.json").write_text(json.dumps(history, indent=1))
    logged = [h for h in history if "reward" in h]
    summary = {
        "steps": result.global_step,
        "seconds": result.metrics.get("train_runtime"),
        "final": str(final),
        "profile": profile.name,
        "bf16": resolve_bf16(recipe.bf16, recipe.use_cpu),
        "first_reward": logged[0]["reward"] if logged else None,
        "last_reward": logged[-1]["reward"] if logged else None,
        "time_per_step": time_breakdown(out / "steps.jsonl"),
        "alarms": (out / "alarms.jsonl").read_text().splitlines() if (out / "alarms.jsonl").is_file() else [],
        "decision": trend,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


OVERRIDES = ("model", "data", "world", "num_generations", "batch_size")
"""Recipe fields that this job's own flags override (besides `graph.recipe.COMMON_OVERRIDES`)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The trainer's options (shared by `python rl/train.py` and `deepmmsearch rl`)."""
    from graph.recipe import add_recipe_arguments

    add_recipe_arguments(p, "recipes/rl-*.yaml")
    p.add_argument("--model", help="override: the SFT checkpoint to start from")
    p.add_argument("--data", help="override: the hf/questions dataset folder")
    p.add_argument("--world", help="override: the frozen web the rollouts search")
    p.add_argument("--num-generations", type=int, help="override: rollouts per question")
    p.add_argument("--batch-size", type=int, help="override: rollouts per device per micro-step")


def _checked(path: Path, **overrides: Any) -> RLRecipe:
    recipe = RLRecipe.load(path, **overrides)
    recipe.rubric()  # every weight 0 fails here, before the model loads
    return recipe


def handle(args: argparse.Namespace) -> int:
    """Run one recipe from parsed arguments (wandb logs offline unless WANDB_MODE says otherwise)."""
    from graph.recipe import COMMON_OVERRIDES, run_recipe_job

    return run_recipe_job(
        args,
        _checked,
        COMMON_OVERRIDES + OVERRIDES,
        lambda r: {"model": r.model, "data": r.data, "world": r.world},
        train,
    )


COMMAND = Subcommand("rl", "online GRPO through the agent graph", __doc__ or "", "rl/train.py", add_arguments, handle)
register = COMMAND.register
main = COMMAND.main


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
