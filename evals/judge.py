"""Answer judging: does a predicted short answer match the gold answer(s)?

The paper judges with an LLM: the App. E.6 prompt for the GRPO reward (paper.md §4.3) and the App. E.5 prompt for
evaluation (§5.2). `RuleJudge` implements the matching rules of the E.6 prompt deterministically, offline and for
free. Data generation uses it to keep only trajectories whose answer it accepts, the evaluation harness scores with
it, and GRPO rewards call it. An LLM judge implements the same `Judge` protocol.

`RuleJudge.judge` applies these rules in order. The first rule that accepts the answer decides.

1. **Empty.** A prediction that normalises to nothing is wrong.
2. **Give-up.** A prediction that contains `GIVE_UP_ANSWER` is wrong, whatever the gold.
3. **Exact.** The normalised prediction equals the normalised gold answer or one of its aliases (`normalize_answer`:
   case, accents, punctuation, articles, whitespace; E.6 rules 2 and 3).
4. **Word order.** The same words in another order ("Smith John" vs "John Smith"; E.6 rule 2 ignores word order).
5. **Containment.** A non-numeric gold appears as a whole phrase in a short prediction ("The capital is Paris." vs
   "Paris"). Short means at most `max_extra_words` words besides the gold. The rule does not fire when the
   prediction hedges:
   - it names alternatives: the word "or", "either", "nor", "vs" or "versus" outside the gold phrase, or a slash
     between two words of three or more characters ("Paris or Lyon", "Paris/Lyon"); "or so" and "more or less" are
     not alternatives;
   - or it negates the gold: "not", "never", "isn't" and similar words before the gold phrase ("not Paris").
     "Paris, not Lyon" still counts.
   - or it lists the gold after another item. The raw prediction is split into list items at semicolons, newlines
     and commas followed by whitespace; a comma with no space after it ("68,374,591") never splits. In a list of
     two or more items, the gold phrase must start in the first item: "Lyon, Paris", "Lyon; Paris" and
     "Marseille, Lyon, Paris" are refused, while "Paris, France", "Paris, Lyon" and "Paris, not Lyon" count. A gold
     that itself contains ", " ("Korea, South", "Washington, D.C.") still counts, since only its start is checked.
   With the first-item rule, listing candidates never earns more than answering the first one alone, so listing
   pays nothing in expectation, while a trailing qualifier ("Paris, France") is still accepted. The price: a lead-in
   before a comma is a first item too, so "Well, Paris" and "In 2019, 68 million" are refused.
6. **Numeric.** The gold is numeric when `Gold.numeric` is set or when a gold string is a single number, with an
   optional scale word and unit ("68,374,591", "3 km", "45%"). Numbers are read from the prediction with thousands
   separators (commas, thin and no-break spaces), decimals (a "." only), scale words ("68 million", "1.2 bn",
   "3.5k"), number words up to twenty, percentages, and units. Units are converted through a small table: km, m, cm,
   mi, ft; km², m², mi²; kg, g, lb; °C, °F. A prediction number matches when one of these holds:
   - it equals the gold;
   - one of the two is the other rounded to its own precision: |pred - gold| <= half a unit of the last digit of
     the prediction (68 million for 68,374,591) or of a gold read from text (176.1 for "176"). The digits are
     taken as written: "1900" is precise to the year, so it does not match 1889;
   - it is within the relative `Gold.tolerance`;
   - it is a range that contains the gold (E.6 rule 4a: "20 to 24", "20-24", "between 20 and 24"). A range wider
     than `max_range_ratio` times its larger end is refused, so "0 to 1,000,000" cannot collect the reward.
   A prediction number with a unit of a different kind than the gold unit is skipped. A number without a unit, or a
   gold without a known unit, is compared as written. The numeric rule obeys the same word cap. It refuses a
   prediction with an alternative or a negation word anywhere. In a list (as split in rule 5) the matching number
   is read from the first item alone: "68 million, 80 million" matches 68,374,591, "80 million, 68 million" does
   not.

Everything else is "no match". These choices go beyond the paper: the word cap, the hedge words, the range-width
guard, number words, the first-item rule for lists, and reading "68,000,000" as precise to the unit. The exact and
word-order rules compare the whole prediction, so the first-item rule does not touch them ("Smith, John").
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from policy.protocol import GIVE_UP_ANSWER

# ---------------------------------------------------------------------------------------------------------------------
# Normalisation

_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    word: str(i)
    for i, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_SEPARATOR_SPACES = "\u2009\u202f\u00a0"  # thin, narrow no-break and no-break space
_DIGIT_SPACE_RE = re.compile(rf"(?<=\d)[{_SEPARATOR_SPACES}](?=\d)")
_THOUSANDS_RE = re.compile(r"(?<!\d)\d{1,3}(?:,\d{3})+(?!\d)")
_ACRONYM_RE = re.compile(r"(?<!\w)(?:[^\W\d_]\.){2,}")
_INNER_APOSTROPHE_RE = re.compile(r"(?<=[^\W\d_])['\u2018\u2019\u02bc](?=[^\W\d_])")


def _fold(text: str) -> str:
    """Compatibility-decompose, case-fold and drop combining marks ("Zürich" -> "zurich", "ﬁ" -> "fi")."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(c for c in text if not unicodedata.category(c).startswith("M"))


def normalize_answer(text: str) -> str:
    """Normalise a short answer for string comparison.

    Steps: thin spaces between digits become thousands commas; NFKD, case-fold and accent removal; "&" becomes
    "and"; thousands commas are removed ("68,374,591" -> "68374591"); acronym dots are removed ("U.S." -> "us");
    apostrophes inside words are removed ("d'Ivoire" -> "divoire"); every other punctuation character becomes a space,
    except a "." or "," between two digits, so "5.2" stays apart from "52"; number words up to twenty become digits;
    the articles a, an and the are dropped unless they are the last word ("the Eiffel Tower" -> "eiffel tower", but
    "Vitamin A" -> "vitamin a"); whitespace is collapsed. The result is idempotent (a tested property).

    Args:
        text: Any text.

    Returns:
        The normalised text: lowercase words separated by single spaces, possibly empty.

    Example:
        >>> normalize_answer("  The Côte d’Ivoire. ")
        'cote divoire'
    """
    text = _DIGIT_SPACE_RE.sub(",", text)
    text = _fold(text).replace("&", " and ")
    text = _THOUSANDS_RE.sub(lambda m: m.group().replace(",", ""), text)
    text = _ACRONYM_RE.sub(lambda m: m.group().replace(".", ""), text)
    text = _INNER_APOSTROPHE_RE.sub("", text)
    chars = []
    for i, c in enumerate(text):
        if unicodedata.category(c).startswith("P"):
            between_digits = 0 < i < len(text) - 1 and text[i - 1].isdecimal() and text[i + 1].isdecimal()
            chars.append(c if c in ".," and between_digits else " ")
        else:
            chars.append(c)
    words = [_NUMBER_WORDS.get(w, w) for w in "".join(chars).split()]
    return " ".join(w for i, w in enumerate(words) if w not in _ARTICLES or i == len(words) - 1)


# ---------------------------------------------------------------------------------------------------------------------
# Numbers and units


@dataclass(frozen=True)
class _Unit:
    kind: str
    factor: float
    """Multiply by this (then add `offset`) to reach the kind's base unit."""
    offset: float = 0.0


_UNITS = {
    "km": _Unit("length", 1000.0),
    "m": _Unit("length", 1.0),
    "cm": _Unit("length", 0.01),
    "mi": _Unit("length", 1609.344),
    "ft": _Unit("length", 0.3048),
    "km²": _Unit("area", 1e6),
    "m²": _Unit("area", 1.0),
    "mi²": _Unit("area", 1609.344**2),
    "kg": _Unit("mass", 1.0),
    "g": _Unit("mass", 0.001),
    "lb": _Unit("mass", 0.45359237),
    "°C": _Unit("temperature", 1.0),
    "°F": _Unit("temperature", 5 / 9, -32 * 5 / 9),
    "%": _Unit("percent", 1.0),
}
"""Canonical unit -> kind and conversion to the kind's base unit."""

_UNIT_SPELLINGS = {
    "km²": ("km²", "km2", "km^2", "sq km", "sq. km", "square km", "square kilometres", "square kilometers"),
    "m²": ("m²", "m2", "m^2", "sq m", "sq. m", "square metres", "square meters"),
    "mi²": ("mi²", "mi2", "mi^2", "sq mi", "sq. mi", "square miles", "square mile"),
    "km": ("km", "kilometres", "kilometers", "kilometre", "kilometer"),
    "m": ("m", "metres", "meters", "metre", "meter"),
    "cm": ("cm", "centimetres", "centimeters", "centimetre", "centimeter"),
    "mi": ("mi", "miles", "mile"),
    "ft": ("ft", "feet", "foot"),
    "kg": ("kg", "kgs", "kilograms", "kilogram", "kilos", "kilo"),
    "g": ("g", "grams", "gram"),
    "lb": ("lb", "lbs", "pounds", "pound"),
    "°C": ("°c", "° c", "ºc", "º c", "degrees celsius", "degree celsius", "degrees c", "celsius", "centigrade"),
    "°F": ("°f", "° f", "ºf", "º f", "degrees fahrenheit", "degree fahrenheit", "degrees f", "fahrenheit"),
    "%": ("%", "percent", "per cent"),
}
"""Canonical unit -> how it is written (matched case-insensitively, with any whitespace between words)."""


def _unit_key(text: str) -> str:
    return "".join(text.casefold().split())


_UNIT_LOOKUP = {_unit_key(s): unit for unit, spellings in _UNIT_SPELLINGS.items() for s in (unit, *spellings)}
_UNIT_PATTERN = "|".join(
    r"\s*".join(re.escape(word) for word in s.split())
    for s in sorted((s for spellings in _UNIT_SPELLINGS.values() for s in spellings), key=len, reverse=True)
)
_SCALES = {
    "hundred": 1e2,
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,  # only an upper-case "M" is read as a scale ("68M"); see _MENTION_RE
    "billion": 1e9,
    "bn": 1e9,
    "trillion": 1e12,
}

# A number, an optional scale word and an optional unit. A scale "M" is upper case only ("68M"); "5 m" is metres.
_MENTION_RE = re.compile(
    rf"""
    (?<![\w.])(?P<sign>[-\u2212+](?=\d))?
    (?P<int>\d{{1,3}}(?:[,{_SEPARATOR_SPACES}]\d{{3}})+(?!\d)|\d+)
    (?P<frac>\.\d+)?
    (?:\s*(?P<scale>hundred|thousand|million|billion|trillion|mn|bn|k|(?-i:M))s?(?!\w))?
    (?:\s*(?P<unit>{_UNIT_PATTERN})(?![\w/]))?
    (?!\w|\.\d)
    """,
    re.IGNORECASE | re.VERBOSE,
)
_NUMBER_WORD_RE = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)
_RANGE_SEPARATOR_RE = re.compile(r"\s*(?:-|\u2013|\u2014|to|through)\s*", re.IGNORECASE)
_BETWEEN_RE = re.compile(r"between\s*$", re.IGNORECASE)
_AND_RE = re.compile(r"\s*and\s*", re.IGNORECASE)


@dataclass(frozen=True)
class _Number:
    value: float
    half: float
    """Half a unit of the last written digit (0 when the precision is unknown)."""
    unit: str | None
    """A canonical unit from `_UNITS`, an unknown unit as given, or None."""


def _canonical_unit(unit: str | None) -> str | None:
    return None if unit is None else _UNIT_LOOKUP.get(_unit_key(unit), unit)


def _replace_number_words(text: str) -> str:
    return _NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[m.group().lower()], text)


def _to_number(m: re.Match[str], scale: str | None = None, unit: str | None = None) -> _Number:
    """Read a `_MENTION_RE` match; `scale` and `unit` fill in what the match lacks (a range's first end)."""
    digits = m["int"].translate({ord(c): None for c in "," + _SEPARATOR_SPACES}) + (m["frac"] or "")
    sign = -1.0 if m["sign"] in ("-", "\u2212") else 1.0
    scale_word = m["scale"] or scale
    factor = 1.0 if scale_word is None else _SCALES[scale_word.lower()]
    decimals = len(m["frac"]) - 1 if m["frac"] else 0
    return _Number(
        value=sign * float(digits) * factor,
        half=0.5 * 10.0**-decimals * factor,
        unit=_canonical_unit(m["unit"] or unit),
    )


def _read_numbers(text: str) -> tuple[list[_Number], list[tuple[_Number, _Number]]]:
    """The single numbers and the ranges written in `text`; a number inside a range is not also a single number."""
    text = _replace_number_words(text)
    matches = list(_MENTION_RE.finditer(text))
    singles: list[_Number] = []
    ranges: list[tuple[_Number, _Number]] = []
    i = 0
    while i < len(matches):
        a = matches[i]
        if i + 1 < len(matches):
            b = matches[i + 1]
            between = text[a.end() : b.start()]
            if _RANGE_SEPARATOR_RE.fullmatch(between) or (
                _AND_RE.fullmatch(between) and _BETWEEN_RE.search(text[: a.start()])
            ):
                hi = _to_number(b)
                lo = _to_number(a, scale=b["scale"], unit=b["unit"])
                if lo.value <= hi.value and lo.unit == hi.unit:
                    ranges.append((lo, hi))
                    i += 2
                    continue
        singles.append(_to_number(a))
        i += 1
    return singles, ranges


def _whole_number(text: str, unit: str | None) -> _Number | None:
    """The number that `text` consists of ("68,374,591", "3 km", "$5 million", "45%."), else None."""
    text = _replace_number_words(text).strip().removesuffix(".").strip().lstrip("$€£¥").strip()
    m = _MENTION_RE.fullmatch(text)
    if m is None:
        return None
    number = _to_number(m)
    return number if number.unit is not None else _Number(number.value, number.half, _canonical_unit(unit))


def _convert(number: _Number, unit: str | None) -> _Number | None:
    """`number` in `unit`; unchanged when either unit is missing or unknown; None when the kinds differ."""
    if number.unit is None or unit is None or number.unit == unit:
        return number
    source, target = _UNITS.get(number.unit), _UNITS.get(unit)
    if source is None or target is None:
        return number
    if source.kind != target.kind:
        return None
    base = number.value * source.factor + source.offset
    return _Number((base - target.offset) / target.factor, number.half * source.factor / target.factor, unit)


def _close(a: float, b: float, slack: float) -> bool:
    """|a - b| <= slack, forgiving float round-off."""
    return abs(a - b) <= slack + 1e-9 * max(abs(a), abs(b))


# ---------------------------------------------------------------------------------------------------------------------
# Hedges

_DISJUNCTIONS = frozenset({"or", "either", "nor", "neither", "vs", "versus"})
_NEGATIONS = frozenset(
    {"not", "never", "isnt", "wasnt", "arent", "werent", "doesnt", "dont", "didnt", "cannot", "cant", "wont"}
)
_SLASH_RE = re.compile(r"[^\W_]{3,}\s*/\s*[^\W_]{3,}")


def _names_alternatives(words: list[str]) -> bool:
    """Whether `words` contain a disjunction other than "or so" and "more or less"."""
    for i, w in enumerate(words):
        if w == "or":
            after = words[i + 1] if i + 1 < len(words) else ""
            before = words[i - 1] if i > 0 else ""
            if after == "so" or (before, after) == ("more", "less"):
                continue
            return True
        if w in _DISJUNCTIONS:
            return True
    return False


_LIST_SEPARATOR_RE = re.compile(r"[;\n\r]|,(?=\s)")


def _list_items(prediction: str) -> list[tuple[str, int]]:
    """The list items of `prediction` that hold words, each with its number of words in the normalised prediction.

    Items are split at semicolons, newlines and commas followed by whitespace. An item's words are counted with a
    word after it, so that a trailing article is dropped as it is inside the whole prediction ("Vitamin A; B").
    """
    items = ((item, len(normalize_answer(item + " x").split()) - 1) for item in _LIST_SEPARATOR_RE.split(prediction))
    return [(item, n) for item, n in items if n > 0]


def _find(words: list[str], phrase: list[str]) -> int | None:
    """The index where `phrase` first occurs as consecutive words of `words`, else None."""
    n = len(phrase)
    return next((i for i in range(len(words) - n + 1) if words[i : i + n] == phrase), None)


# ---------------------------------------------------------------------------------------------------------------------
# API


@dataclass(frozen=True)
class Gold:
    """The ground truth of one question."""

    answer: str
    """The reference answer."""
    aliases: tuple[str, ...] = ()
    """Other accepted answers ("NYC" for "New York City"); matching one is enough."""
    numeric: float | None = None
    """The answer's value when it is a quantity; None to read it from `answer` (or not numeric at all)."""
    tolerance: float = 0.0
    """Relative tolerance for numeric answers, e.g. 0.05 for populations."""
    unit: str | None = None
    """The unit of `numeric` (or of a bare number in `answer`), e.g. "km²"; see the module docstring for the table."""

    def __post_init__(self) -> None:
        if isinstance(self.aliases, str):
            raise TypeError(f"aliases must be a tuple of strings, got the string {self.aliases!r}; wrap it: (alias,)")
        for text in self.answers:
            if not normalize_answer(text) and self.numeric is None:
                raise ValueError(f"gold answer {text!r} is empty after normalisation; drop it or set numeric")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance must be a finite relative tolerance >= 0, got {self.tolerance}")
        if self.numeric is not None and not math.isfinite(self.numeric):
            raise ValueError(f"numeric must be finite, got {self.numeric}")

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer followed by its aliases."""
        return (self.answer, *self.aliases)


@dataclass(frozen=True)
class Judgement:
    """A judge's verdict on one prediction."""

    correct: bool
    reason: str
    """Short and from a small vocabulary, so reasons can be counted: "exact match after normalisation", "no match"."""
    matched: str | None
    """The gold answer or alias that the prediction matched; None when not correct."""


class Judge(Protocol):
    """Anything that decides whether a prediction answers a question correctly (`RuleJudge`, an LLM judge)."""

    def judge(self, question: str, prediction: str, gold: Gold) -> Judgement:
        """Judge `prediction` (the final answer text, tags stripped) against `gold`."""
        ...


_GIVE_UP_WORDS = normalize_answer(GIVE_UP_ANSWER).split()


@dataclass(frozen=True)
class RuleJudge:
    """The deterministic judge; the rules are in the module docstring. It ignores the question.

    Example:
        >>> RuleJudge().judge("Capital of France?", "The capital is Paris.", Gold("Paris")).reason
        'gold contained in a short prediction'
    """

    max_extra_words: int = 10
    """Containment and numeric matches allow at most this many normalised words besides the gold's."""
    max_range_ratio: float = 0.5
    """A numeric range counts only if its width is at most this fraction of its larger end (in magnitude)."""

    def judge(self, question: str, prediction: str, gold: Gold) -> Judgement:
        """Judge `prediction` against `gold`; never raises."""
        words = normalize_answer(prediction).split()
        if not words:
            return Judgement(False, "empty prediction", None)
        if _find(words, _GIVE_UP_WORDS) is not None:
            return Judgement(False, "give-up answer", None)

        golds = [(text, normalize_answer(text).split()) for text in gold.answers]
        for text, gold_words in golds:
            if words == gold_words:
                return Judgement(True, "exact match after normalisation", text)
        for text, gold_words in golds:
            if len(gold_words) > 1 and sorted(words) == sorted(gold_words):
                return Judgement(True, "same words in another order", text)

        numbers = (
            [] if gold.numeric is None else [(gold.answer, _Number(gold.numeric, 0.0, _canonical_unit(gold.unit)))]
        )
        numbers += [(text, n) for text in gold.answers if (n := _whole_number(text, gold.unit)) is not None]
        numeric_texts = {text for text, _ in numbers}

        items = _list_items(prediction)
        is_list = len(items) > 1
        first_item, first_words = items[0] if is_list else (prediction, len(words))

        refusal = None
        for text, gold_words in golds:
            if text in numeric_texts or not gold_words:
                continue
            start = _find(words, gold_words)
            if start is None:
                continue
            outside = words[:start] + words[start + len(gold_words) :]
            if _names_alternatives(outside) or ("/" not in text and _SLASH_RE.search(prediction)):
                refusal = refusal or "gold found among alternatives"
            elif _NEGATIONS.intersection(words[:start]):
                refusal = refusal or "gold found but negated"
            elif start >= first_words:
                refusal = refusal or "gold found in a list, not first"
            elif len(outside) > self.max_extra_words:
                refusal = refusal or "gold found in a long prediction"
            else:
                return Judgement(True, "gold contained in a short prediction", text)

        if numbers:
            whole = _read_numbers(prediction)
            first = _read_numbers(first_item) if is_list else whole
            for text, target in numbers:
                reason = self._match_number(*first, target, gold.tolerance)
                if reason is None and (not is_list or self._match_number(*whole, target, gold.tolerance) is None):
                    continue
                extra = len(words) - len(normalize_answer(text).split())
                if _names_alternatives(words) or _SLASH_RE.search(prediction):
                    refusal = refusal or "number found among alternatives"
                elif _NEGATIONS.intersection(words):
                    refusal = refusal or "number found but negated"
                elif reason is None:
                    refusal = refusal or "number found in a list, not first"
                elif extra > self.max_extra_words:
                    refusal = refusal or "number found in a long prediction"
                elif reason == "numeric range too wide":
                    refusal = refusal or reason
                else:
                    return Judgement(True, reason, text)
        return Judgement(False, refusal or "no match", None)

    def _match_number(
        self, singles: list[_Number], ranges: list[tuple[_Number, _Number]], gold: _Number, tolerance: float
    ) -> str | None:
        """The reason the first matching prediction number matches `gold`, or None if none does."""
        slack = tolerance * abs(gold.value)
        too_wide = False
        for raw in singles:
            number = _convert(raw, gold.unit)
            if number is None:
                continue
            converted = " (unit converted)" if number.unit != raw.unit else ""
            if _close(number.value, gold.value, 0.0):
                return "numeric equal" + converted
            if _close(number.value, gold.value, max(number.half, gold.half)):
                return "numeric equal after rounding" + converted
            if tolerance and _close(number.value, gold.value, slack):
                return f"numeric within {tolerance * 100:g}%" + converted
        for raw_lo, raw_hi in ranges:
            lo, hi = _convert(raw_lo, gold.unit), _convert(raw_hi, gold.unit)
            if lo is None or hi is None:
                continue
            if lo.value - slack <= gold.value <= hi.value + slack:
                if hi.value - lo.value <= self.max_range_ratio * max(abs(lo.value), abs(hi.value)):
                    return "numeric range contains gold" + (" (unit converted)" if lo.unit != raw_lo.unit else "")
                too_wide = True
        return "numeric range too wide" if too_wide else None
