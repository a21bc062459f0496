"""The first-decision probe: openings, probabilities on a real tiny model, the summary, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evals.decision import OPENINGS, auroc, main, parting_index, summarise


def test_openings_are_how_the_teacher_starts_every_first_turn(frozenweb_data: Path):
    firsts = []
    for line in (frozenweb_data / "attempts.jsonl").read_text().splitlines():
        attempt = json.loads(line)
        if attempt["ok"]:
            turn = next(m for m in attempt["messages"] if m["role"] == "assistant")
            firsts.append((attempt["required"], "".join(p.get("text", "") for p in turn["content"])))
    assert {required for required, _ in firsts} == {True, False}
    for required, text in firsts:
        assert text.startswith(OPENINGS[1] if required else OPENINGS[0]), text


def test_auroc_and_summary():
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0 and auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5 and auroc([], [0.3]) is None
    kinds = ["none", "none", "image", "mixed", "text"]
    summary = summarise(kinds, [0.1, 0.6, 0.7, 0.4, 0.9])
    assert summary["search_free"] == {"n": 2, "p_search": 0.35, "searched_greedily": 0.5}
    assert summary["search_required"]["n"] == 3 and summary["search_required"]["searched_greedily"] == pytest.approx(
        2 / 3, abs=1e-4
    )
    assert summary["kinds"]["image"]["p_search"] == 0.7
    assert summary["separation"] == pytest.approx(5 / 6, abs=1e-4)  # 0.4 loses to 0.6 only


def test_parting_index():
    assert parting_index([1, 2, 3], [1, 2, 4]) == 2
    with pytest.raises(ValueError, match="do not part"):
        parting_index([1, 2], [1, 2, 3])


def test_probe_reads_the_models_decision_token(frozenweb_data: Path, tmp_path: Path):
    from evals.decision import search_probabilities
    from evals.loaders import load_benchmark
    from nodes.reason import first_messages
    from policy.base import GenerationRequest, SamplingParams
    from policy.hf import HFPolicy
    from policy.tiny import init_tiny
    from tools.images import open_image

    init_tiny(tmp_path / "tiny", size="test")
    policy = HFPolicy.from_pretrained(tmp_path / "tiny", device="cpu")
    examples = load_benchmark("frozenweb", frozenweb_data, split="test")[:2]
    probs = search_probabilities(policy, examples, "paper", batch_size=2, progress=False)
    assert len(probs) == 2 and all(0.0 < p < 1.0 for p in probs)
    ex = examples[1]  # by hand: the next-token distribution after "<reason>I", without the batching
    image = open_image(ex.image)
    req = GenerationRequest(first_messages(ex.question, "agent", "paper"), [image], params=SamplingParams())
    ids = policy.prompt_ids(req)
    answer, search = (policy.tokenizer.encode(t, add_special_tokens=False) for t in OPENINGS)
    k = parting_index(answer, search)
    import torch

    inputs = policy._inputs([ids + answer[:k]], [image])
    with torch.no_grad():
        logp = torch.log_softmax(policy.model(**inputs).logits[0, -1].float(), -1)
    expected = 1 / (1 + math.exp(float(logp[answer[k]] - logp[search[k]])))
    assert probs[1] == pytest.approx(expected, abs=1e-4)


def test_command_prints_a_table_and_writes_json(frozenweb_data: Path, tmp_path: Path, capsys):
    from policy.tiny import init_tiny

    init_tiny(tmp_path / "tiny", size="test")
    out = tmp_path / "probe.json"
    code = main(
        ["--policy", f"hf:{tmp_path / 'tiny'}", "--data", str(frozenweb_data), "--sample", "3", "--out", str(out)]
    )
    assert code == 0
    assert "separation" in capsys.readouterr().out
    written = json.loads(out.read_text())
    assert len(written["questions"]) == 2 and written["config"]["sample"] == 3  # the split holds 2
    assert sum(s["n"] for s in written["kinds"].values()) == 2
    assert main(["--policy", "oracle", "--data", str(frozenweb_data)]) == 2
    assert "use hf:DIR" in capsys.readouterr().err
