"""The tag protocol: adversarial parses, valid parses, render/parse round trips, action dicts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.protocol import (
    Answer,
    ImageSearch,
    ParseError,
    Step,
    TextSearch,
    action_from_dict,
    action_to_dict,
    parse_step,
    render_action,
    render_information,
    render_step,
)

R = "<reason>The flag is French.</reason>"

# (name, model output, expected ParseError.kind)
BAD = [
    ("empty", "", "empty_output"),
    ("whitespace", " \n\t \n", "empty_output"),
    ("text_before_reason", "Sure! " + R + "<answer>Paris</answer>", "text_outside_tags"),
    ("text_between", R + " so I search: <text_search>capital of France</text_search>", "text_outside_tags"),
    ("text_after_action", R + "<answer>Paris</answer> Hope that helps.", "trailing_text"),
    ("action_only", "<answer>Paris</answer>", "missing_reason"),
    ("action_before_reason", "<answer>Paris</answer>" + R, "missing_reason"),
    ("two_reasons", R + R + "<answer>Paris</answer>", "multiple_reasons"),
    ("two_reasons_split", R + "<text_search>q</text_search>" + R, "multiple_reasons"),
    ("reason_only", R, "no_action"),
    ("two_actions", R + "<text_search>capital of France</text_search><answer>Paris</answer>", "multiple_actions"),
    ("two_text_searches", R + "<text_search>a</text_search>\n<text_search>b</text_search>", "multiple_actions"),
    ("reason_unclosed", "<reason>The flag is French.<answer>Paris</answer>", "unclosed_tag"),
    ("answer_unclosed", R + "<answer>Paris", "unclosed_tag"),
    ("text_search_unclosed", R + "<text_search>capital of France", "unclosed_tag"),
    ("stray_close_reason", "</reason>" + R + "<answer>Paris</answer>", "unbalanced_tag"),
    ("stray_close_after", R + "<answer>Paris</answer></answer>", "unbalanced_tag"),
    ("stray_close_img", R + "</img><answer>Paris</answer>", "unbalanced_tag"),
    ("action_inside_reason", "<reason>French, so <answer>Paris</answer></reason>", "nested_tags"),
    (
        "action_inside_reason_then_action",
        "<reason>x <text_search>a</text_search></reason><answer>b</answer>",
        "nested_tags",
    ),
    ("tag_inside_text_search", R + "<text_search>capital <answer>x</answer></text_search>", "nested_tags"),
    ("tag_inside_answer", R + "<answer>Paris <text_search>q</text_search></answer>", "nested_tags"),
    ("tag_inside_img_search", R + "<img_search>the <answer>x</answer> flag</img_search>", "nested_tags"),
    ("empty_query", R + "<text_search></text_search>", "empty_argument"),
    ("blank_query", R + "<text_search>  \n </text_search>", "empty_argument"),
    ("empty_answer", R + "<answer> </answer>", "empty_argument"),
    ("empty_reason", "<reason>\n</reason><answer>Paris</answer>", "empty_argument"),
    ("empty_img_search", R + "<img_search></img_search>", "empty_argument"),
    ("blank_img_search", R + "<img_search>   </img_search>", "empty_argument"),
    ("box_inverted_x", R + "<img_search>[50, 0, 10, 40]</img_search>", "bad_box"),
    ("box_inverted_y", R + "<img_search>[0, 50, 10, 40]</img_search>", "bad_box"),
    ("box_negative", R + "<img_search>[-5, 0, 10, 40]</img_search>", "bad_box"),
    ("box_negative_y", R + "<img_search>[0, -1, 10, 40]</img_search>", "bad_box"),
    ("box_zero_width", R + "<img_search>[10, 0, 10, 40]</img_search>", "bad_box"),
    ("box_zero_height", R + "<img_search>[0, 7, 10, 7]</img_search>", "bad_box"),
    ("img_closed", R + "<img_search><img></img></img_search>", "malformed_img"),
    ("img_with_text", R + "<img_search><img> the left flag</img_search>", "malformed_img"),
    ("two_imgs", R + "<img_search><img><img></img_search>", "malformed_img"),
    ("img_outside", R + "<img><answer>Paris</answer>", "malformed_img"),
    ("img_in_reason_position", "<img>" + R + "<answer>Paris</answer>", "malformed_img"),
    (
        "information_top",
        R + "<information>Paris is the capital</information><answer>Paris</answer>",
        "generated_information",
    ),
    ("information_only", "<information>x</information>", "generated_information"),
    (
        "information_in_reason",
        "<reason>I know <information>x</information></reason><answer>P</answer>",
        "generated_information",
    ),
    ("information_close_only", R + "<answer>Paris</answer></information>", "generated_information"),
]


@pytest.mark.parametrize(("text", "kind"), [(t, k) for _, t, k in BAD], ids=[n for n, _, _ in BAD])
def test_parse_step_rejects(text: str, kind: str) -> None:
    result = parse_step(text)  # never raises
    assert isinstance(result, ParseError), result
    assert result.kind == kind, result
    assert result.message.strip()


# (name, model output, expected Step)
GOOD = [
    (
        "text_search",
        "<reason>The flag is French.</reason><text_search>capital of France</text_search>",
        Step("The flag is French.", TextSearch("capital of France")),
    ),
    (
        "referring_expression",
        "<reason>Three flags.</reason><img_search>the flag in the middle</img_search>",
        Step("Three flags.", ImageSearch(target="the flag in the middle")),
    ),
    (
        "whole_image",
        "<reason>Search it all.</reason><img_search><img></img_search>",
        Step("Search it all.", ImageSearch()),
    ),
    (
        "whole_image_spaced",
        "<reason>Search it all.</reason><img_search> <img>\n</img_search>",
        Step("Search it all.", ImageSearch()),
    ),
    (
        "box_compact",
        "<reason>Crop.</reason><img_search>[0,0,10,20]</img_search>",
        Step("Crop.", ImageSearch(box=(0, 0, 10, 20))),
    ),
    (
        "box_spaced",
        "<reason>Crop.</reason><img_search>[ 24 , 24,  120 ,88 ]</img_search>",
        Step("Crop.", ImageSearch(box=(24, 24, 120, 88))),
    ),
    (
        "box_padded",
        "<reason>Crop.</reason><img_search>\n  [144, 24, 240, 88]  \n</img_search>",
        Step("Crop.", ImageSearch(box=(144, 24, 240, 88))),
    ),
    (
        "box_three_numbers_is_expression",
        "<reason>Crop.</reason><img_search>[1, 2, 3]</img_search>",
        Step("Crop.", ImageSearch(target="[1, 2, 3]")),
    ),
    (
        "answer_multiline",
        "<reason>Done.</reason><answer>Paris\nis the capital.\n\nIt has 2 million people.</answer>",
        Step("Done.", Answer("Paris\nis the capital.\n\nIt has 2 million people.")),
    ),
    (
        "whitespace_between_tags",
        "\n  <reason>\n  The flag is French.\n</reason>\n\n  <answer>\n Paris \n</answer>\n\n",
        Step("The flag is French.", Answer("Paris")),
    ),
    (
        "reason_multiline",
        "<reason>Line one.\nLine two.</reason>\n<text_search>Paris population</text_search>",
        Step("Line one.\nLine two.", TextSearch("Paris population")),
    ),
    (
        "angle_brackets_not_tags",
        "<reason>a < b and c > d, <b>bold</b></reason><answer>x <unknown> y</answer>",
        Step("a < b and c > d, <b>bold</b>", Answer("x <unknown> y")),
    ),
]


@pytest.mark.parametrize(("text", "step"), [(t, s) for _, t, s in GOOD], ids=[n for n, _, _ in GOOD])
def test_parse_step_accepts(text: str, step: Step) -> None:
    assert parse_step(text) == step


@pytest.mark.parametrize(("text", "step"), [(t, s) for _, t, s in GOOD], ids=[n for n, _, _ in GOOD])
def test_render_of_parsed_reparses(text: str, step: Step) -> None:
    assert parse_step(render_step(step)) == step


def test_image_search_whole_flag() -> None:
    assert ImageSearch().whole
    assert not ImageSearch(target="left").whole
    assert not ImageSearch(box=(0, 0, 1, 1)).whole


# --- properties ------------------------------------------------------------------------------------------------

_LOOKS_LIKE_BOX = re.compile(r"^\[\s*-?\d+\s*,\s*-?\d+\s*,\s*-?\d+\s*,\s*-?\d+\s*\]$")

content = (
    st.text(
        alphabet=st.characters(exclude_characters="<>", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n\t "),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
coords = st.integers(min_value=0, max_value=5000)
boxes = st.tuples(coords, coords, st.integers(1, 5000), st.integers(1, 5000)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
)
actions = st.one_of(
    content.map(TextSearch),
    content.map(Answer),
    content.filter(lambda s: not _LOOKS_LIKE_BOX.match(s)).map(lambda s: ImageSearch(target=s)),
    boxes.map(lambda b: ImageSearch(box=b)),
    st.just(ImageSearch()),
)
steps = st.builds(Step, reason=content, action=actions)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_round_trip(step: Step) -> None:
    assert parse_step(render_step(step)) == step


TAG_FRAGMENTS = [
    f"<{c}{t}>" for t in ("reason", "text_search", "img_search", "answer", "information", "img") for c in ("", "/")
] + ["<", ">", "[1, 2, 3, 4]", "[5, 5, 1, 1]", "\n", " "]
noisy_text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(TAG_FRAGMENTS)), max_size=12).map("".join)


@settings(max_examples=250, deadline=None)
@given(noisy_text)
def test_parse_never_raises(text: str) -> None:
    result = parse_step(text)
    assert isinstance(result, Step | ParseError)
    if isinstance(result, Step):  # whatever parses renders back to itself
        assert parse_step(render_step(result)) == result


@settings(max_examples=200, deadline=None)
@given(reason=content, action=actions)
def test_round_trip_tolerates_whitespace_between_tags(reason: str, action) -> None:
    text = f" \n<reason>\n{reason} </reason>\n\n {render_action(action)}\n "
    assert parse_step(text) == Step(reason, action)


# --- renderers ---------------------------------------------------------------------------------------------------

RENDER_BAD = [
    ("empty_query", lambda: render_action(TextSearch(""))),
    ("blank_query", lambda: render_action(TextSearch("  \n"))),
    ("tag_in_query", lambda: render_action(TextSearch("a <answer> b"))),
    ("empty_answer", lambda: render_action(Answer(""))),
    ("tag_in_answer", lambda: render_action(Answer("Paris</answer>"))),
    ("information_in_answer", lambda: render_action(Answer("<information>x"))),
    ("blank_target", lambda: render_action(ImageSearch(target=" "))),
    ("img_in_target", lambda: render_action(ImageSearch(target="<img>"))),
    ("box_like_target", lambda: render_action(ImageSearch(target="[1, 2, 3, 4]"))),
    ("empty_reason", lambda: render_step(Step("", Answer("Paris")))),
    ("tag_in_reason", lambda: render_step(Step("think <reason> again", Answer("Paris")))),
    ("close_tag_in_reason", lambda: render_step(Step("done</reason>", Answer("Paris")))),
]


@pytest.mark.parametrize("call", [c for _, c in RENDER_BAD], ids=[n for n, _ in RENDER_BAD])
def test_render_rejects(call) -> None:
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (TextSearch("capital of France"), "<text_search>capital of France</text_search>"),
        (TextSearch("  padded  "), "<text_search>padded</text_search>"),
        (Answer("Paris"), "<answer>Paris</answer>"),
        (ImageSearch(), "<img_search><img></img_search>"),
        (ImageSearch(target="the left flag"), "<img_search>the left flag</img_search>"),
        (ImageSearch(box=(1, 2, 3, 4)), "<img_search>[1, 2, 3, 4]</img_search>"),
    ],
)
def test_render_action(action, text: str) -> None:
    assert render_action(action) == text


def test_render_step_and_information() -> None:
    assert render_step(Step("Why.", Answer("Paris"))) == "<reason>Why.</reason>\n<answer>Paris</answer>"
    info = render_information("Paris is the capital.")
    assert info == "<information>Paris is the capital.</information>"
    assert parse_step(R + info).kind == "generated_information"


# --- action dicts ------------------------------------------------------------------------------------------------

DICTS = [
    (TextSearch("capital of France"), {"kind": "text_search", "text": "capital of France", "box": None}),
    (Answer("Paris"), {"kind": "answer", "text": "Paris", "box": None}),
    (ImageSearch(), {"kind": "img_search", "text": "", "box": None}),
    (ImageSearch(target="the middle flag"), {"kind": "img_search", "text": "the middle flag", "box": None}),
    (ImageSearch(box=(24, 24, 120, 88)), {"kind": "img_search", "text": "", "box": [24, 24, 120, 88]}),
]


@pytest.mark.parametrize(("action", "data"), DICTS, ids=[type(a).__name__ + str(i) for i, (a, _) in enumerate(DICTS)])
def test_action_dict_round_trip(action, data: dict) -> None:
    assert action_to_dict(action) == data
    assert action_from_dict(action_to_dict(action)) == action
    assert action_from_dict(data) == action


@settings(max_examples=100, deadline=None)
@given(actions)
def test_action_dict_round_trip_property(action) -> None:
    d = action_to_dict(action)
    assert d["box"] is None or isinstance(d["box"], list)
    assert action_from_dict(d) == action
