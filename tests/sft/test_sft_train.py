"""SFT on generated trajectories with the tiny model: the loss mask, a short run, resume, and loading the result."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from vqa_helpers import small_config  # noqa: E402

from sft.data.export import export  # noqa: E402
from sft.data.pipeline import generate  # noqa: E402
from sft.train import SFTRecipe, build_trainer, handle, train  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "sft-tiny-cpu.yaml"


@pytest.fixture(scope="module")
def setup(fact_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tiny model dir, hf/sft dataset dir)."""
    from policy.tiny import init_tiny

    root = tmp_path_factory.mktemp("sft")
    init_tiny(root / "tiny", size="test")
    generate(small_config(fact_world, root / "data", n=6, rl_n=0, eval_n=0), progress=False)
    export(root / "data")
    return root / "tiny", root / "data" / "hf" / "sft"


def recipe(setup: tuple[Path, Path], out: Path, **kw) -> SFTRecipe:
    model, data = setup
    return SFTRecipe.load(RECIPE, model=str(model), data=str(data), out=str(out), report_to="none", batch_size=2, **kw)


def test_loss_is_only_on_the_policy_tokens(setup, tmp_path: Path):
    trainer = build_trainer(recipe(setup, tmp_path / "mask", max_steps=1))
    tok = trainer.processing_class.tokenizer
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer.data_collator(rows)
    image_id = trainer.model.config.image_token_id
    for i, row in enumerate(rows):
        labels, ids = batch["labels"][i], batch["input_ids"][i]
        kept = ids[labels != -100]
        assert image_id not in kept.tolist()  # image tokens carry no loss
        said = "".join(
            "".join(p["text"] for p in m["content"] if p["type"] == "text") + "<|im_end|>\n"
            for m in row["messages"]
            if m["role"] == "assistant"
        )
        assert tok.decode(kept) == said  # exactly the policy's turns and their terminators
        assert "<information>" not in tok.decode(kept)
        assert (labels != -100).sum() < (batch["attention_mask"][i]).sum()


def test_short_run_resumes_and_saves_a_loadable_policy(setup, tmp_path: Path):
    out = tmp_path / "run"
    first = train(recipe(setup, out, max_steps=2, save_steps=1))
    assert first["steps"] == 2 and (out / "checkpoint-2").is_dir() and (out / "loss.png").is_file()
    again = train(recipe(setup, out, max_steps=3, save_steps=1))  # picks up checkpoint-2
    assert again["steps"] == 3
    from policy.profile import load_profile

    profile = load_profile(out / "final")  # the data's profile travels with the checkpoint
    assert profile is not None and profile.name == again["profile"] == "paper"
    from graph.build import build_graph
    from policy.hf import HFPolicy
    from tools.fixture import fixture_toolset

    policy = HFPolicy.from_pretrained(out / "final", device="cpu")
    from graph.demo import DEMO_QUESTION
    from tools.images import make_ref, open_image
    from world.fixture import build_fixture_world, write_demo_image

    image = write_demo_image(build_fixture_world(), tmp_path / "demo.png", ["Japan", "France", "Germany"])
    state = build_graph(policy, fixture_toolset()).invoke(
        {"question": DEMO_QUESTION, "image": make_ref(str(image), open_image(str(image)))},
        context={"max_turns": 2, "max_new_tokens": 16},
    )
    assert state["counters"]["turns"] >= 1


def test_lora_recipe_trains_adapters_and_merges(setup, tmp_path: Path):
    summary = train(recipe(setup, tmp_path / "lora", max_steps=1, lora=True))
    assert summary["steps"] == 1 and (Path(summary["final"]) / "config.json").is_file()


def test_time_budget_stops_training_and_saves(setup, tmp_path: Path):
    out = tmp_path / "budget"
    summary = train(recipe(setup, out, max_steps=50, save_steps=100, max_seconds=0.001))
    assert summary["steps"] == 1 and (out / "checkpoint-1").is_dir()


def test_recipe_errors_are_clear(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x\ndata: y\nout: z\nlearnig_rate: 1\n")
    with pytest.raises(ValueError, match="unknown recipe keys"):
        SFTRecipe.load(bad)
    import argparse

    from sft.train import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--config", str(RECIPE), "--model", str(tmp_path / "missing")])
    assert handle(args) == 2


@pytest.mark.parametrize("path", sorted(RECIPE.parent.glob("sft-*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_sft_recipe_loads(path: Path):
    """A recipe with a misspelt or removed key fails here, not an hour into a user's run."""
    recipe = SFTRecipe.load(path)
    assert recipe.learning_rate > 0 and recipe.batch_size > 0 and recipe.epochs > 0
    assert recipe.bf16 in (True, False, "auto")


@pytest.mark.slow
def test_two_process_training_through_accelerate(setup, tmp_path: Path):
    """`accelerate launch --num_processes 2 --cpu sft/train.py …` trains and saves one final model."""
    import shutil
    import subprocess
    import sys

    accelerate = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    model, data = setup
    out = tmp_path / "ddp"
    cmd = [
        accelerate,
        "launch",
        "--num_processes",
        "2",
        "--cpu",
        str(RECIPE.parents[1] / "sft" / "train.py"),
        "--config",
        str(RECIPE),
        "--model",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--max-steps",
        "2",
        "--batch-size",
        "1",
        "--report-to",
        "none",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=RECIPE.parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "final" / "config.json").is_file() and '"steps": 2' in (out / "summary.json").read_text()


def test_length_grouped_order_is_a_permutation_of_similar_length_batches():
    import random

    from sft.train import length_grouped_order

    lengths = [random.Random(i).randint(100, 1000) for i in range(1000)]
    order = length_grouped_order(lengths, batch_size=8, seed=0)
    assert sorted(order) == list(range(1000))
    assert order == length_grouped_order(lengths, batch_size=8, seed=0) != length_grouped_order(lengths, 8, seed=1)
    spread = lambda idx: max(lengths[i] for i in idx) - min(lengths[i] for i in idx)  # noqa: E731
    grouped = sum(spread(order[i : i + 8]) for i in range(0, 1000, 8))
    shuffled = list(range(1000))
    random.Random(0).shuffle(shuffled)
    assert grouped < sum(spread(shuffled[i : i + 8]) for i in range(0, 1000, 8)) / 5  # far less padding


def test_each_step_spans_the_length_range_when_it_accumulates():
    """Long and short rows (here: search and answer-at-once conversations) meet in the optimiser steps."""
    import random

    from sft.train import length_grouped_order

    rng = random.Random(0)
    lengths = [rng.randint(100, 400) if i % 2 else rng.randint(600, 1400) for i in range(2002)]
    short = lambda i: lengths[i] < 500  # noqa: E731
    alone = length_grouped_order(lengths, batch_size=8, seed=0)
    one_kind = [len({short(i) for i in alone[s : s + 8]}) == 1 for s in range(0, 2000, 8)]
    assert sum(one_kind) > 0.95 * len(one_kind)  # the failure mode: nearly every step is all one kind
    order = length_grouped_order(lengths, batch_size=4, seed=0, accumulation=2)
    assert sorted(order) == list(range(2002))
    steps = [order[s : s + 8] for s in range(0, 2000, 8)]
    both = [{short(i) for i in step} == {True, False} for step in steps]
    assert sum(both) > 0.95 * len(both)  # both kinds in (nearly) every update: all but a window's surplus
    micro = [order[s : s + 4] for s in range(0, 2000, 4)]
    one_band = [len({short(i) for i in m}) == 1 for m in micro]
    assert sum(one_band) > 0.95 * len(one_band)  # yet micro-batches stay within one length band (little padding)
    with pytest.raises(ValueError):
        length_grouped_order(lengths, batch_size=4, seed=0, accumulation=0)
