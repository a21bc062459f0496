"""The GRPO reward library: terms on real graph runs, the rubric and the TRL reward-function contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from rl_helpers import outcome

from evals.judge import Gold, RuleJudge
from graph.build import build_graph
from graph.context import RunConfig
from policy.protocol import GIVE_UP_ANSWER
from policy.scripted import ScriptedPolicy
from rl.rewards import (
    RolloutOutcome,
    Rubric,
    correct_search_cost,
    correctness,
    format_validity,
    gold_of,
    missing_search,
    needless_search,
    needless_tools,
    outcome_from_state,
    refused_calls,
    search_cost,
)

CROP_THEN_ANSWER = [
    "<reason>The flag on the left decides it.</reason><img_search>the flag on the left</img_search>",
    "<reason>It is Japan's flag.</reason><answer>Japan</answer>",
]


def answered_japan(**kw) -> RolloutOutcome:
    """A cropped image search, then the answer "Japan"."""
    base = dict(answer="Japan", turns=2, valid_turns=2, tool_calls=1, image_searches=1, crops=1, response_tokens=30)
    return outcome(**{**base, **kw})


def run(script: list[str], tools, inputs, **ctx) -> RolloutOutcome:
    state = build_graph(ScriptedPolicy(script), tools).invoke(inputs, context=RunConfig(**ctx))
    return outcome_from_state(state)


def test_outcome_of_a_real_run_counts_turns_tools_and_validity(tools, inputs):
    o = run(CROP_THEN_ANSWER, tools, inputs)
    assert o["stop_reason"] == "answered" and o["answer"] == "Japan"
    assert (o["turns"], o["valid_turns"], o["image_searches"], o["crops"], o["tool_calls"]) == (2, 2, 1, 1, 1)
    assert format_validity(o) == 1.0
    assert correctness(o, "Which country?", Gold("Japan"), RuleJudge()) == 1.0
    assert correctness(o, "Which country?", Gold("France"), RuleJudge()) == 0.0


def test_outcome_counts_chosen_crops_and_repeated_queries(tools, inputs):
    script = [
        "<reason>The purple flag decides it.</reason><img_search>the purple flag</img_search>",  # grounds nothing
        "<reason>r</reason><text_search>flag of Japan</text_search>",
        "<reason>r</reason><text_search>Flag of  JAPAN</text_search>",  # the same query again
        "<reason>r</reason><text_search>capital of Japan</text_search>",  # a refinement
        "<reason>It is Japan.</reason><answer>Japan</answer>",
    ]
    o = run(script, tools, inputs)
    assert (o["crops"], o["crop_attempts"], o["text_searches"], o["repeated_queries"]) == (0, 1, 3, 1)
    assert run(CROP_THEN_ANSWER, tools, inputs)["crop_attempts"] == 1


def test_a_malformed_turn_or_an_unfinished_run_fails_the_format_term(tools, inputs):
    bad_turn = ["I think it is a flag", *CROP_THEN_ANSWER]
    o = run(bad_turn, tools, inputs)
    assert o["stop_reason"] == "answered" and o["valid_turns"] == o["turns"] - 1
    assert format_validity(o) == 0.0
    assert correctness(o, "q", Gold("Japan"), RuleJudge()) == 1.0  # correctness does not care about form
    searching = ["<reason>r</reason><text_search>flag of Japan</text_search>"] * 3
    o = run(searching, tools, inputs, max_turns=3)
    assert o["stop_reason"] == "max_turns" and o["answer"] == GIVE_UP_ANSWER
    assert format_validity(o) == 0.0 and correctness(o, "q", Gold(GIVE_UP_ANSWER + " x"), RuleJudge()) == 0.0


def test_format_does_not_impose_a_turn_order():
    direct = answered_japan(turns=1, valid_turns=1, tool_calls=0, image_searches=0, crops=0)
    refine = answered_japan(turns=5, valid_turns=5, tool_calls=4, text_searches=4, image_searches=0, crops=0)
    assert format_validity(direct) == format_validity(refine) == 1.0


def test_optional_terms_count_searches_and_refusals():
    o = answered_japan(image_searches=1, text_searches=2, refused_calls=1)
    assert search_cost(o) == -3.0 and refused_calls(o) == -1.0


def test_rubric_is_the_papers_formula_and_feeds_trl():
    rubric = Rubric()
    assert rubric.weights() == [0.9, 0.1]
    funcs = rubric.functions()
    assert [f.__name__ for f in funcs] == ["correctness", "format"]
    rollouts = [
        answered_japan(),
        answered_japan(answer="France"),
        answered_japan(stop_reason="max_turns", answer=GIVE_UP_ANSWER),
    ]
    logged: dict[str, float] = {}
    columns = dict(
        rollout=rollouts,
        question=["q"] * 3,
        answer=["Japan"] * 3,
        aliases=[[], None, []],
        numeric=[None] * 3,
        tolerance=[0.0, None, 0.0],
        log_metric=logged.__setitem__,
        trainer_state=None,
    )
    per_term = [f(prompts=[], completions=[], completion_ids=[], **columns) for f in funcs]
    assert per_term == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    assert "judge/seconds_per_answer" in logged
    totals = [sum(w * t[i] for w, t in zip(rubric.weights(), per_term, strict=True)) for i in range(3)]
    assert totals == pytest.approx([1.0, 0.1, 0.0])
    assert [rubric.total(o, "q", gold_of("Japan")) for o in rollouts] == pytest.approx(totals)


def test_rubric_with_a_search_cost_adds_a_logged_term():
    rubric = Rubric(search_cost=0.05)
    assert [f.__name__ for f in rubric.functions()] == ["correctness", "format", "search_cost"]
    assert rubric.weights() == [0.9, 0.1, 0.05]
    assert rubric.total(answered_japan(text_searches=2), "q", gold_of("Japan")) == pytest.approx(1.0 - 0.15)


def test_a_correct_search_cost_charges_only_right_answers():
    searched = answered_japan(image_searches=1, text_searches=1)
    assert correct_search_cost(searched, 1.0) == -2.0 and correct_search_cost(searched, 0.0) == 0.0
    rubric = Rubric(format=0.0, correct_search_cost=0.05)
    gold = gold_of("Japan")
    direct, wrong = answered_japan(image_searches=0, text_searches=0), answered_japan(answer="France")
    gave_up = answered_japan(stop_reason="max_turns", answer=GIVE_UP_ANSWER, image_searches=0, text_searches=0)
    totals = [rubric.total(o, "q", gold) for o in (direct, searched, wrong, gave_up)]
    assert totals == pytest.approx(
        [0.9, 0.8, 0.0, 0.0]
    )  # right: fewer searches earn more; wrong: giving up earns nothing
    assert [f.__name__ for f in rubric.functions()] == ["correctness", "correct_search_cost"]


def test_needless_tools_charge_what_the_question_did_not_need(tools, inputs):
    cropped = run(CROP_THEN_ANSWER, tools, inputs)  # a cut crop, then an image search
    failed = run(  # a crop whose grounding failed (no image search ran), then a text search
        [
            "<reason>The purple flag decides it.</reason><img_search>the purple flag</img_search>",
            "<reason>r</reason><text_search>flag of Japan</text_search>",
            "<reason>It is Japan.</reason><answer>Japan</answer>",
        ],
        tools,
        inputs,
    )
    direct = run(["<reason>It is Japan's flag.</reason><answer>Japan</answer>"], tools, inputs)
    # search-free question: every search and every chosen crop is needless, answering at once costs nothing
    assert needless_tools(cropped, "none", None) == -1.0  # the crop opened the one image search
    assert needless_tools(failed, "none", None) == -2.0  # the failed crop and the text search
    assert needless_tools(direct, "none", None) == 0.0
    # an image search on a single picture needs no crop; on a composite's object it does
    assert needless_tools(cropped, "image", None) == -1.0 and needless_tools(failed, "mixed", "") == -1.0
    assert needless_tools(cropped, "image", "the flag on the left") == 0.0
    assert needless_tools(failed, "text", None) == -1.0  # text search is what a text question needs; the crop is not
    assert needless_tools(direct, "text", None) == needless_tools(direct, "image", "x") == 0.0
    repeated = run(  # the same query twice, then a refined one
        [
            "<reason>r</reason><text_search>flag of Japan</text_search>",
            "<reason>r</reason><text_search>Flag of  JAPAN</text_search>",
            "<reason>r</reason><text_search>capital of Japan</text_search>",
            "<reason>It is Japan.</reason><answer>Japan</answer>",
        ],
        tools,
        inputs,
    )
    assert needless_tools(repeated, "text", None) == -1.0  # only the repeat; the refinement is what text needs
    assert needless_tools(repeated, "none", None) == -3.0  # every search of a search-free question
    with pytest.raises(ValueError, match="unknown search_type"):
        needless_tools(direct, "images", None)


def test_needless_search_is_the_search_free_half_of_needless_tools(tools, inputs):
    cropped = run(CROP_THEN_ANSWER, tools, inputs)  # a cut crop, then an image search
    direct = run(["<reason>It is Japan's flag.</reason><answer>Japan</answer>"], tools, inputs)
    for ran in (cropped, direct):
        assert needless_search(ran, "none") == needless_tools(ran, "none", None)
    assert needless_search(cropped, "none") == -1.0
    assert needless_tools(cropped, "image", None) == -1.0  # an unneeded crop on a single picture ...
    assert needless_search(cropped, "image") == needless_search(cropped, "mixed", "x") == 0.0  # ... costs nothing here
    with pytest.raises(ValueError, match="unknown search_type"):
        needless_search(direct, "images")
    rubric = Rubric(format=0.0, needless_search=0.3, missing_search=0.3)
    assert [f.__name__ for f in rubric.functions()] == ["correctness", "needless_search", "missing_search"]
    gold = gold_of("Japan")
    assert rubric.total(cropped, "q", gold, search_type="none") == pytest.approx(0.9 - 0.3)
    assert rubric.total(cropped, "q", gold, search_type="image") == pytest.approx(0.9)
    with pytest.raises(ValueError, match="need a search_type"):
        rubric.total(cropped, "q", gold)


def test_needless_tools_reads_the_label_columns_and_outranks_a_lucky_search():
    rubric = Rubric(format=0.0, needless_tools=0.3)
    (fn,) = [f for f in rubric.functions() if f.__name__ == "needless_tools"]
    searched = answered_japan(image_searches=1, crops=1, crop_attempts=1)
    direct = answered_japan(image_searches=0, crops=0, crop_attempts=0, tool_calls=0, turns=1, valid_turns=1)
    columns = dict(rollout=[searched, searched, direct], search_type=["none", "image", "none"])
    assert fn(target=["", "a flag on the left", None], **columns) == [-1.0, 0.0, 0.0]
    assert fn(**columns) == [-1.0, -1.0, 0.0]  # no target column: nothing is a composite's object
    with pytest.raises(ValueError, match="search_type column"):
        fn(rollout=[searched])
    gold = gold_of("Japan")
    wrong_direct = answered_japan(answer="France", image_searches=0, crops=0, crop_attempts=0)
    wrong_searched = answered_japan(answer="France")
    totals = [rubric.total(o, "q", gold, search_type="none") for o in (direct, searched, wrong_direct, wrong_searched)]
    assert totals == pytest.approx([0.9, 0.6, 0.0, -0.3])  # on a search-free question the decision itself is judged
    assert rubric.total(searched, "q", gold, search_type="image", target="the flag") == pytest.approx(0.9)
    with pytest.raises(ValueError, match="search_type"):
        rubric.total(searched, "q", gold)


def test_missing_search_charges_a_search_required_question_left_without_a_search(tools, inputs):
    direct = run(["<reason>It is Japan's flag.</reason><answer>Japan</answer>"], tools, inputs)
    failed_crop = run(
        [
            "<reason>The purple flag decides it.</reason><img_search>the purple flag</img_search>",
            "<reason>It is Japan.</reason><answer>Japan</answer>",
        ],
        tools,
        inputs,
    )
    assert failed_crop["image_searches"] == failed_crop["text_searches"] == 0  # grounding failed: nothing ran
    for kind in ("image", "text", "mixed"):
        assert missing_search(direct, kind) == -1.0
        assert missing_search(failed_crop, kind) == 0.0  # the decision to search was taken
        assert missing_search(run(CROP_THEN_ANSWER, tools, inputs), kind) == 0.0
    assert missing_search(direct, "none") == 0.0
    with pytest.raises(ValueError, match="unknown search_type"):
        missing_search(direct, "picture")


def test_the_two_label_terms_make_each_decision_cost_where_it_is_wrong():
    rubric = Rubric(format=0.0, needless_tools=0.3, missing_search=0.3)
    assert [f.__name__ for f in rubric.functions()] == ["correctness", "needless_tools", "missing_search"]
    searched = answered_japan(image_searches=1, crops=1, crop_attempts=1)
    direct = answered_japan(image_searches=0, crops=0, crop_attempts=0, tool_calls=0, turns=1, valid_turns=1)
    gold, composite = gold_of("France"), "the flag on the left"  # both answers wrong: only the decision differs
    free = [rubric.total(o, "q", gold, search_type="none") for o in (direct, searched)]
    required = [rubric.total(o, "q", gold, search_type="image", target=composite) for o in (direct, searched)]
    assert free == pytest.approx([0.0, -0.3]) and required == pytest.approx([-0.3, 0.0])
    fn = rubric.functions()[2]
    assert fn(rollout=[direct, searched, direct], search_type=["text", "text", "none"]) == [-1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="missing_search needs a search_type column"):
        fn(rollout=[direct])


def test_terms_that_need_the_verdict_share_one_judge_call():
    class CountingJudge(RuleJudge):  # a real rule judge that counts its calls
        calls = 0

        def judge(self, question, answer, gold):
            CountingJudge.calls += 1
            return super().judge(question, answer, gold)

    funcs = Rubric(correct_search_cost=0.05).functions(CountingJudge())
    rollouts = [answered_japan(text_searches=1), answered_japan(answer="France", text_searches=2)]
    columns = dict(
        rollout=rollouts,
        question=["q"] * 2,
        answer=["Japan"] * 2,
        aliases=[None] * 2,
        numeric=[None] * 2,
        tolerance=[None] * 2,
    )
    per_term = [f(prompts=[], completions=[], completion_ids=[], **columns) for f in funcs]
    assert per_term == [[1.0, 0.0], [1.0, 1.0], [-2.0, 0.0]]  # correctness, format, correct_search_cost (2 searches)
    assert CountingJudge.calls == 2  # one verdict per rollout, not one per term


def test_a_rubric_with_nothing_to_learn_is_refused():
    with pytest.raises(ValueError, match="every reward weight is 0"):
        Rubric(correctness=0, format=0)


def test_numeric_gold_columns_reach_the_judge():
    o = answered_japan(answer="about 68 million")
    assert correctness(o, "q", gold_of("68,374,591", [], 68374591.0, 0.05), RuleJudge()) == 1.0
    assert correctness(o, "q", gold_of("12,000", [], 12000.0, 0.05), RuleJudge()) == 0.0


def test_recipe_with_the_llm_judge_scores_through_the_endpoint(tmp_path):
    from mock_openai import MockOpenAI, Reply

    from graph.recipe import load_recipe
    from rl.train import RLRecipe, make_judge

    with MockOpenAI([Reply("[CORRECT]"), Reply("[INCORRECT]")], vllm=False) as mock:
        recipe = load_recipe(
            RLRecipe,
            Path(__file__).resolve().parents[2] / "recipes" / "rl-qwen2.5-vl-7b.yaml",
            (),
            judge_base_url=mock.url,
            judge_model="judge-model",
        )
        (correct_fn, _) = Rubric().functions(make_judge(recipe))
        scores = correct_fn(
            prompts=[],
            completions=[],
            completion_ids=[],
            rollout=[answered_japan(answer="Nippon"), answered_japan(answer="France")],
            question=["Which country?"] * 2,
            answer=["Japan"] * 2,
            aliases=[None, None],
            numeric=[None, None],
            tolerance=[None, None],
            log_metric=lambda *_: None,
            trainer_state=None,
        )
    assert scores == [1.0, 0.0]  # the judge's verdicts, not the rules ("Nippon" is no rule match for "Japan")
    prompt = mock.received[0].body["messages"][0]["content"]
    assert "Nippon" in prompt and "Japan" in prompt
