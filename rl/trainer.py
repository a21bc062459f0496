"""The GRPO trainer class: TRL's `GRPOTrainer`, optionally without the update of groups that carry no signal.

A GRPO group whose rollouts all earn the same reward has zero advantage everywhere, so its policy-gradient term is
zero; what is left is the KL pull towards the reference (beta 0.001). On 2 CPU cores the policy forward and backward
is about half of a step, and with a weak SFT policy most groups are like this (all wrong). Skipping their update is
the filter half of DAPO's dynamic sampling (Yu et al. 2025) without its re-sampling: the step still rolls out and
logs, but spends no forward/backward on a micro-batch whose advantages are all zero, and the optimiser leaves the
weights alone (no gradient, so AdamW skips them; the learning-rate schedule advances as usual).
"""

from __future__ import annotations

from typing import Any


def grpo_trainer_class(skip_zero_advantage: bool) -> Any:
    """`trl.GRPOTrainer`, or a subclass that skips the update of micro-batches whose advantages are all zero.

    Under several processes (DDP) the decision is collective: a micro-step is skipped only when every process's
    micro-batch is all zero, because DDP's gradient all-reduce needs a backward on every process.
    """
    from trl import GRPOTrainer

    if not skip_zero_advantage:
        return GRPOTrainer

    class SkippingGRPOTrainer(GRPOTrainer):
        """GRPO that spends no forward/backward on micro-batches with all-zero advantages."""

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
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # a zero loss with no path to the weights: backward is a no-op, no gradient reaches the optimiser
            return torch.zeros((), device=self.accelerator.device, requires_grad=True)

    return SkippingGRPOTrainer
