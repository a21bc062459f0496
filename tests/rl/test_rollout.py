"""GRPO rollouts through the graph: parity with `graph.invoke`, and TRL training on exactly the sampled tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from rl_helpers import small_recipe  # noqa: E402

from rl.rollout import GraphRollout, grpo_prompt, prompt_key, trace_batch  # noqa: E402
from rl.train import build_trainer  # noqa: E402


def _prompts(trainer, rows: list[int]) -> list[list[dict]]:
    """TRL's prompts for dataset rows: the conversational prompt with the row's image filled in."""
    from trl.data_utils import prepare_multimodal_messages

    return [
        prepare_multimodal_messages(trainer.train_dataset[i]["prompt"], images=[trainer.train_dataset[i]["image"]])
        for i in rows
    ]


def test_a_grpo_rollout_is_the_graph_run_token_for_token(rl_setup, tmp_path: Path):
    """Parity: with the same weights and seed, the trainer's rollout equals `graph.invoke` of the question."""
    from graph.build import build_graph
    from policy.hf import HFPolicy
    from tools.defaults import default_toolset
    from tools.images import make_ref, to_data_url

    recipe = small_recipe(rl_setup, tmp_path / "run", temperature=1.0)
    run = build_trainer(recipe, seed=123)
    trainer = run.trainer
    prompt = _prompts(trainer, [0])
    trainer.model.train()
    out = run.rollout(prompt, trainer)
    assert trainer.model.training  # the rollout generates in eval mode and restores the training mode

    row = trainer.train_dataset[0]
    image = row["image"]
    model = trainer.model.get_base_model()
    policy = HFPolicy(model, trainer.processing_class, seed=123)
    state = build_graph(policy, default_toolset(str(rl_setup["world"]))).invoke(
        {"question": row["question"], "image": make_ref(to_data_url(image), image)}, context=recipe.run_config()
    )
    expected = trace_batch([state], recipe.max_completion_length)
    assert out["prompt_ids"] == expected["prompt_ids"]
    assert out["completion_ids"] == expected["completion_ids"]
    assert out["env_mask"] == expected["env_mask"]
    assert out["logprobs"][0] == pytest.approx(expected["logprobs"][0], abs=1e-5)
    assert out["rollout"] == expected["rollout"]
    assert out["rollout"][0]["turns"] >= 1 and len(out["completion_ids"][0]) > 0


@pytest.mark.parametrize(("bf16", "tol"), [(False, 2e-4), (True, 2e-2)])
def test_trl_trains_on_the_sampled_tokens_with_the_same_log_probabilities(rl_setup, tmp_path: Path, bf16, tol):
    """TRL's training forward (prompt re-rendered for the images, left padding, env tokens) reproduces the
    behaviour log-probabilities on every policy token, and masks every environment token."""
    # The recipe's CPU bf16 autocasts only TRL's training forward: log-probs move by ~1e-3 (harmless without vLLM's
    # importance-sampling correction); a token off by one position would move them by nats in either precision.
    recipe = small_recipe(rl_setup, tmp_path / "run", max_turns=4, max_new_tokens=32, bf16=bf16)
    run = build_trainer(recipe, seed=5)
    trainer = run.trainer
    captured = {}
    rollout = trainer.rollout_func

    def spy(prompts, tr):
        captured["out"] = rollout(prompts, tr)
        return captured["out"]

    trainer.rollout_func = spy
    rows = [trainer.train_dataset[i] for i in (0, 0, 1, 1)]  # two questions with prompts of different lengths
    assert len({len(prompt_key(r["prompt"])) for r in rows}) == 2
    trainer.model.train()
    batch = trainer._generate_and_score_completions(rows)
    out = captured["out"]
    assert any(0 in m for m in out["env_mask"]), "the rollouts should include environment tokens"

    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model,
            ids,
            mask,
            batch["completion_ids"].size(1),
            pixel_values=batch.get("pixel_values"),
            image_grid_thw=batch.get("image_grid_thw"),
            num_images=batch.get("num_images"),
            mm_token_type_ids=batch.get("mm_token_type_ids"),
        )
    for i, (lp, env) in enumerate(zip(out["logprobs"], out["env_mask"], strict=True)):
        n = len(lp)
        tool_mask = batch["tool_mask"][i, :n].tolist()
        assert tool_mask == env  # environment tokens are out of the loss
        policy = [k for k in range(n) if env[k] == 1]
        got = logps[i, policy].tolist()
        assert got == pytest.approx([lp[k] for k in policy], abs=tol)


def test_unknown_prompts_and_prompts_without_an_image_are_refused(rl_setup, tmp_path: Path):
    from graph.context import RunConfig
    from tools.fixture import fixture_toolset

    rollout = GraphRollout(fixture_toolset(), RunConfig(), {prompt_key(grpo_prompt("Q?", "compact")): "Q?"})
    with pytest.raises(KeyError, match="not among the training questions"):
        rollout.inputs([grpo_prompt("Another question?", "compact")])
    with pytest.raises(ValueError, match="question image"):
        rollout.inputs([grpo_prompt("Q?", "compact")])  # the placeholder has no image filled in


def test_trace_batch_cuts_traces_at_the_completion_limit():
    state = {
        "trace": {
            "prompt_ids": [1, 2],
            "completion_ids": [3, 4, 5, 6],
            "logprobs": [-1.0, 0.0, 0.0, -2.0],
            "env_mask": [1, 0, 0, 1],
        },
        "counters": {"turns": 2},
        "turns": [],
    }
    out = trace_batch([state], 3)
    assert out["completion_ids"] == [[3, 4, 5]] and out["env_mask"] == [[1, 0, 0]]
    assert out["logprobs"] == [[-1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="token-level backend"):
        trace_batch([{**state, "trace": {**state["trace"], "prompt_ids": []}}], None)
