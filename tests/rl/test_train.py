"""GRPO training end to end with the tiny policy: a short run, resume, the saved policy, recipes and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from rl_helpers import RECIPE, small_recipe  # noqa: E402

from rl.rollout import prompt_key  # noqa: E402
from rl.train import (  # noqa: E402
    RLRecipe,
    alternating_order,
    build_dataset,
    crop_needs,
    grpo_config,
    main,
    train,
)

ROOT = Path(__file__).resolve().parents[2]


def test_short_run_resumes_and_saves_a_policy_the_graph_loads(rl_setup, tmp_path: Path):
    out = tmp_path / "run"
    first = train(small_recipe(rl_setup, out, max_steps=2, skip_zero_advantage=False))  # every update runs
    assert first["steps"] == 2 and (out / "checkpoint-2").is_dir()
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2] and all(s["rollout"] > 0 for s in steps)
    assert first["time_per_step"]["rollout_share"] > 0
    again = train(small_recipe(rl_setup, out, max_steps=3, skip_zero_advantage=False))  # picks up checkpoint-2
    assert again["steps"] == 3
    history = json.loads((out / "log_history.json").read_text())
    logged = [h for h in history if "reward" in h]
    assert {"rollout/format_rate", "rollout/tool_calls", "frac_reward_zero_std", "kl", "entropy"} <= set(logged[-1])
    assert (out / "curves.png").stat().st_size > 0

    from policy.hf import HFPolicy
    from policy.profile import load_profile

    profile = load_profile(out / "final")
    assert profile is not None and profile.name == "compact"  # the SFT checkpoint's profile travels on
    policy = HFPolicy.from_pretrained(out / "final", device="cpu")
    assert not any("lora" in name for name, _ in policy.model.named_parameters())  # adapters merged


def test_micro_batches_without_signal_skip_the_update(rl_setup, tmp_path: Path):
    import torch

    from rl.train import build_trainer

    trainer = build_trainer(small_recipe(rl_setup, tmp_path / "skip", skip_zero_advantage=True), seed=0).trainer
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by `train()`, which this test does not run
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))  # real graph rollouts
    assert "ref_per_token_logps" not in inputs  # deferred: a flat micro-batch never pays the reference forward
    n = inputs["advantages"].shape[0]
    flat = trainer.compute_loss(trainer.model, {**inputs, "advantages": torch.zeros(n)})
    assert flat.item() == 0.0 and flat.grad_fn is None  # no forward ran, nothing to back-propagate
    signed = torch.tensor([1.0 if i % 2 else -1.0 for i in range(n)])
    loss = trainer.compute_loss(trainer.model, {**inputs, "advantages": signed})
    assert loss.grad_fn is not None
    loss.backward()
    grads = [p.grad for name, p in trainer.model.named_parameters() if "lora" in name and p.grad is not None]
    assert grads and any(bool(g.abs().sum() > 0) for g in grads)
    assert trainer._metrics["train"]["update/skipped"] == [1.0, 0.0]


def test_the_deferred_reference_is_the_policy_without_its_adapters(rl_setup, tmp_path: Path):
    import torch

    from rl.train import build_trainer

    trainer = build_trainer(small_recipe(rl_setup, tmp_path / "ref", skip_zero_advantage=True), seed=0).trainer
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    with torch.no_grad():  # move the adapters off zero, so the policy and its reference differ
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.05)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    kept = inputs["completion_ids"].size(1)
    kw = {k: inputs[k] for k in ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids")}
    with torch.no_grad():
        policy, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, kept, **kw)
        with trainer.model.disable_adapter():
            base, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, kept, **kw)
    deferred = trainer.reference_logps(inputs)
    real = inputs["completion_mask"].bool()
    assert torch.allclose(deferred[real], base[real], atol=1e-6)  # the loss's own forward inputs, adapters off
    assert (deferred[real] - policy[real]).abs().max() > 0.05  # and the adapters were really off
    signed = torch.tensor([1.0 if i % 2 else -1.0 for i in range(ids.shape[0])])
    trainer.compute_loss(trainer.model, {**inputs, "advantages": signed})
    assert trainer._metrics["train"]["kl"][-1] > 0  # the loss used that reference, not the policy itself


def test_dataset_prompts_are_the_graphs_first_message(rl_setup, tmp_path: Path):
    from nodes.reason import first_messages

    recipe = small_recipe(rl_setup, tmp_path / "x")
    rows, questions = build_dataset(recipe)
    assert len(rows) > 0 and set(questions.values()) == set(rows["question"])
    row = rows[0]
    assert row["prompt"] == first_messages(row["question"], "agent", "compact")
    assert {"image", "answer", "aliases", "numeric", "tolerance", "target"} <= set(rows.column_names)
    needs = crop_needs(rows)
    assert needs is not None and set(needs) == set(questions) and set(needs.values()) == {True, False}
    for r in rows:
        assert needs[prompt_key(r["prompt"])] == (bool(r["target"]) and r["search_type"] in ("image", "mixed"))
    assert crop_needs(rows.remove_columns(["target"])) is None


def test_search_types_keep_only_those_questions(rl_setup, tmp_path: Path):
    everything, _ = build_dataset(small_recipe(rl_setup, tmp_path / "all"))
    rows, questions = build_dataset(small_recipe(rl_setup, tmp_path / "img", search_types=["image", "mixed"]))
    assert set(rows["search_type"]) <= {"image", "mixed"} and set(questions.values()) == set(rows["question"])
    assert len(rows) == sum(t in ("image", "mixed") for t in everything["search_type"]) < len(everything)
    for bad in (["images"], []):
        with pytest.raises(ValueError, match="search_types"):
            build_dataset(small_recipe(rl_setup, tmp_path / "bad", search_types=bad))


def test_alternating_order_pairs_the_two_kinds_and_keeps_every_question():
    kinds = ["none", "image", "none", "mixed", "none", "text", "none"]
    order = alternating_order(kinds, seed=0)
    assert sorted(order) == list(range(len(kinds)))
    labels = ["free" if kinds[i] == "none" else "required" for i in order]
    assert labels == ["free", "required"] * 3 + ["free"]  # the larger kind starts; its rest follows
    assert alternating_order(kinds, seed=0) == order and alternating_order(kinds, seed=1) != order
    with pytest.raises(ValueError, match="both search-free and search-required"):
        alternating_order(["image", "text"], seed=0)


def test_balanced_steps_hold_one_question_of_each_kind(rl_setup, tmp_path: Path):
    from rl.train import build_trainer

    recipe = small_recipe(rl_setup, tmp_path / "bal", balance_search_types=True)  # 2 questions per step
    assert grpo_config(recipe).shuffle_dataset is False
    assert grpo_config(small_recipe(rl_setup, tmp_path)).shuffle_dataset  # unbalanced: TRL shuffles as usual
    trainer = build_trainer(recipe, seed=0).trainer
    batches = iter(trainer.get_train_dataloader())
    for _ in range(3):
        kinds = [row["search_type"] == "none" for row in next(batches)]
        assert kinds.count(True) == kinds.count(False) == recipe.num_generations  # one group of each kind


def test_a_needless_tools_reward_needs_the_search_type_column(rl_setup, tmp_path: Path):
    import datasets

    rows, _ = build_dataset(small_recipe(rl_setup, tmp_path / "ok", reward_needless_tools=0.3))
    assert "search_type" in rows.column_names
    unlabelled = tmp_path / "unlabelled"
    loaded = datasets.load_from_disk(small_recipe(rl_setup, tmp_path / "x").data)
    datasets.DatasetDict({k: v.remove_columns(["search_type"]) for k, v in loaded.items()}).save_to_disk(unlabelled)
    with pytest.raises(ValueError, match="reward_needless_tools needs a search_type column"):
        build_dataset(small_recipe(rl_setup, tmp_path / "bad", data=str(unlabelled), reward_needless_tools=0.3))
    with pytest.raises(ValueError, match="reward_missing_search needs a search_type column"):
        build_dataset(small_recipe(rl_setup, tmp_path / "bad", data=str(unlabelled), reward_missing_search=0.3))
    with pytest.raises(ValueError, match="reward_needless_search needs a search_type column"):
        build_dataset(small_recipe(rl_setup, tmp_path / "bad", data=str(unlabelled), reward_needless_search=0.3))
    with pytest.raises(ValueError, match="balance_search_types needs a search_type column"):
        build_dataset(small_recipe(rl_setup, tmp_path / "bad", data=str(unlabelled), balance_search_types=True))
    rows, _ = build_dataset(small_recipe(rl_setup, tmp_path / "plain", data=str(unlabelled)))  # fine without it
    assert "search_type" not in rows.column_names


def test_trl_hands_the_label_columns_to_the_needless_tools_reward(rl_setup, tmp_path: Path):
    from rl.train import build_trainer

    recipe = small_recipe(rl_setup, tmp_path / "labels", reward_needless_tools=0.3)
    trainer = build_trainer(recipe, seed=0).trainer
    trainer.current_gradient_accumulation_steps = 1
    trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))  # real rollouts, rewards through TRL
    logged = trainer._metrics["train"]
    assert "rewards/needless_tools/mean" in logged and logged["rewards/needless_tools/mean"][-1] <= 0.0


def test_recipes_set_the_paper_values_explicitly():
    tiny = RLRecipe.load(RECIPE)
    big = RLRecipe.load(ROOT / "recipes" / "rl-qwen2.5-vl-7b.yaml")
    for r in (tiny, big):
        assert (r.num_generations, r.epsilon, r.beta, r.loss_type) == (8, 0.2, 0.001, "grpo")
        assert (r.reward_correctness, r.max_image_searches, r.max_tool_calls) == (0.9, 1, 10)
    assert big.reward_format == 0.1  # the paper's; tiny-cpu drops it (tool-use collapse, see the recipe)
    assert tiny.reward_format == 0.0 and tiny.rubric().weights() == [0.9]
    assert tiny.skip_zero_advantage and not big.skip_zero_advantage  # the paper's run updates on every group
    assert (big.learning_rate, big.warmup_steps, big.lora, big.use_vllm, big.judge) == (2e-6, 45, False, True, "llm")
    assert big.max_response_tokens == 8192
    args = grpo_config(tiny)
    assert args.loss_type == "grpo" and args.beta == 0.001 and not args.gradient_checkpointing
    assert args.reward_weights == [0.9] and args.remove_unused_columns is False
    from policy.precision import cpu_has_native_bf16

    assert tiny.bf16 == "auto" and args.bf16 is cpu_has_native_bf16()  # bf16 autocast only where the CPU has it
    assert big.rubric().weights() == [0.9, 0.1]


def test_cli_refuses_bad_input_with_one_line(rl_setup, tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x\ndata: y\nout: z\nlearnig_rate: 1\n")
    assert main(["--config", str(bad)]) == 2
    assert "unknown recipe keys ['learnig_rate']" in capsys.readouterr().err
    zero = tmp_path / "zero.yaml"
    zero.write_text("model: x\ndata: y\nout: z\nreward_correctness: 0\nreward_format: 0\n")
    assert main(["--config", str(zero)]) == 2
    assert "every reward weight is 0" in capsys.readouterr().err
    assert main(["--config", str(RECIPE), "--model", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    code = main(
        [
            "--config",
            str(RECIPE),
            "--model",
            str(rl_setup["model"]),
            "--data",
            str(rl_setup["model"]),
            "--world",
            str(rl_setup["world"]),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "hf/questions DatasetDict" in capsys.readouterr().err


def test_ctrl_c_mid_run_stops_with_one_line_and_the_command_resumes(rl_setup, tmp_path: Path):
    import signal
    import time

    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "graph.cli", "rl", "--config", str(RECIPE), "--model", str(rl_setup["model"])]
    cmd += ["--data", str(rl_setup["data"]), "--world", str(rl_setup["world"]), "--out", str(out)]
    cmd += ["--report-to", "none", "--max-seconds", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*cmd, "--max-steps", "200"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint-5").is_dir():  # a saved checkpoint; the run is now inside a later step
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its fifth step"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err, err[err.find("Traceback") - 200 :][:3000]
    assert "interrupted: run the same command again to resume from the last checkpoint\n" in err
    done = subprocess.run([*cmd, "--max-steps", "6"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [json.loads(line)["step"] for line in (out / "steps.jsonl").read_text().splitlines()]
    # step 1 logged once: the second command resumed from a checkpoint instead of starting again
    assert steps[-1] == 6 and steps.count(1) == 1 and json.loads((out / "summary.json").read_text())["steps"] == 6


@pytest.mark.slow
def test_accelerate_launch_on_two_cpu_processes(rl_setup, tmp_path: Path):
    import yaml

    data = yaml.safe_load(RECIPE.read_text())
    data.update(
        model=str(rl_setup["model"]),
        data=str(rl_setup["data"]),
        world=str(rl_setup["world"]),
        out=str(tmp_path / "out"),
        report_to="none",
        max_steps=2,
        num_generations=2,
        batch_size=2,
        gradient_accumulation=1,
        max_turns=2,
        max_new_tokens=16,
        max_seconds=None,
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data))
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "--cpu",
        str(ROOT / "rl" / "train.py"),
        "--config",
        str(recipe),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["steps"] == 2 and (tmp_path / "out" / "final" / "config.json").is_file()
