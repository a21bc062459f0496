"""The oracle teacher's decisions, turn by turn, on hand-written transcripts."""

from __future__ import annotations

import pytest
from PIL import Image

from policy.base import ChatMessage, GenerationRequest
from policy.protocol import GIVE_UP_ANSWER, parse_step
from sft.data.questions import Hop, Question
from sft.data.teacher import OracleTeacher, mentions

CHAIN = [
    Hop("image_search", "the flag on the left", "Peru", "image", "Peru", "u1"),
    Hop("text_search", "capital of Peru", "Peru", "capital", "Lima", "u2"),
]
HIT_PERU = "[1] Flag of Peru: The flag of Peru is red and white. [2] Flag of Canada: red and white."
HIT_CANADA = "[1] Flag of Canada: The flag of Canada. [2] Flag of Peru: The flag of Peru."
NO_CAPITAL = "[1] Peru: Peru is a country in South America. [2] Andes: mountains."
CAPITAL = "[1] Peru: The capital of Peru is Lima."


def question(**kw) -> Question:
    base = dict(
        id="tr-x",
        split="train",
        question="What is the capital of the country of the flag on the left?",
        image="images/x.png",
        answer="Lima",
        family="flag:country>capital",
        category="geography",
        search_type="mixed",
        hops=2,
        chain=CHAIN,
        target="the flag on the left",
    )
    return Question(**{**base, **kw})


def transcript(*turns: tuple[str, str]) -> list[ChatMessage]:
    msgs: list[ChatMessage] = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]}]
    for said, info in turns:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": said}]})
        msgs.append({"role": "user", "content": [{"type": "text", "text": f"<information>{info}</information>"}]})
    return msgs


def turn(teacher: OracleTeacher, msgs: list[ChatMessage]) -> str:
    text = teacher.generate(GenerationRequest(msgs, [Image.new("RGB", (8, 8))])).text
    assert not hasattr(parse_step(text), "kind"), text  # always valid protocol
    return text


IMG = "<reason>r</reason><img_search>the flag on the left</img_search>"


def test_composite_question_starts_with_a_cropped_image_search():
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question()
    assert "<img_search>the flag on the left</img_search>" in turn(t, transcript())


def test_single_image_question_searches_the_whole_image():
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question(target=None, chain=[Hop("image_search", "<img>", "Peru", "image", "Peru", "u1"), CHAIN[1]])
    assert "<img_search><img></img_search>" in turn(t, transcript())


def test_identified_entity_leads_to_the_precise_query():
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question()
    text = turn(t, transcript((IMG, HIT_PERU)))
    assert "<text_search>capital of Peru</text_search>" in text and "Peru" in text.split("</reason>")[0]


def test_a_wrong_top_image_hit_makes_it_give_up():
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question()
    assert GIVE_UP_ANSWER in turn(t, transcript((IMG, HIT_CANADA)))


def test_imperfect_start_is_refined_after_reading_the_results():
    t = OracleTeacher(imperfect_share=1.0)
    t.question = question()
    first = turn(t, transcript((IMG, HIT_PERU)))
    assert "<text_search>Peru flag</text_search>" in first
    second = turn(t, transcript((IMG, HIT_PERU), (first, NO_CAPITAL)))
    assert "<text_search>capital of Peru</text_search>" in second and "refine" in second or "again" in second


def test_value_in_the_results_is_answered_even_after_a_vague_query():
    t = OracleTeacher(imperfect_share=1.0)
    t.question = question()
    first = turn(t, transcript((IMG, HIT_PERU)))
    assert "<answer>Lima</answer>" in turn(t, transcript((IMG, HIT_PERU), (first, CAPITAL)))


def test_it_gives_up_when_every_query_fails():
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question()
    turns = [(IMG, HIT_PERU)]
    for _ in range(5):
        text = turn(t, transcript(*turns))
        if "<answer>" in text:
            break
        turns.append((text, NO_CAPITAL))
    assert GIVE_UP_ANSWER in text and len(turns) == 3  # the two precise queries, then it stops


def test_three_hop_chain_takes_the_next_hop_from_the_found_value():
    chain = [
        Hop("image_search", "<img>", "Bavaria", "image", "Bavaria", "u1"),
        Hop("text_search", "Bavaria country", "Bavaria", "country", "Germany", "u2"),
        Hop("text_search", "capital of Germany", "Germany", "capital", "Berlin", "u3"),
    ]
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question(chain=chain, target=None, answer="Berlin")
    first = turn(t, transcript((IMG, "[1] Flag of Bavaria: a state flag.")))
    second = turn(t, transcript((IMG, "[1] Flag of Bavaria: x."), (first, "[1] Bavaria: a state of Germany.")))
    assert "<text_search>capital of Germany</text_search>" in second


def test_search_free_questions_are_answered_directly():
    t = OracleTeacher()
    t.question = question(
        search_type="none",
        family="visual:count",
        chain=[],
        answer="3",
        question="How many flags are in this picture?",
        target=None,
    )
    assert "<answer>3</answer>" in turn(t, transcript())


@pytest.mark.parametrize(
    ("text", "names", "found"),
    [
        ("The capital of Peru is Lima.", ["Lima"], "Lima"),
        ("Limassol is in Cyprus.", ["Lima"], None),
        ("Côte d'Ivoire", ["Cote d'Ivoire"], "Cote d'Ivoire"),
        ("population 10.6 million", ["10.6 million"], "10.6 million"),
    ],
)
def test_mentions_matches_whole_words(text, names, found):
    assert mentions(text, names) == found


def test_after_failing_with_the_name_the_results_used_it_tries_the_page_name():
    chain = [
        Hop("image_search", "<img>", "DR Congo", "image", "DR Congo", "u1", aliases=["DRC"]),
        Hop("text_search", "currency of DR Congo", "DR Congo", "currency", "Congolese franc", "u2"),
    ]
    t = OracleTeacher(imperfect_share=0.0)
    t.question = question(chain=chain, target=None, answer="Congolese franc")
    turns = [(IMG, "[1] Locator map of DRC: DRC highlighted.")]
    queries = []
    for _ in range(4):
        text = turn(t, transcript(*turns))
        if "<answer>" in text:
            break
        queries.append(text.split("<text_search>")[1].split("</text_search>")[0])
        turns.append((text, NO_CAPITAL))
    assert queries[0] == "currency of DRC" and queries[-1] == "currency of DR Congo"


NAMED = [Hop("text_search", "capital of Peru", "Peru", "capital", "Lima", "u2")]
COUNT = dict(search_type="none", family="visual:count", chain=[], answer="3", target=None)
PICTURE = "I answer from the picture:"
FIRST_TURNS = {
    # decision: (question fields, the one opening every wording of that decision starts with)
    "count": (dict(COUNT, question="How many flags are in this picture?"), PICTURE),
    "colour": (dict(COUNT, family="visual:colour", answer="red", target="the second logo"), PICTURE),
    "crop": ({}, "I search by image on a crop of the flag on the left"),
    "whole": (dict(target=None, chain=[Hop("image_search", "<img>", "Peru", "image", "Peru", "u1"), CHAIN[1]]),
              "I search by image with the whole picture"),
    "named": (dict(search_type="text", target=None, chain=NAMED), "I search by text"),
}  # fmt: skip


def reason_of(text: str) -> str:
    return text.split("<reason>", 1)[1].split("</reason>", 1)[0]


def test_every_wording_of_a_decision_opens_with_that_decision_s_phrase():
    """Greedy decoding follows one opening per decision: several openings split its probability (see templates)."""
    reasons: dict[str, set[str]] = {}
    for decision, (fields, opening) in FIRST_TURNS.items():
        for k in range(24):
            t = OracleTeacher(imperfect_share=0.0)
            t.question = question(id=f"tr-{decision}-{k}", **fields)
            reason = reason_of(turn(t, transcript()))
            assert reason.startswith(opening), (decision, reason)
            reasons.setdefault(decision, set()).add(reason)
    assert all(len(reasons[d]) > 1 for d in ("count", "named"))  # the wording still varies after it
    # an image search's reason ends on its decision: the action follows the words that chose it
    assert reasons["crop"] == {"I search by image on a crop of the flag on the left."}
    assert reasons["whole"] == {"I search by image with the whole picture."}
    parts = {d: reason.split()[1] for d, rs in reasons.items() for reason in rs}  # "I answer …" / "I search …"
    assert parts["count"] == parts["colour"] and parts["count"] not in {parts[d] for d in ("crop", "whole", "named")}


@pytest.mark.parametrize(
    ("turns", "opening"),
    [
        ([(IMG, HIT_PERU)], "The image search finds Peru"),
        ([(IMG, HIT_CANADA)], "The image search does not identify it:"),
        ([(IMG, HIT_PERU), ("<reason>r</reason><text_search>Peru flag</text_search>", NO_CAPITAL)],
         "The results do not show the capital of Peru. I search by text again"),
        ([(IMG, HIT_PERU), ("<reason>r</reason><text_search>capital of Peru</text_search>", CAPITAL)],
         "The results show the capital of Peru: Lima."),
    ],
)  # fmt: skip
def test_later_turns_open_with_what_the_last_result_gave(turns, opening):
    for k in range(12):
        t = OracleTeacher(imperfect_share=1.0)
        t.question = question(id=f"tr-later-{k}")
        text = turn(t, transcript(*turns))
        assert reason_of(text).startswith(opening)
        assert ("<text_search>" in text) == ("I search by text" in text)  # the reason says the decision it takes
