"""The GRPO trainer class: TRL's `GRPOTrainer`, optionally spending nothing on groups that carry no signal.

A GRPO group whose rollouts all earn the same reward has zero advantage everywhere, so its policy-gradient term is
zero; what is left is the KL pull towards the reference (beta 0.001). On 2 CPU cores the policy forward and backward
is about half of a step, and with a weak SFT policy most groups are like this (all wrong). Skipping their update is
the filter half of DAPO's dynamic sampling (Yu et al. 2025) without its re-sampling: the step still rolls out and
logs, but spends no forward/backward on a micro-batch whose advantages are all zero, and the optimiser leaves the
weights alone (no gradient, so AdamW skips them; the learning-rate schedule advances as usual).

Three more things make the skip pay when a step holds several questions:

- TRL computes the reference model's log-probabilities right after generation, before the rewards are known, so a
  skipped micro-batch would still pay a full forward for a KL term nobody uses. The skipping trainer defers that
  forward to the loss of the micro-batches that do update. The reference is fixed (adapters off, or a frozen copy),
  so computing it later gives the same numbers.
- TRL shuffles the generation batch before cutting it into micro-batches, which mixes rows of flat groups into every
  micro-batch, so almost none could be skipped. When one optimiser step consumes the whole generation batch (its
  gradient is the sum over the micro-batches, whatever the order), the rows with signal go first instead.
- TRL pads every micro-batch to the longest completion of the whole generation batch; one looping rollout then makes
  every forward and backward of the step that long. A micro-batch is cut to its own longest completion (the cut
  columns are right padding, masked out of the loss, and causal attention never looks ahead).
"""

from __future__ import annotations

from typing import Any

FORWARD_INPUTS = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)
"""The multimodal forward inputs TRL's loss passes to the model with a micro-batch (`GRPOTrainer._compute_loss`)."""

PER_COMPLETION_TOKEN = (
    "completion_ids",
    "completion_mask",
    "tool_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "importance_sampling_ratio",
)
"""Micro-batch entries with one column per completion token (a `(B, 1)` sequence-level ratio has none to cut)."""

PER_TOKEN = ("token_type_ids", "mm_token_type_ids")
"""Micro-batch entries with one column per prompt and completion token."""


def trim_completion_padding(inputs: dict[str, Any]) -> dict[str, Any]:
    """A micro-batch cut to its longest completion: the columns after it are padding in every row.

    Raises:
        ValueError: an entry with a completion-token axis of another length than `completion_ids`.
    """
    mask = inputs["completion_mask"]
    width = mask.size(1)
    used = mask.any(dim=0).nonzero()
    keep = int(used.max()) + 1 if used.numel() else 1
    if keep == width:
        return inputs
    prompt = inputs["prompt_ids"].size(1)
    out = dict(inputs)
    for key in PER_COMPLETION_TOKEN:
        value = inputs.get(key)
        if value is None or value.dim() < 2 or (key == "importance_sampling_ratio" and value.size(1) == 1):
            continue
        if value.size(1) != width:
            raise ValueError(f"{key} has {value.size(1)} completion columns, completion_ids {width}")
        out[key] = value[:, :keep]
    for key in PER_TOKEN:
        value = inputs.get(key)
        if value is not None:
            out[key] = value[:, : prompt + keep]
    return out


def signal_first(batch: dict[str, Any]) -> dict[str, Any]:
    """The generation batch with its rows reordered so that rows with a non-zero advantage come first (stable)."""
    import torch

    order = torch.argsort((batch["advantages"] == 0).to(torch.int64), stable=True)

    def permute(value: Any) -> Any:
        if value is None or (isinstance(value, torch.Tensor) and value.dim() == 0):
            return value
        if isinstance(value, torch.Tensor):
            return value[order.to(value.device)]
        return [value[i] for i in order.tolist()]

    return {key: permute(value) for key, value in batch.items()}


def grpo_trainer_class(skip_zero_advantage: bool) -> Any:
    """`trl.GRPOTrainer`, or a subclass that skips the update of micro-batches whose advantages are all zero.

    Under several processes (DDP) the decision is collective: a micro-step is skipped only when every process's
    micro-batch is all zero, because DDP's gradient all-reduce needs a backward on every process.
    """
    from trl import GRPOTrainer

    if not skip_zero_advantage:
        return GRPOTrainer

    class SkippingGRPOTrainer(GRPOTrainer):
        """GRPO that spends no forward, backward or reference forward on micro-batches with all-zero advantages."""

        def _prepare_inputs(self, generation_batch: Any) -> Any:
            """TRL's buffering of a generation batch into micro-batches, with signal-first order instead of a shuffle.

            Only when the micro-batches of one generation batch all feed one optimiser step (the order then cannot
            change the summed gradient); otherwise TRL's own shuffle runs.
            """
            from trl.trainer.utils import split_pixel_values_by_grid, split_tensor_dict, unsplit_pixel_values_by_grid

            args: Any = self.args
            model: Any = self.model
            per_generation = args.steps_per_generation
            one_step = per_generation == args.gradient_accumulation_steps and self.num_iterations == 1
            if not (model.training and one_step):
                return super()._prepare_inputs(generation_batch)
            if self._step % per_generation == 0 or self._buffered_inputs is None:
                batch: Any = split_pixel_values_by_grid(self._generate_and_score_completions(generation_batch))
                batches: Any = split_tensor_dict(signal_first(batch), per_generation)
                buffered: Any = [unsplit_pixel_values_by_grid(b) for b in batches]
                self._buffered_inputs = buffered
            cached: Any = self._buffered_inputs
            return cached[self._step % per_generation]

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            beta, self.beta = self.beta, 0.0  # TRL reads beta here only to run the reference forward: defer it
            try:
                return super()._generate_and_score_completions(inputs)
            finally:
                self.beta = beta

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            import torch

            signal = torch.any(inputs["advantages"] != 0).to(torch.int64).reshape(1)
            if self.accelerator.num_processes > 1:
                signal = self.accelerator.gather(signal.to(self.accelerator.device))
            skip = not bool(signal.any())
            mode = "train" if model.training else "eval"
            self._metrics[mode]["update/skipped"].append(float(skip))
            if not skip:
                inputs = trim_completion_padding(inputs)
                if self.beta != 0.0 and "ref_per_token_logps" not in inputs:
                    inputs = {**inputs, "ref_per_token_logps": self.reference_logps(inputs)}
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # a zero loss with no path to the weights: backward is a no-op, no gradient reaches the optimiser
            return torch.zeros((), device=self.accelerator.device, requires_grad=True)

        def reference_logps(self, inputs: dict[str, Any]) -> Any:
            """The reference policy's per-token log-probabilities of a micro-batch's completions (no gradient).

            The same forward TRL runs after generation: a separate reference model if there is one, else the
            trained model with its adapters off (or on the frozen "ref" adapter when re-training an adapter).
            """
            import contextlib

            import torch
            from trl.models.utils import disable_gradient_checkpointing
            from trl.trainer.utils import use_adapter

            prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
            input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
            attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
            forward = {k: inputs.get(k) for k in FORWARD_INPUTS}
            trained: Any = self.model  # the accelerator's wrapper; PEFT's adapters live inside it
            model = trained
            adapters: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            if self.ref_model is not None:
                model = self.ref_model
            else:
                unwrapped: Any = self.accelerator.unwrap_model(trained)
                adapters = use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None)
            checkpointing: Any = self.args.gradient_checkpointing_kwargs
            with torch.no_grad(), disable_gradient_checkpointing(trained, checkpointing), adapters:
                logps, _, _ = self._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, completion_ids.size(1), **forward
                )
            return logps

    return SkippingGRPOTrainer
