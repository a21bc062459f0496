"""The skipping GRPO trainer: signal-first micro-batches and per-micro-batch padding, on real tiny-policy rollouts."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from rl_helpers import small_recipe  # noqa: E402

from rl.trainer import signal_first, trim_completion_padding  # noqa: E402


def test_signal_first_moves_every_per_row_entry_together():
    import torch

    batch = {
        "advantages": torch.tensor([0.0, 1.0, 0.0, -1.0]),
        "prompt_ids": torch.tensor([[10], [11], [12], [13]]),
        "pixel_values": [torch.full((2, 3), float(i)) for i in range(4)],  # TRL's per-row split of the patches
        "num_items_in_batch": torch.tensor(7),
    }
    out = signal_first(batch)
    assert out["advantages"].tolist() == [1.0, -1.0, 0.0, 0.0]
    assert out["prompt_ids"].flatten().tolist() == [11, 13, 10, 12]  # stable within each kind
    assert [int(p[0, 0]) for p in out["pixel_values"]] == [1, 3, 0, 2]
    assert int(out["num_items_in_batch"]) == 7


def _trainer(rl_setup, out: Path, **kw):
    from rl.train import build_trainer

    trainer = build_trainer(small_recipe(rl_setup, out, skip_zero_advantage=True, **kw), seed=0).trainer
    trainer.model.train()
    return trainer


def test_one_step_per_generation_puts_rows_with_signal_in_the_first_micro_batches(rl_setup, tmp_path: Path):
    import torch

    # 4 questions x 2 rollouts per generation batch, cut into 2 micro-batches of 4 that feed one optimiser step
    trainer = _trainer(rl_setup, tmp_path / "order", batch_size=4, gradient_accumulation=2)
    trainer.current_gradient_accumulation_steps = 2
    generate = trainer._generate_and_score_completions
    pattern = torch.tensor([0.0, 0.0, 0.7, -0.7, 0.0, 0.0, -0.7, 0.7])  # the 2nd and 4th groups carry a signal

    def scored(batch):  # the real rollouts and forward inputs, with a known advantage pattern
        out = generate(batch)
        return {**out, "advantages": pattern.clone(), "probe": list(range(8))}

    trainer._generate_and_score_completions = scored
    first = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    second = trainer._buffered_inputs[1]
    assert first["probe"] == [2, 3, 6, 7] and second["probe"] == [0, 1, 4, 5]
    assert bool((first["advantages"] != 0).all()) and bool((second["advantages"] == 0).all())
    flat = trainer.compute_loss(trainer.model, second)
    assert flat.grad_fn is None  # the whole second micro-batch is skipped
    rows = sum(first["num_images"])  # each row's image travelled with it: its patches match its grid
    assert first["image_grid_thw"].shape[0] == rows
    assert first["pixel_values"].shape[0] == int(first["image_grid_thw"].prod(dim=1).sum())


def test_a_micro_batch_is_cut_to_its_longest_completion_without_changing_the_loss(rl_setup, tmp_path: Path):
    import torch

    trainer = _trainer(rl_setup, tmp_path / "trim")
    trainer.current_gradient_accumulation_steps = 1
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    n, width = inputs["completion_ids"].shape
    inputs = {**inputs, "advantages": torch.tensor([1.0 if i % 2 else -1.0 for i in range(n)])}
    extra = 9  # padding columns a longer rollout elsewhere in the generation batch would have added

    def widen(value, fill):
        return torch.cat([value, value.new_full((value.size(0), extra), fill)], dim=1)

    padded = dict(inputs)
    for key in ("completion_ids", "completion_mask", "tool_mask", "sampling_per_token_logps"):
        if key in inputs:
            padded[key] = widen(inputs[key], 0)
    padded["mm_token_type_ids"] = widen(inputs["mm_token_type_ids"], 0)
    cut = trim_completion_padding(padded)
    used = int(inputs["completion_mask"].any(dim=0).nonzero().max()) + 1
    assert cut["completion_ids"].shape == (n, used) and cut["completion_mask"].shape == (n, used)
    assert cut["mm_token_type_ids"].shape[1] == inputs["prompt_ids"].shape[1] + used
    torch.manual_seed(0)
    a = trainer.compute_loss(trainer.model, inputs)
    torch.manual_seed(0)
    b = trainer.compute_loss(trainer.model, padded)
    assert torch.allclose(a, b, atol=1e-5)
    assert used <= width and trim_completion_padding(cut) is cut  # nothing left to cut
    with pytest.raises(ValueError, match="completion columns"):
        trim_completion_padding({**padded, "tool_mask": inputs["completion_mask"][:, :-1]})
