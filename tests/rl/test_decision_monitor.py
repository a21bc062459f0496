"""The first-decision monitor of a GRPO run: its probes equal the offline probe, are logged, and survive a resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from rl_helpers import small_recipe  # noqa: E402

from rl.decision_monitor import DecisionMonitor, probe_examples, probe_metrics, read_probes  # noqa: E402
from rl.train import build_trainer, decision_monitor, train  # noqa: E402


def _data_folder(setup: dict[str, Path]) -> Path:
    return setup["data"].parent.parent  # DIR/hf/questions -> DIR


def test_probe_equals_the_offline_probe_and_restores_training_mode(rl_setup, tmp_path: Path):
    from evals.decision import search_probabilities, summarise
    from policy.hf import HFPolicy

    examples = probe_examples(_data_folder(rl_setup), "validation", 8, seed=0)
    offline = HFPolicy.from_pretrained(rl_setup["model"], device="cpu")
    expected = summarise([ex.search_type for ex in examples], search_probabilities(offline, examples, "compact"))

    model, processor = offline.model, offline.processor
    model.train()
    monitor = DecisionMonitor(examples, "compact", every=3, path=tmp_path / "decision.jsonl")
    row = monitor.probe(model, processor, step=7)
    assert model.training  # the trainer's mode comes back
    assert row["step"] == 7 and row["seconds"] >= 0
    assert row["search_free"] == expected["search_free"] and row["search_required"] == expected["search_required"]
    assert row["separation"] == expected["separation"]
    assert read_probes(tmp_path / "decision.jsonl") == [row]
    metrics = probe_metrics(row)
    for kind in ("free", "required"):  # the fixture's small splits may hold one kind only
        stats = expected[f"search_{kind}"]
        assert metrics.get(f"decision/p_search_{kind}") == (stats["p_search"] if stats["n"] else None)
    assert metrics


def test_a_run_probes_at_the_start_and_every_n_steps_and_resumes_without_repeats(rl_setup, tmp_path: Path):
    out = tmp_path / "probed"
    train(small_recipe(rl_setup, out, max_steps=2, probe_every=2, probe_sample=4))
    assert [r["step"] for r in read_probes(out / "decision.jsonl")] == [0, 2]
    history = json.loads((out / "log_history.json").read_text())
    assert any("decision/p_search_required" in h for h in history)  # the probe joins the trainer's log

    summary = train(small_recipe(rl_setup, out, max_steps=4, probe_every=2, probe_sample=4))  # from checkpoint-2
    rows = read_probes(out / "decision.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4]
    assert [d["step"] for d in summary["decision"]] == [0, 2, 4]
    probed = len(probe_examples(_data_folder(rl_setup), "validation", 4, 0))  # the fixture's split may be smaller
    assert all(r["search_free"]["n"] + r["search_required"]["n"] == probed for r in rows)


def test_monitor_off_by_default_and_bad_settings_fail_before_the_model_loads(rl_setup, tmp_path: Path):
    recipe = small_recipe(rl_setup, tmp_path / "x")
    assert recipe.probe_every == 0 and decision_monitor(recipe) is None
    with pytest.raises(ValueError, match="probe_every"):
        decision_monitor(dataclasses.replace(recipe, probe_every=-1))
    with pytest.raises(ValueError):
        build_trainer(dataclasses.replace(recipe, probe_every=1, probe_data=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="sample"):
        decision_monitor(dataclasses.replace(recipe, probe_every=1, probe_sample=0))
    with pytest.raises(ValueError, match="every"):
        DecisionMonitor(probe_examples(_data_folder(rl_setup), "validation", 2, 0), "compact", 0, tmp_path / "d")
