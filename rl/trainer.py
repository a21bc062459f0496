"""The GRPO trainer class: TRL's `GRPOTrainer`, optionally spending nothing on groups that carry no signal.

A GRPO group whose rollouts all earn the same reward has zero advantage everywhere, so its policy-gradient term is
zero; what is left is the KL pull towards the reference (beta 0.001). On 2 CPU cores the policy forward and backward
is about half of a step, and with a weak SFT policy most groups are like this (all wrong). Skipping their update is
the filter half of DAPO's dynamic sampling (Yu et al. 2025) without its re-sampling: the step still rolls out and
logs, but spends no forward/backward on a micro-batch whose advantages are all zero, and the optimiser leaves the
weights alone (no gradient, so AdamW skips them; the learning-rate schedule advances as usual).

TRL computes the reference model's log-probabilities right after generation, before the rewards are known, so a
skipped micro-batch would still pay a full forward for a KL term nobody uses. The skipping trainer defers that
forward to the loss of the micro-batches that do update. The reference is fixed (adapters off, or a frozen copy),
so computing it later gives the same numbers.
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
