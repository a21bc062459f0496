"""The evaluation harness over a generated frozen-web test set: policies, workflows, ablations, resume, summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.run import RESULTS, SUMMARY, EvalConfig, main, run_eval, wilson
from sft.data.pipeline import GenerateConfig, generate
from world.build import build_world


@pytest.fixture(scope="module")
def vqa(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(world, data folder): the fixture world and a few dozen generated questions with validation/test sets."""
    root = tmp_path_factory.mktemp("harness")
    world = root / "world"
    build_world("fixture", world)
    data = root / "data"
    generate(GenerateConfig(world=str(world), out=str(data), n=4, rl_n=0, eval_n=8, workers=1), progress=False)
    return world, data


def config(vqa: tuple[Path, Path], out: Path, **kw) -> EvalConfig:
    world, data = vqa
    base = dict(benchmark="frozenweb", data=str(data), out=str(out), world=str(world), split="validation")
    return EvalConfig(**{**base, **kw})


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]


def test_oracle_agent_answers_its_questions(vqa, tmp_path: Path):
    summary = run_eval(config(vqa, tmp_path / "oracle"), progress=False)
    recs = results(tmp_path / "oracle")
    assert summary["n"] == len(recs) > 0
    assert summary["accuracy"] == pytest.approx(sum(r["correct"] for r in recs) / len(recs), abs=1e-4)
    assert summary["accuracy"] >= 0.75
    for r in recs:
        assert r["workflow"] == "agent" and r["judgements"]["rule"]["correct"] == r["correct"]
        assert r["messages"][0]["role"] == "user" and r["stop_reason"]
    assert summary["git_commit"] and summary["config"]["policy"] == "oracle"
    assert json.loads((tmp_path / "oracle" / SUMMARY).read_text())["n"] == summary["n"]


def test_records_say_which_questions_need_a_crop(vqa, tmp_path: Path):
    """The oracle crops exactly where the question is about one object of a composite, so its unneeded-crop share
    is 0 and its needed-crop share is 1; no oracle query repeats."""
    summary = run_eval(config(vqa, tmp_path / "oracle"), progress=False)
    recs = results(tmp_path / "oracle")
    assert {r["needs_crop"] for r in recs} == {True, False}
    for r in recs:
        assert (r["counters"]["crops"] > 0) == r["needs_crop"] and r["repeated_queries"] == 0
    assert summary["crop_rate_by_need"] == {"needed": 1.0, "unneeded": 0.0}
    assert summary["repeated_query_rate"] == 0.0


def test_direct_workflow_uses_no_tool(vqa, tmp_path: Path):
    run_eval(config(vqa, tmp_path / "direct", workflow="direct"), progress=False)
    recs = results(tmp_path / "direct")
    assert all(r["counters"]["tool_calls"] == 0 for r in recs)
    assert "Answer the question about the image directly" in json.dumps(recs[0]["messages"][0])


def test_rag_workflow_is_one_image_search_then_one_text_search(vqa, tmp_path: Path):
    run_eval(config(vqa, tmp_path / "rag", workflow="rag"), progress=False)
    recs = results(tmp_path / "rag")
    for r in recs:
        c = r["counters"]
        assert c["image_searches"] == 1 and c["text_searches"] <= 1 and c["crops"] == 0


def test_no_crop_ablation_never_crops(vqa, tmp_path: Path):
    run_eval(config(vqa, tmp_path / "nocrop", allow_crop=False), progress=False)
    assert all(r["counters"]["crops"] == 0 for r in results(tmp_path / "nocrop"))


def test_a_killed_run_resumes_without_duplicates(vqa, tmp_path: Path):
    out = tmp_path / "resume"
    full = run_eval(config(vqa, tmp_path / "full"), progress=False)
    run_eval(config(vqa, out, limit=3), progress=False)
    lines = (out / RESULTS).read_text().splitlines(keepends=True)
    (out / RESULTS).write_text("".join(lines[:2]) + lines[2][:20])  # killed mid-write
    summary = run_eval(config(vqa, out), progress=False)
    ids = [r["id"] for r in results(out)]
    assert len(ids) == len(set(ids)) == full["n"] and summary["accuracy"] == full["accuracy"]


def test_other_options_in_the_same_folder_are_refused(vqa, tmp_path: Path):
    run_eval(config(vqa, tmp_path / "x", limit=1), progress=False)
    with pytest.raises(ValueError, match="other options"):
        run_eval(config(vqa, tmp_path / "x", workflow="direct", limit=1), progress=False)


def test_scripted_policy_runs_in_concurrent_batches(vqa, tmp_path: Path):
    summary = run_eval(config(vqa, tmp_path / "scripted", policy="scripted", concurrency=3), progress=False)
    assert summary["n"] == len(results(tmp_path / "scripted")) > 0


def test_untrained_tiny_model_runs_through_the_harness(vqa, tmp_path: Path):
    pytest.importorskip("torch")
    from policy.tiny import init_tiny

    model = tmp_path / "tiny"
    init_tiny(model, size="test")
    cfg = config(vqa, tmp_path / "tiny-run", policy=f"hf:{model}", limit=2, concurrency=2, max_turns=2)
    summary = run_eval(cfg, progress=False)
    recs = results(tmp_path / "tiny-run")
    assert summary["n"] == 2 and summary["model"] == "tiny"
    assert all(r["counters"]["turns"] >= 1 for r in recs)  # garbage turns flow as observations, never crash
    assert summary["profile"] == "paper"  # a checkpoint without a profile file


def test_malformed_turns_end_a_run_at_the_format_error_limit(vqa, tmp_path: Path):
    pytest.importorskip("torch")
    from policy.tiny import init_tiny

    model = tmp_path / "tiny"
    init_tiny(model, size="test")
    common = dict(policy=f"hf:{model}", limit=2, concurrency=2, max_turns=4, max_new_tokens=8)
    run_eval(config(vqa, tmp_path / "free", **common), progress=False)
    run_eval(config(vqa, tmp_path / "capped", **common, max_format_errors=2), progress=False)
    free, capped = results(tmp_path / "free"), results(tmp_path / "capped")
    assert all(r["counters"]["parse_errors"] == r["counters"]["turns"] == 4 for r in free)  # an untrained model
    assert all(r["counters"]["turns"] == 2 and r["stop_reason"] == "format_errors" for r in capped)


def test_a_checkpoint_runs_in_the_profile_it_was_trained_with(vqa, tmp_path: Path):
    pytest.importorskip("torch")
    from policy.profile import get_profile
    from policy.tiny import init_tiny

    model = tmp_path / "tiny"
    init_tiny(model, size="test")
    get_profile("compact").save(model)
    cfg = config(vqa, tmp_path / "run", policy=f"hf:{model}", limit=1, max_turns=1, max_new_tokens=4)
    assert run_eval(cfg, progress=False)["profile"] == "compact"
    first = results(tmp_path / "run")[0]["messages"][0]
    assert next(p["text"] for p in first["content"] if p["type"] == "text").startswith("Question: ")
    override = config(vqa, tmp_path / "paper", policy=f"hf:{model}", limit=1, max_turns=1, profile="paper")
    assert run_eval(override, progress=False)["profile"] == "paper"


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys):
    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_wilson_interval():
    assert wilson(0, 0) == (0.0, 0.0)
    lo, hi = wilson(95, 100)
    assert lo == pytest.approx(0.8882, abs=1e-3) and hi == pytest.approx(0.9785, abs=1e-3)
    assert wilson(10, 10)[1] == 1.0 and wilson(10, 10)[0] < 1.0


def test_llm_judge_decides_and_agreement_is_reported(vqa, tmp_path: Path):
    from mock_openai import MockOpenAI, Reply

    with MockOpenAI([Reply("[CORRECT]") for _ in range(100)], vllm=False) as server:
        cfg = config(vqa, tmp_path / "llm", judge="llm", judge_base_url=server.url, judge_model="judge-m", limit=4)
        summary = run_eval(cfg, progress=False)
    recs = results(tmp_path / "llm")
    assert all(
        r["correct"] and r["judge"] == "llm:judge-m" and set(r["judgements"]) == {"rule", "llm:judge-m"} for r in recs
    )
    rule_right = sum(r["judgements"]["rule"]["correct"] for r in recs)
    assert summary["judge_agreement"] == {"n": 4, "agree": rule_right, "rate": round(rule_right / 4, 4)}


def test_sample_is_a_seeded_random_subset(vqa, tmp_path: Path):
    a = run_eval(config(vqa, tmp_path / "a", sample=3, seed=1), progress=False)
    b = run_eval(config(vqa, tmp_path / "b", sample=3, seed=1), progress=False)
    ids = [r["id"] for r in results(tmp_path / "a")]
    assert a["n"] == b["n"] == 3 and ids == [r["id"] for r in results(tmp_path / "b")]


def test_refusals_are_clean_observations_not_format_errors(vqa, tmp_path: Path):
    run_eval(config(vqa, tmp_path / "d", workflow="direct"), progress=False)
    for r in results(tmp_path / "d"):
        assert r["counters"]["parse_errors"] == 0 and not r["refined"]


def test_a_checkpoint_named_by_its_training_run_gets_its_runs_name():
    def name(policy: str, **kw) -> str:
        return EvalConfig(benchmark="frozenweb", data="d", out="o", policy=policy, **kw).model

    assert name("hf:runs/main/sft/final") == "sft/final" != name("hf:runs/main/rl/final") == "rl/final"
    assert name("hf:runs/rl/x/checkpoint-20") == "x/checkpoint-20"
    assert name("hf:models/qwen2.5-vl-7b") == "qwen2.5-vl-7b" and name("hf:final") == "final"
    assert name("oracle") == "oracle" and name("hf:runs/main/sft/final", model_name="SFT") == "SFT"
