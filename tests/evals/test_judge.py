"""The rule judge: normalisation, each matching rule (accepted and refused), and properties on arbitrary text.

Run: python -m pytest -q tests/evals/test_judge.py
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.judge import Gold, Judge, Judgement, RuleJudge, normalize_answer
from policy.protocol import GIVE_UP_ANSWER

# (text, normalised)
NORMALISE = [
    ("Paris", "paris"),
    ("  PARIS.  ", "paris"),
    ("The Eiffel Tower", "eiffel tower"),
    ("an apple a day", "apple day"),
    ("Vitamin A", "vitamin a"),  # a last-word "a" is not an article
    ("Zürich", "zurich"),
    ("São Paulo", "sao paulo"),
    ("Côte d’Ivoire", "cote divoire"),
    ("U.S.A.", "usa"),
    ("Tom & Jerry", "tom and jerry"),
    ("Jean-Paul  Sartre\n", "jean paul sartre"),
    ("68,374,591", "68374591"),
    ("68\u2009374\u2009591", "68374591"),
    ("5.2", "5.2"),  # a decimal point between digits survives...
    ("5.", "5"),  # ...a trailing period does not
    ("three", "3"),
    ("ﬁsh", "fish"),
    ("?!", ""),
]


@pytest.mark.parametrize(("text", "expected"), NORMALISE)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_decimal_is_not_thousands() -> None:
    assert normalize_answer("5.2") != normalize_answer("52")


# (id, prediction, gold, correct, reason: the judgement's reason starts with this)
CASES = [
    # empty and give-up
    ("empty", "", Gold("Paris"), False, "empty prediction"),
    ("blank", "  .  ", Gold("Paris"), False, "empty prediction"),
    ("give_up", GIVE_UP_ANSWER, Gold("Paris"), False, "give-up answer"),
    ("give_up_with_period", GIVE_UP_ANSWER.upper() + ".", Gold("information"), False, "give-up answer"),
    ("give_up_inside", f"Sorry. {GIVE_UP_ANSWER}", Gold("sorry"), False, "give-up answer"),
    # exact after normalisation
    ("exact", "Paris", Gold("Paris"), True, "exact match"),
    ("case_period", "paris.", Gold("Paris"), True, "exact match"),
    ("accents", "Zurich", Gold("Zürich"), True, "exact match"),
    ("article", "The Eiffel Tower", Gold("Eiffel Tower"), True, "exact match"),
    ("punctuation", "Jean Paul Sartre", Gold("Jean-Paul Sartre"), True, "exact match"),
    ("whitespace", "  New   York  City ", Gold("New York City"), True, "exact match"),
    ("acronym", "U.S.", Gold("US"), True, "exact match"),
    ("alias", "NYC", Gold("New York City", aliases=("NYC", "Big Apple")), True, "exact match"),
    ("second_alias", "the big apple", Gold("New York City", aliases=("NYC", "Big Apple")), True, "exact match"),
    ("number_word", "three", Gold("3"), True, "exact match"),
    ("wrong_entity", "Lyon", Gold("Paris"), False, "no match"),
    ("different_letter", "Vitamin B", Gold("Vitamin A"), False, "no match"),
    # word order
    ("word_order", "Smith, John", Gold("John Smith"), True, "same words in another order"),
    ("word_order_missing_word", "Smith", Gold("John Smith"), False, "no match"),
    # containment in a short prediction
    ("contained", "The capital is Paris.", Gold("Paris"), True, "gold contained"),
    ("contained_phrase", "It is the Eiffel Tower in Paris", Gold("Eiffel Tower"), True, "gold contained"),
    ("contained_alias", "I think it is NYC", Gold("New York City", aliases=("NYC",)), True, "gold contained"),
    ("contained_with_country", "Paris, France", Gold("Paris"), True, "gold contained"),
    ("contained_rejects_other", "Paris, not Lyon", Gold("Paris"), True, "gold contained"),
    ("contained_yes_no", "No, it is not.", Gold("no"), True, "gold contained"),
    ("not_whole_word", "Parisian", Gold("Paris"), False, "no match"),
    ("alternatives_or", "Paris or Lyon", Gold("Paris"), False, "gold found among alternatives"),
    ("alternatives_either", "either Lyon or Paris", Gold("Paris"), False, "gold found among alternatives"),
    ("alternatives_slash", "Paris/Lyon", Gold("Paris"), False, "gold found among alternatives"),
    ("negated", "It is not Paris", Gold("Paris"), False, "gold found but negated"),
    ("negated_contraction", "It isn't Paris.", Gold("Paris"), False, "gold found but negated"),
    ("too_long", "Paris " + "word " * 11, Gold("Paris"), False, "gold found in a long prediction"),
    ("long_but_allowed", "Paris " + "word " * 10, Gold("Paris"), True, "gold contained"),
    ("gold_with_or", "It is To be or not to be", Gold("To be or not to be"), True, "gold contained"),
    # lists (semicolons, newlines, commas followed by whitespace): the gold must start in the first item
    ("list_gold_second", "Lyon, Paris", Gold("Paris"), False, "gold found in a list, not first"),
    ("list_semicolon", "Lyon; Paris", Gold("Paris"), False, "gold found in a list, not first"),
    ("list_newline", "Lyon\nParis", Gold("Paris"), False, "gold found in a list, not first"),
    ("list_gold_third", "Marseille, Lyon, Paris", Gold("Paris"), False, "gold found in a list, not first"),
    ("list_gold_first", "Paris, Lyon", Gold("Paris"), True, "gold contained"),  # no better than "Paris" alone
    ("list_trailing_clause", "The capital is Paris, a city on the Seine.", Gold("Paris"), True, "gold contained"),
    ("list_trailing_separator", "It is Paris;", Gold("Paris"), True, "gold contained"),
    ("list_lead_in_is_first", "Well, Paris", Gold("Paris"), False, "gold found in a list, not first"),
    ("list_first_alias_wins", "NYC, the Big Apple", Gold("Big Apple", aliases=("NYC",)), True, "gold contained"),
    ("gold_with_comma", "Korea, South", Gold("Korea, South"), True, "exact match"),
    ("gold_with_comma_contained", "It is Korea, South", Gold("Korea, South"), True, "gold contained"),
    ("gold_with_comma_qualified", "Washington, D.C., USA", Gold("Washington, D.C."), True, "gold contained"),
    ("gold_with_comma_second", "Japan; Korea, South", Gold("Korea, South"), False, "gold found in a list, not"),
    # numeric: separators, decimals, scale words, percentages
    ("thousands_commas", "68,374,591", Gold("68374591"), True, "exact match"),
    ("thin_spaces", "68\u2009374\u2009591 people", Gold("68,374,591"), True, "numeric equal"),
    ("decimal_vs_integer", "5.2", Gold("52"), False, "no match"),
    ("integer_vs_decimal", "52", Gold("5.2"), False, "no match"),
    ("trailing_zero", "5.20", Gold("5.2"), True, "numeric equal"),
    ("million_rounding", "68 million", Gold("68,374,591"), True, "numeric equal after rounding"),
    ("million_decimal", "about 68.4 million", Gold("68,374,591"), True, "numeric equal after rounding"),
    ("million_wrong", "70 million", Gold("68,374,591"), False, "no match"),
    (
        "million_numeric_field",
        "68 million",
        Gold("France population", numeric=68_374_591),
        True,
        "numeric equal after",
    ),
    ("billion", "1.2 billion", Gold("1,200,000,000"), True, "numeric equal"),
    ("bn", "1.2bn", Gold("1,200,000,000"), True, "numeric equal"),
    ("k_suffix", "3.5k", Gold("3500"), True, "numeric equal"),
    ("capital_m", "68M", Gold("68,374,591"), True, "numeric equal after rounding"),
    ("zeros_are_precise", "68,000,000", Gold("68,374,591"), False, "no match"),
    ("year_is_precise", "1900", Gold("1889"), False, "no match"),
    ("rounded_integer", "176", Gold("176.124"), True, "numeric equal after rounding"),
    ("gold_rounded", "176.1", Gold("176"), True, "numeric equal after rounding"),
    ("percent_word", "45 percent", Gold("45%"), True, "numeric equal"),
    ("percent_sign", "About 45%.", Gold("45 percent"), True, "numeric equal"),
    ("number_in_sentence", "It was completed in 1889.", Gold("1889"), True, "numeric equal"),
    ("scale_changes_value", "5.2 million", Gold("5.2"), False, "no match"),
    ("number_alternatives", "1887 or 1889", Gold("1889"), False, "number found among alternatives"),
    ("number_negated", "not 1889", Gold("1889"), False, "number found but negated"),
    ("or_so_is_not_alternative", "68 million or so", Gold("68,374,591"), True, "numeric equal after rounding"),
    # numeric: tolerance
    ("within_tolerance", "66,000,000", Gold("68,374,591", tolerance=0.05), True, "numeric within 5%"),
    ("outside_tolerance", "60,000,000", Gold("68,374,591", tolerance=0.05), False, "no match"),
    ("tolerance_fraction", "10.2", Gold("10", numeric=10.0, tolerance=0.025), True, "numeric within 2.5%"),
    # numeric: ranges
    ("range_to", "20 to 24", Gold("21"), True, "numeric range contains gold"),
    ("range_dash", "20-24", Gold("21"), True, "numeric range contains gold"),
    ("range_between", "between 20 and 24 metres", Gold("21 m"), True, "numeric range contains gold"),
    ("range_scale_shared", "20-24 million", Gold("21,500,000"), True, "numeric range contains gold"),
    ("range_misses", "10-15", Gold("16"), False, "no match"),
    ("range_too_wide", "0 to 1,000,000", Gold("21"), False, "numeric range too wide"),
    # numeric: lists, the matching number must be in the first item
    ("list_thousands_commas", "68,374,591", Gold("68374591", tolerance=0.05), True, "exact match"),
    ("list_thousands_in_text", "About 68,374,591 people", Gold("68374591", tolerance=0.05), True, "numeric equal"),
    ("list_number_first", "68 million, 70 million", Gold("68374591", tolerance=0.05), True, "numeric equal after"),
    (
        "list_number_second",
        "80 million, 68 million",
        Gold("68374591", tolerance=0.05),
        False,
        "number found in a list, not first",
    ),
    ("list_number_newline", "80 million\n68 million", Gold("68374591"), False, "number found in a list, not first"),
    ("list_first_decides", "70 million, 68 million", Gold("68374591", tolerance=0.05), True, "numeric within 5%"),
    ("list_range", "20 to 24", Gold("22"), True, "numeric range contains gold"),
    ("list_range_second", "30 to 34; 20 to 24", Gold("22"), False, "number found in a list, not first"),
    # numeric: unit conversion
    ("m_to_ft", "about 330 m", Gold("1083 ft"), True, "numeric equal after rounding (unit converted)"),
    ("ft_to_m", "1,083 feet", Gold("Eiffel Tower height", numeric=330, unit="m"), True, "numeric equal after"),
    ("km_to_mi", "5 km", Gold("3.1 mi"), True, "numeric equal after rounding (unit converted)"),
    ("sq_mi_to_km2", "100 sq mi", Gold("259 km²"), True, "numeric equal after rounding (unit converted)"),
    ("km2_spelled", "259 square kilometres", Gold("100 sq mi"), True, "numeric equal after rounding (unit"),
    ("lb_to_kg", "220 lb", Gold("100 kg"), True, "numeric equal after rounding (unit converted)"),
    ("f_to_c", "77 °F", Gold("25 °C"), True, "numeric equal (unit converted)"),
    ("c_to_f", "-40 degrees Celsius", Gold("-40°F"), True, "numeric equal (unit converted)"),
    ("wrong_after_conversion", "330 ft", Gold("330 m"), False, "no match"),
    ("different_kind", "330 kg", Gold("330 m"), False, "no match"),
    ("bare_number_with_gold_unit", "330", Gold("330 m"), True, "numeric equal"),
    ("unit_field", "3000 m", Gold("3", numeric=3, unit="km"), True, "numeric equal (unit converted)"),
    ("unknown_unit", "12 people", Gold("12", unit="people"), True, "numeric equal"),
]


@pytest.mark.parametrize(
    ("prediction", "gold", "correct", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_judge(prediction: str, gold: Gold, correct: bool, reason: str) -> None:
    judgement = RuleJudge().judge("q?", prediction, gold)
    assert judgement.correct is correct
    assert judgement.reason.startswith(reason), judgement.reason
    assert (judgement.matched is not None) is correct
    if correct:
        assert judgement.matched in gold.answers


def test_matched_names_the_alias() -> None:
    gold = Gold("New York City", aliases=("NYC",))
    assert RuleJudge().judge("q?", "nyc", gold).matched == "NYC"


def test_range_ratio_is_a_knob() -> None:
    assert not RuleJudge().judge("q?", "1-3", Gold("2")).correct
    assert RuleJudge(max_range_ratio=1.0).judge("q?", "1-3", Gold("2")).correct


def test_extra_words_is_a_knob() -> None:
    assert not RuleJudge(max_extra_words=2).judge("q?", "The capital city is Paris", Gold("Paris")).correct


def test_rule_judge_is_a_judge() -> None:
    judge: Judge = RuleJudge()
    assert judge.judge("q?", "Paris", Gold("Paris")) == Judgement(True, "exact match after normalisation", "Paris")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"answer": "?!"}, ValueError),
        ({"answer": "Paris", "aliases": ("",)}, ValueError),
        ({"answer": "Paris", "aliases": "NYC"}, TypeError),
        ({"answer": "5", "tolerance": -0.1}, ValueError),
        ({"answer": "5", "numeric": float("nan")}, ValueError),
    ],
)
def test_gold_rejects_bad_values(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        Gold(**kwargs)


def test_gold_may_be_numeric_only() -> None:
    gold = Gold("", numeric=42.0)
    assert RuleJudge().judge("q?", "42", gold).correct


# ---------------------------------------------------------------------------------------------------------------------
# Properties

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
# answer-shaped text: pieces that exercise the rules (separators, units, hedges, articles, odd Unicode)
answer_like = st.lists(
    st.sampled_from(list("abcXYZ019 .,-/'&%°²éßİ\u2009") + ["or", "not", "the", "million", "km", " to ", "one"]),
    max_size=30,
).map("".join)


@given(st.one_of(texts, answer_like))
@settings(max_examples=500)
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_answer(text)
    assert normalize_answer(once) == once


@given(prediction=st.one_of(texts, answer_like), answer=st.one_of(texts, answer_like), tolerance=st.floats(0, 1))
@settings(max_examples=500)
def test_judge_never_raises(prediction: str, answer: str, tolerance: float) -> None:
    if not normalize_answer(answer):
        answer = "x"
    for unit in (None, "m", "°C", "people"):
        judgement = RuleJudge().judge("q?", prediction, Gold(answer, tolerance=tolerance, unit=unit))
        assert isinstance(judgement.correct, bool)
        assert (judgement.matched is not None) is judgement.correct


@given(st.one_of(texts, answer_like))
@settings(max_examples=300)
def test_a_gold_listed_after_another_item_is_wrong(first: str) -> None:
    if normalize_answer(first + " x") == "x" or "paris" in normalize_answer(first).split():
        return  # no words of its own (so no list), or the gold is already in the first item
    for separator in ("; ", ", ", "\n"):
        assert not RuleJudge().judge("q?", first + separator + "Paris", Gold("Paris")).correct


@given(st.one_of(texts, answer_like))
@settings(max_examples=300)
def test_the_gold_itself_is_correct(answer: str) -> None:
    gold_words = normalize_answer(answer)
    if not gold_words or normalize_answer(GIVE_UP_ANSWER) in gold_words:
        return
    assert RuleJudge().judge("q?", answer, Gold(answer)).correct
