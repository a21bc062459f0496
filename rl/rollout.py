"""The GRPO rollout: TRL's `rollout_func` runs the compiled agent graph and hands back its token trace.

TRL calls `GraphRollout(prompts, trainer)` with the batch's prompts, already repeated `num_generations` times. Each
prompt is the graph's own first message (`nodes.reason.first_messages`, with the question image filled in by TRL),
so TRL's re-rendering of the prompt for the training forward pass (pixel values, image token positions) is the same
text the graph's policy was conditioned on. The rollouts run together through `graph.batch`; the policy node's calls
meet in `policy.batching.BatchingPolicy`, so a group costs about one batched generation per turn.

The generation backend is the trainer's own model: on CPU (and GPU without vLLM) an `HFPolicy` on the unwrapped
model — under `unwrap_model_for_generation` with the trainer's gradient-checkpointing arguments, so the KV cache is
on — and with `use_vllm` in colocate mode a `VLLMPolicy` on the trainer's engine (weights synced by TRL before the
call). Either way the graph records prompt ids, completion ids, behaviour log-probabilities and `env_mask` as the
policy produced them (`graph.trace`); nothing is re-tokenised here.

Returned per row: `prompt_ids`, `completion_ids`, `logprobs`, `env_mask` (truncated to `max_completion_length`)
and `rollout`, a `rl.rewards.RolloutOutcome` that TRL passes to the reward functions. Rollout statistics
(`rl.monitors.rollout_metrics`) and the rollout's wall time go to the trainer's logged metrics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from graph.context import RunConfig
from graph.state import AgentInput
from nodes.reason import first_messages
from policy.base import ChatMessage
from rl.monitors import log_metrics, rollout_metrics
from rl.rewards import RolloutOutcome, outcome_from_state
from tools.base import Toolset


def grpo_prompt(question: str, style: str) -> list[ChatMessage]:
    """The conversational prompt of a question in the GRPO dataset: the graph's first message, verbatim."""
    return first_messages(question, "agent", style)


def prompt_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of a prompt's first user message: identifies the question across TRL's copies of the prompt."""
    return "".join(part.get("text") or "" for part in messages[0]["content"] if part.get("type") == "text")


def _prompt_image(messages: Sequence[Mapping[str, Any]]) -> Any:
    for part in messages[0]["content"]:
        if part.get("type") == "image" and part.get("image") is not None:
            return part["image"]
    raise ValueError("a GRPO prompt must carry its question image (the dataset's `image` column)")


def trace_batch(states: Sequence[Mapping[str, Any]], max_completion_length: int | None) -> dict[str, list[Any]]:
    """TRL's `rollout_func` output for finished graph states (token traces cut at `max_completion_length`)."""
    out: dict[str, list[Any]] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [], "rollout": []}
    for state in states:
        trace = state["trace"]
        if not trace["prompt_ids"]:
            raise ValueError("the policy backend returned no token ids; GRPO needs a token-level backend")
        n = len(trace["completion_ids"]) if max_completion_length is None else max_completion_length
        out["prompt_ids"].append(list(trace["prompt_ids"]))
        out["completion_ids"].append(list(trace["completion_ids"][:n]))
        out["logprobs"].append(list(trace["logprobs"][:n]))
        out["env_mask"].append(list(trace["env_mask"][:n]))
        out["rollout"].append(outcome_from_state(dict(state)))
    return out


def _merge_adapters(model: Any) -> bool:
    """Fold LoRA adapters into the base weights for generation (PEFT models); True if merged.

    Unmerged, every adapted linear layer runs two extra small matmuls per decoding step, which on CPU costs about as
    much as the layer itself; merged, generation runs at the base model's speed. `unmerge_adapter` restores the
    weights the optimiser trains (up to float rounding).
    """
    if not hasattr(model, "merge_adapter") or not getattr(model, "peft_config", None):
        return False
    model.merge_adapter()
    return True


class GraphRollout:
    """TRL `rollout_func`: roll the compiled agent graph out on a batch of prompts.

    Example:
        >>> rollout = GraphRollout(default_toolset("runs/world/full"), RunConfig(temperature=1.0),  # doctest: +SKIP
        ...                        questions={prompt_key(grpo_prompt(q, "compact")): q for q in questions})
        >>> GRPOTrainer(model, rewards, args=args, train_dataset=ds, rollout_func=rollout)  # doctest: +SKIP
    """

    def __init__(
        self,
        tools: Toolset,
        run_config: RunConfig,
        questions: Mapping[str, str],
        *,
        max_completion_length: int | None = None,
        seed: int | None = None,
        needs_crop: Mapping[str, bool] | None = None,
        max_wait_ms: float = 50.0,
        max_delay_ms: float = 2000.0,
    ) -> None:
        """Set up the rollout.

        Args:
            tools: the toolset the graph's tool nodes use (the frozen web offline).
            run_config: limits and sampling of every rollout; its temperature must be the trainer's (TRL recomputes
                log-probabilities at that temperature).
            questions: prompt text (`prompt_key`) -> question, for the training prompts.
            max_completion_length: cut each trace here (TRL's `max_completion_length`); None keeps it whole.
            seed: sampling seed of the HF backend (tests); None leaves torch's generator alone.
            needs_crop: prompt text (`prompt_key`) -> whether the question takes a crop; logs the crop share by need
                (`rl.monitors.rollout_metrics`). None: not logged.
            max_wait_ms: the micro-batcher's quiet period. A training rollout cares about throughput, not latency:
                waiting long enough for every rollout's first turn makes it one batch (each extra batch costs a
                full `max_new_tokens` of sequential decoding steps).
            max_delay_ms: how long a batch waits for rollouts that are still running tools.
        """
        self.tools = tools
        self.run_config = run_config
        self.questions = dict(questions)
        self.max_completion_length = max_completion_length
        self.seed = seed
        self.needs_crop = dict(needs_crop) if needs_crop is not None else None
        self.max_wait_ms = max_wait_ms
        self.max_delay_ms = max_delay_ms
        self._hf: Any = None

    def inputs(self, prompts: Sequence[Sequence[Mapping[str, Any]]]) -> list[AgentInput]:
        """The graph inputs of TRL's prompts (question from the prompt's text, image as an inline data URL).

        Raises:
            KeyError: a prompt that is not one of the training questions.
        """
        from tools.images import make_ref, to_data_url

        out = []
        for messages in prompts:
            key = prompt_key(messages)
            if key not in self.questions:
                raise KeyError(f"GRPO prompt not among the training questions: {key[:80]!r}")
            image = _prompt_image(messages)
            out.append(AgentInput(question=self.questions[key], image=make_ref(to_data_url(image), image)))
        return out

    def run(self, policy: Any, inputs: Sequence[AgentInput]) -> list[dict[str, Any]]:
        """Run the graph on `inputs` concurrently with `policy` (any `Policy`); the final states, in order."""
        from graph.build import build_graph
        from policy.batching import BatchingPolicy

        with BatchingPolicy(
            policy, max_batch_size=max(1, len(inputs)), max_wait_ms=self.max_wait_ms, max_delay_ms=self.max_delay_ms
        ) as batched:
            graph = build_graph(batched, self.tools)
            return graph.batch(list(inputs), context=self.run_config, config={"max_concurrency": max(1, len(inputs))})

    def __call__(self, prompts: list[list[dict[str, Any]]], trainer: Any) -> dict[str, list[Any]]:
        """TRL's hook: one rollout per prompt, with the trainer's current weights."""
        started = time.perf_counter()
        inputs = self.inputs(prompts)
        if getattr(trainer.args, "use_vllm", False):
            states = self.run(self._vllm_policy(trainer), inputs)
        else:
            from trl.models import unwrap_model_for_generation

            with unwrap_model_for_generation(
                trainer.model_wrapped,
                trainer.accelerator,
                gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
            ) as model:
                policy, base = self._hf_policy(model, trainer.processing_class)
                was_training = base.training
                merged = _merge_adapters(model)
                try:
                    states = self.run(policy, inputs)
                finally:
                    if merged:
                        model.unmerge_adapter()
                    base.train(was_training)
        out = trace_batch(states, self.max_completion_length)
        outcomes: list[RolloutOutcome] = out["rollout"]
        needs = [self.needs_crop.get(prompt_key(p)) for p in prompts] if self.needs_crop is not None else None
        metrics = rollout_metrics(outcomes, needs)
        log_metrics(trainer, {**metrics, "time/rollout_seconds": time.perf_counter() - started})
        return out

    def _hf_policy(self, model: Any, processor: Any) -> tuple[Any, Any]:
        """An `HFPolicy` on the model being trained (the PEFT base model carries the adapters in place)."""
        from policy.hf import HFPolicy

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        base.eval()  # generation mode for this call; `__call__` restores the training mode after
        if self._hf is None or self._hf.model is not base:
            self._hf = HFPolicy(base, processor, seed=self.seed)
        else:
            self._hf.clear_prefix_cache()  # the kept KV caches belong to the previous step's weights
        return self._hf, base

    @staticmethod
    def _vllm_policy(trainer: Any) -> Any:
        from policy.vllm import VLLMPolicy

        if trainer.args.vllm_mode != "colocate":
            raise ValueError("graph rollouts generate with the trainer's colocated engine: set vllm_mode='colocate'")
        return VLLMPolicy.from_engine(trainer.vllm_generation.llm, trainer.processing_class)
