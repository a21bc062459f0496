"""GRPO monitors: rollout statistics, the step-time split and the collapse alarm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rl_helpers import outcome

from rl.monitors import CollapseAlarm, Stopwatch, rollout_metrics, time_breakdown, timed


def test_rollout_metrics_are_the_papers_tool_use_breakdown():
    batch = [
        outcome(),
        outcome(turns=3, valid_turns=3, tool_calls=2, image_searches=1, crops=1, text_searches=1),
        outcome(turns=4, valid_turns=3, tool_calls=3, text_searches=3, response_tokens=50),
        outcome(stop_reason="max_turns", turns=6, valid_turns=6, tool_calls=6, text_searches=6, refused_calls=1),
    ]
    m = rollout_metrics(batch)
    assert m["rollout/format_rate"] == 0.5  # the malformed turn and the unfinished run fail
    assert m["rollout/answered_rate"] == 0.75
    assert m["rollout/no_tool_rate"] == 0.25 and m["rollout/crop_rate"] == 0.25
    assert m["rollout/refinement_rate"] == 0.5 and m["rollout/image_search_rate"] == 0.25
    assert m["rollout/tool_calls"] == pytest.approx(11 / 4) and m["rollout/refused_calls"] == 0.25
    assert rollout_metrics([]) == {}
    assert "rollout/crop_rate_unneeded" not in m and m["rollout/repeated_query_rate"] == 0.0


def test_rollout_metrics_split_crops_by_need():
    batch = [
        outcome(crop_attempts=1, crops=1),
        outcome(crop_attempts=1, crops=0),  # grounding failed: still a crop the policy chose
        outcome(),
        outcome(crop_attempts=1, crops=1, repeated_queries=2),
        outcome(),
    ]
    m = rollout_metrics(batch, needs_crop=[False, False, False, True, None])
    assert m["rollout/crop_rate_unneeded"] == pytest.approx(2 / 3) and m["rollout/crop_rate_needed"] == 1.0
    assert m["rollout/repeated_query_rate"] == 0.2
    only_needed = rollout_metrics(batch[3:4], needs_crop=[True])
    assert "rollout/crop_rate_unneeded" not in only_needed  # no such rollout in the batch: nothing to average
    with pytest.raises(ValueError):
        rollout_metrics(batch, needs_crop=[True])


def test_alarm_fires_on_a_lasting_format_collapse_but_not_on_one_bad_batch():
    alarm = CollapseAlarm(min_format_rate=0.5, window=2, patience=2)
    logs = [0.9, 0.9, 0.1, 0.9, 0.3, 0.2, 0.1]  # window means: -, .9, .5, .5, .6, .25, .15
    fired = [alarm.check({"reward": 0.5, "rollout/format_rate": f}) for f in logs]
    assert [bool(a) for a in fired] == [False, False, False, False, False, False, True]
    assert "format rate 0.15 < 0.5" in fired[-1][0]


def test_alarm_ignores_question_to_question_swings_but_fires_on_a_lasting_drop():
    alarm = CollapseAlarm(reward_drop=0.5, window=4, patience=2)
    swings = [0.9, 0.0, 0.8, 0.1, 0.9, 0.0, 0.7, 0.2]  # easy and hard questions alternate; no trend
    assert not any(alarm.check({"reward": r}) for r in swings)
    fired = [alarm.check({"reward": r}) for r in (0.0, 0.05, 0.0, 0.0, 0.0)]  # window means .225 .24 .06 .01 0
    assert [bool(a) for a in fired] == [False, False, False, True, True]
    assert alarm.check({}) == []  # a log line without GRPO metrics (e.g. the final summary) is ignored


def test_step_times_split_and_shares(tmp_path: Path):
    path = tmp_path / "steps.jsonl"
    rows = [
        {"step": 1, "seconds": 10.0, "rollout": 6.0, "reward": 0.5, "update": 3.5},
        {"step": 2, "seconds": 30.0, "rollout": 18.0, "reward": 0.5, "update": 11.5},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    t = time_breakdown(path)
    assert t["steps"] == 2 and t["seconds_per_step"] == 20.0
    assert t["rollout_share"] == 0.6 and t["reward_share"] == 0.025 and t["update_share"] == 0.375
    assert time_breakdown(tmp_path / "missing.jsonl") == {}


def test_timed_keeps_the_name_trl_logs_under_and_counts_time():
    watch = Stopwatch()

    def correctness(**_):
        return [1.0]

    wrapped = timed(correctness, watch)
    assert wrapped.__name__ == "correctness" and wrapped() == [1.0]
    assert watch.seconds > 0 and watch.take() > 0 and watch.seconds == 0
