"""DeepMMSearchVQA generation over the fixture world: checks, quotas, determinism, resume, replay, export."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from vqa_helpers import small_config

from sft.data.entities import build_entities, split_of
from sft.data.pipeline import ATTEMPTS, _read_attempts, generate, load_questions
from sft.data.replay import replay
from sft.data.synthesize import Catalog, enumerate_specs, render
from world.store import WorldStore


def records(folder: Path) -> list[dict]:
    return list(_read_attempts(folder / ATTEMPTS).values())


def test_quotas_are_met_with_the_search_free_share(generated: Path):
    uses = Counter(r["use"] for r in records(generated))
    assert uses["sft"] == 16 and uses["rl"] == 4
    sft = [r for r in records(generated) if r["use"] == "sft"]
    assert sum(not r["required"] for r in sft) == 8  # 50:50 search-free / search-required


def test_kept_trajectories_pass_checks_and_the_judge(generated: Path):
    for r in records(generated):
        if r["use"] in ("sft", "rl"):
            assert r["ok"] and all(r["checks"].values()) and r["judgement"]["correct"]
            assert r["counters"]["turns"] < 10 and r["stop_reason"] == "answered"


def test_search_required_trajectories_use_tools_and_copy_the_answer_from_results(generated: Path):
    sft = [r for r in records(generated) if r["use"] == "sft" and r["required"]]
    assert sft
    for r in sft:
        assert r["counters"]["tool_calls"] >= 1
        infos = " ".join(p.get("text") or "" for m in r["messages"] if m["role"] == "user" for p in m["content"])
        assert r["question"]["answer"].lower() in infos.lower()  # the answer was in what the tools returned


def test_search_free_trajectories_answer_directly(generated: Path):
    for r in records(generated):
        if r["use"] == "sft" and not r["required"]:
            assert r["counters"]["tool_calls"] == 0 and r["counters"]["turns"] == 1


def test_composites_are_searched_with_a_crop(generated: Path):
    crops = [r for r in records(generated) if r["use"] == "sft" and r["question"]["target"] and r["required"]]
    for r in crops:
        if r["question"]["search_type"] in ("image", "mixed"):
            assert r["counters"]["crops"] == 1


def test_no_answer_entity_or_image_is_shared_across_splits(generated: Path):
    seen: dict[str, set[str]] = {}
    for r in records(generated):
        if "question" not in r:
            continue
        q = r["question"]
        for key in [q["answer_entity"], *q["image_ids"]]:
            seen.setdefault(key, set()).add(q["split"])
    assert all(len(splits) == 1 for splits in seen.values())


def test_replay_reproduces_every_stored_trajectory(generated: Path, fact_world: Path):
    sft = [r for r in records(generated) if r["use"] == "sft"]
    report = replay(generated, str(fact_world), sft)
    assert report.checked == len(sft) and report.ok, report.mismatches


def test_replay_detects_a_tampered_trajectory(generated: Path, fact_world: Path):
    rec = next(r for r in records(generated) if r["use"] == "sft" and r["required"])
    bad = json.loads(json.dumps(rec))
    info = next(m for m in bad["messages"][1:] if m["role"] == "user")
    info["content"][0]["text"] = info["content"][0]["text"].replace("<information>", "<information>X")
    assert not replay(generated, str(fact_world), [bad]).ok


def test_generation_is_deterministic(generated: Path, fact_world: Path, tmp_path: Path):
    generate(small_config(fact_world, tmp_path / "again"), progress=False)
    assert (tmp_path / "again" / ATTEMPTS).read_text() == _without_seconds(generated / ATTEMPTS, tmp_path / "again")


def _without_seconds(path: Path, other: Path) -> str:
    """The attempts of `path` with the timing field taken from `other` (timings differ run to run)."""
    theirs = {r["id"]: r["seconds"] for r in records(other) if "seconds" in r}
    lines = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "seconds" in r:
            r["seconds"] = theirs.get(r["id"], r["seconds"])
        lines.append(json.dumps(r, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def test_a_killed_run_resumes_without_loss_or_duplicates(generated: Path, fact_world: Path, tmp_path: Path):
    out = tmp_path / "killed"
    shutil.copytree(generated, out)
    lines = (out / ATTEMPTS).read_text().splitlines(keepends=True)
    (out / ATTEMPTS).write_text("".join(lines[:7]) + lines[7][: len(lines[7]) // 2])  # killed mid-write
    generate(small_config(fact_world, out), progress=False)
    ids = [json.loads(line)["id"] for line in (out / ATTEMPTS).read_text().splitlines()]
    assert len(ids) == len(set(ids))
    assert used(out / ATTEMPTS) == used(generated / ATTEMPTS)
    for r in records(out):
        if r["use"] != "none":
            assert (out / r["question"]["image"]).is_file()


def used(path: Path) -> list[tuple[str, str]]:
    """(id, use) of the attempts that went into some set, in file order."""
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["id"], r["use"]) for r in recs if r["use"] != "none"]


def test_resuming_with_other_options_is_refused(generated: Path, fact_world: Path, tmp_path: Path):
    out = tmp_path / "other"
    shutil.copytree(generated, out)
    with pytest.raises(ValueError, match="use another --out"):
        generate(small_config(fact_world, out, seed=1), progress=False)


def test_load_questions_per_use(generated: Path):
    qs = load_questions(generated, "test")
    assert all(q.split == "test" for q in qs)
    assert {q.split for q in load_questions(generated, "sft")} == {"train"}


def test_export_writes_trl_conversations_and_question_sets(generated: Path, tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    from sft.data.export import export

    out = tmp_path / "exp"
    shutil.copytree(generated, out)
    paths = export(out)
    sft = datasets.load_from_disk(str(paths["sft"]))
    assert len(sft) == 16
    row = sft[0]
    assert row["messages"][0]["role"] == "user" and row["messages"][0]["content"][0]["type"] == "image"
    assert all(m["role"] in ("user", "assistant") for m in row["messages"])
    assert row["images"][0].size[0] > 0
    sets = datasets.load_from_disk(str(paths["questions"]))
    uses = Counter(r["use"] for r in records(generated))
    assert {split: len(ds) for split, ds in sets.items()} == {
        s: uses[u] for u, s in (("rl", "train"), ("validation", "validation"), ("test", "test")) if uses[u]
    }


def test_splits_are_stable_hashes():
    assert split_of("country:france") == split_of("country:france")
    shares = Counter(split_of(f"g{i}") for i in range(4000))
    assert 0.77 < shares["train"] / 4000 < 0.83


def test_every_spec_renders_a_consistent_question(fact_world: Path):
    cat = Catalog.from_store(WorldStore.load(fact_world))
    specs = enumerate_specs(cat, "train", variants=2)
    assert specs
    for spec in specs[:40]:
        try:
            q = render(cat, spec).question
        except ValueError:
            continue
        assert q.answer and q.question.endswith("?")
        assert q.hops == len(q.chain) and q.image_ids[0] == spec.image_id
        if q.target:
            assert q.box is not None


def test_entities_join_across_sources(fact_world: Path):
    ents = build_entities(WorldStore.load(fact_world).facts)
    france = ents["france"]
    assert france.images and "capital" in france.facts


def test_verify_cli_replays_in_another_process_with_another_hash_seed(generated: Path, fact_world: Path):
    """Set iteration order changes with PYTHONHASHSEED; tools must not depend on it, or replays drift."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    cmd = [sys.executable, "-m", "graph.cli", "data", "verify", str(generated), "--world", str(fact_world)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "replayed 16: 16 identical" in out.stdout


def test_images_that_look_alike_across_entities_are_never_used(fact_world: Path, tmp_path: Path):
    import numpy as np

    from sft.data.synthesize import duplicate_images

    world = tmp_path / "w"
    shutil.copytree(fact_world, world)
    store = WorldStore.load(world)
    cat = Catalog.from_store(store)
    a, b = "fixture:flag-france", "fixture:flag-italy"
    assert a in cat.image_owner and b in cat.image_owner
    owners = dict(cat.image_owner)
    assert duplicate_images(store, owners) == set()
    path = world / "index" / "image" / "vectors.npy"
    vectors = np.load(path)
    ids = [rec.id for rec in store.images]
    vectors[ids.index(b)] = vectors[ids.index(a)]  # Italy's flag now looks exactly like France's
    np.save(path, vectors)
    assert duplicate_images(store, owners) == {a, b}
    again = Catalog.from_store(WorldStore.load(world))
    assert a not in again.image_owner and b not in again.image_owner


def test_compact_profile_trajectories_are_short_and_replay(generated: Path, fact_world: Path, tmp_path: Path):
    out = tmp_path / "compact"
    generate(small_config(fact_world, out, n=6, rl_n=0, eval_n=0, profile="compact"), progress=False)
    assert json.loads((out / "generate.json").read_text())["identity"]["profile"] == "compact"
    sft = [r for r in records(out) if r["use"] == "sft"]
    paper = {r["id"]: r for r in records(generated) if r["use"] == "sft"}
    assert sft
    for rec in sft:
        first = "".join(p.get("text") or "" for p in rec["messages"][0]["content"])
        assert first.startswith("Question: ")
        if rec["id"] in paper:  # the same question is far shorter in the compact profile
            assert len(json.dumps(rec["messages"])) < len(json.dumps(paper[rec["id"]]["messages"])) / 2
    assert replay(out, str(fact_world), sft, profile="compact").ok
    assert not replay(out, str(fact_world), [r for r in sft if r["required"]][:1], profile="paper").ok
    with pytest.raises(ValueError, match="unknown profile"):
        generate(small_config(fact_world, tmp_path / "bad", profile="tiny"), progress=False)
