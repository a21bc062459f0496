"""The wording of DeepMMSearchVQA: questions, the teacher's queries and its `<reason>` text.

Varied on purpose (several paraphrases, chosen by the question's seed) so that a policy trained on the data learns
the chain, not one sentence. Everything here is plain data and string formatting.
"""

from __future__ import annotations

import random

NOUN_OF_KIND = {"country": "flag", "division": "flag", "monument": "photo", "animal": "photo", "brand": "logo"}
NOUN_OF_KIND["emoji"] = "emoji"

CATEGORY = {
    "identify:country": "geography",
    "identify:division": "geography",
    "identify:monument": "landmarks",
    "identify:animal": "nature",
    "identify:brand": "brands",
    "identify:emoji": "symbols",
    "capital": "geography",
    "region": "geography",
    "area": "geography",
    "continent": "geography",
    "country": "geography",
    "currency": "economy",
    "population": "demographics",
    "demonym": "demographics",
    "language": "demographics",
    "colour": "brands",
    "group": "symbols",
    "subgroup": "symbols",
}
"""Knowledge category of a question, by its last relation (or `identify:<kind>` for one-hop identification)."""
KIND_CATEGORY = {"monument": "landmarks", "animal": "nature", "brand": "brands", "emoji": "symbols"}
"""Category of one- and two-hop questions about these kinds, whatever the relation."""

NUMERIC_TOLERANCE = {"population": 0.02, "area": 0.02}

# What the entity is called in a question: single image / composite with a referring expression.
SUBJECT = {
    ("country", "flag"): (
        ["the country this flag belongs to", "the country whose flag is shown"],
        "the country of {ref}",
    ),
    ("country", "map"): (["the country shown on this map", "the country on this map"], "the country shown on {ref}"),
    ("division", "flag"): (
        ["the region whose flag this is", "the region this flag belongs to"],
        "the region of {ref}",
    ),
    ("monument", "photo"): (["the monument in this photo", "the landmark shown here"], "the monument in {ref}"),
    ("animal", "photo"): (["the animal in this photo", "the animal shown here"], "the animal in {ref}"),
    ("brand", "logo"): (["the brand whose logo this is", "the company behind this logo"], "the brand of {ref}"),
    ("emoji", "emoji"): (["this emoji", "the emoji shown"], "{ref}"),
}

IDENTIFY = {
    ("country", "flag"): (
        ["Which country does this flag belong to?", "Whose flag is this?"],
        "Which country's flag is {ref}?",
    ),
    ("country", "map"): (["Which country is shown on this map?"], "Which country is shown on {ref}?"),
    ("division", "flag"): (["Which region does this flag belong to?"], "Which region's flag is {ref}?"),
    ("monument", "photo"): (
        ["What is the name of this monument?", "Which landmark is this?"],
        "Which landmark is {ref}?",
    ),
    ("animal", "photo"): (["Which animal is this?", "What animal is shown in this photo?"], "Which animal is {ref}?"),
    ("brand", "logo"): (
        ["Which brand does this logo belong to?", "Whose logo is this?"],
        "Which brand's logo is {ref}?",
    ),
    ("emoji", "emoji"): (["What is this emoji called?", "What is the name of this emoji?"], "What is {ref} called?"),
}

RELATION_QUESTION = {
    "capital": ["What is the capital of {x}?", "Which city is the capital of {x}?"],
    "currency": ["What currency is used in {x}?", "What is the currency of {x}?"],
    "population": ["What is the population of {x}?", "How many people live in {x}?"],
    "region": ["In which region of the world is {x}?", "Which part of the world is {x} in?"],
    "demonym": ["What are people from {x} called?"],
    "language": ["What language is spoken in {x}?", "What is the official language of {x}?"],
    "area": ["What is the area of {x}?", "How large is {x} in square kilometres?"],
    "country": ["Which country is {x} in?", "In which country is {x}?"],
    "continent": ["Which continent is {x} found on?", "On which continent is {x} found?"],
    "colour": ["What is the brand colour (hex code) of {x}?", "Which hex colour does {x} use for its logo?"],
    "group": ["Which emoji group does {x} belong to?"],
    "subgroup": ["Which emoji subgroup does {x} belong to?"],
}

QUERY = {
    "capital": ["capital of {s}", "{s} capital city"],
    "currency": ["currency of {s}", "{s} currency"],
    "population": ["population of {s}", "{s} population total people and society"],
    "region": ["{s} region", "region of {s}"],
    "demonym": ["people from {s} are called", "{s} demonym"],
    "language": ["languages of {s}", "{s} official language"],
    "area": ["area of {s}", "{s} total area km2"],
    "country": ["{s} is a region of which country", "{s} country"],
    "continent": ["{s} continent", "{s} is found in"],
    "colour": ["{s} brand colour hex", "{s} logo colour"],
    "group": ["{s} emoji group", "{s} emoji"],
    "subgroup": ["{s} emoji subgroup", "{s} emoji"],
}
"""The teacher's precise queries; a vague first query is the subject alone (then refined)."""

# Every decision opens its reason with one fixed phrase, and the decisions that follow one situation part at one
# token: "I answer" / "I search by image on a crop" / "I search by image with the whole picture" / "I search by
# text" on the first turn, "The image search finds" after an image search, "The results show" / "The results do not
# show" after a text search. With several openings per decision, greedy decoding split a decision's probability over
# its phrasings and took the other one (the SFT policy searched on 58% of search-required first turns when sampled,
# 17% greedily) and blended openings into new ones ("I can tell that the flag ...", from "I cannot tell what ...").
# The parting words are ones the base model (SmolLM2) finds about equally likely there: with "No search is needed"
# against "I search", its prior for "No" was e^7 times larger and 56 SFT steps left it answering at once on 47 of 47
# search-required validation questions. Variety stays in the tail of a reason, after the decision.
# An image-search reason ends on its decision, so the action comes right after the words that chose it. The two
# actions part at one token (`<img_search>` then `><` for `<img>`, or `>` then the crop's referring expression); with
# wording that went on after the decision ("... with the whole picture: I do not recognise this flag"), the SFT
# policy wrote `><` with probability 0.39 after a whole-picture reason and 0.32 after a crop reason (its training
# conversations): it learned how often each action comes, not that it follows the reason. Ending the reason on the
# decision, the same SFT budget gave 0.63 vs 0.34. One wording each; `pick` still draws once, so every other choice
# of the teacher (and so the generated data apart from these reasons) is unchanged.
REASON_IMAGE = {
    "crop": ["I search by image on a crop of {ref}."],
    "whole": ["I search by image with the whole picture."],
}
REASON_IDENTIFIED = [
    "The image search finds {name}.",
    "The image search finds {name}: the top result is {title}.",
]
REASON_NOT_IDENTIFIED = {
    "empty": "The image search does not identify it: it gave no results.",
    "unconfirmed": "The image search does not identify it: the top result is {title}, which I cannot confirm.",
}
REASON_NEXT = [
    "I search by text for the {rel} of {s}.",
    "I search by text: now I need the {rel} of {s}.",
]
REASON_HOP = ["The results show the {rel} of {s}: {v}."]
"""What a text search found; followed by the next search, or alone before the answer."""
REASON_REFINE = [
    "The results do not show the {rel} of {s}. I search by text again with a more specific query.",
    "The results do not show the {rel} of {s}. I search by text again with a better query.",
]
REASON_NAMED = [
    "I search by text: the question names {s}, and I only need its {rel}.",
    "I search by text for the {rel} of {s}, which the question names.",
]
REASON_GIVE_UP = [
    "The results do not show the {rel} of {s}, and I have no better query to try.",
    "The results do not show the {rel} of {s}, and I cannot verify the answer.",
]
RELATION_WORDS = {
    "colour": "brand colour",
    "group": "emoji group",
    "subgroup": "emoji subgroup",
}

VISUAL_COUNT = ["How many {noun}s are in this picture?", "How many {noun}s can you see in this image?"]
VISUAL_COLOUR = ["What is the main colour of {ref}?", "Which colour dominates {ref}?"]
REASON_VISUAL = "I answer from the picture:"
"""The opening of every answer read off the picture itself (count, colour)."""
REASON_COUNT = ["I count {n} {noun}s in the picture.", "the picture shows {n} {noun}s."]
REASON_COLOUR = ["{ref} is mostly {c}.", "looking at {ref}, its main colour is {c}."]
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def pick(rng: random.Random, options: list[str], **fields: str) -> str:
    """One of `options`, formatted."""
    text = rng.choice(options)
    return text.format(**fields)


def relation_words(relation: str) -> str:
    """How a relation is said in a sentence."""
    return RELATION_WORDS.get(relation, relation)
