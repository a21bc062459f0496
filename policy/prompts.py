"""The user-turn templates: the paper's (App. E.1, re-worded from research/paper.md §1.4) and a compact set.

The same templates serve SFT data, evaluation and the prompt-based agent baseline, so they live here once.
The initial prompt carries the image placeholder; the follow-up prompts wrap the tool output in
`<information>` (rendered by `policy.protocol.render_information`).

Two styles (`STYLES`):

- `paper`: the paper's long instructions, for instruction-tuned MLLMs that must be told the protocol.
- `compact`: one line of instructions and bare follow-ups, for small policies trained by SFT to follow the protocol
  (the embedded default): the paper's initial prompt alone is ~400 tokens, most of a short trajectory, and a 2-core
  CPU pays for every one of them in every training step and every rollout. A policy must run in the style it was
  trained in; checkpoints record theirs (`policy.profile`).
"""

from __future__ import annotations

from policy.protocol import GIVE_UP_ANSWER, render_information

INITIAL_PROMPT = """You are an expert visual assistant. Answer the question about the image.

Step 1: Analyse the image and the question "{question}". Identify the entities, objects, text and other visual \
clues that matter.
Step 2: Think inside <reason>...</reason>, then choose exactly one action:
- Action 1, answer: if you can identify the visual element with confidence and your own knowledge is enough, \
answer concisely inside <answer>...</answer>.
- Action 2, image search: to identify something in the image, search the web by image.
  - Cropped search (preferred when the question is about a specific object, person, animal, plant, landmark, logo \
or flag, or when the background does not matter): write a referring expression for the region, for example \
<img_search>the flag on the left</img_search>, or its pixel box, <img_search>[x0, y0, x1, y1]</img_search>.
  - Whole-image search (only when the question is about the whole scene, its location or context): \
<img_search><img></img_search>. Never write <img_search><img></img></img_search>.
- Action 3, text search: if you know what the element is but need more facts, write a search query inside \
<text_search>...</text_search>.
Search results come back in the next turn inside <information>...</information>. You may search by image only \
once; you may search by text several times.

Here is the image and the question: {question}"""

AFTER_IMAGE_SEARCH_PROMPT = """{information}

Review the image-search results above. Think inside <reason>...</reason>, then either answer inside \
<answer>...</answer> if you now know the answer, or search by text with a query built from what the image search \
found, inside <text_search>...</text_search>. You can search by text again later."""

AFTER_TEXT_SEARCH_PROMPT = """{information}

Compare these results with what you already know. Think inside <reason>...</reason>, then choose one action:
- answer inside <answer>...</answer> if the evidence is enough;
- search again with a new, more specific or corrected query inside <text_search>...</text_search>;
- or, if the answer cannot be found, answer <answer>{give_up}</answer>."""

ERROR_PROMPT = """{information}

Your last turn could not be carried out. Think inside <reason>...</reason>, then choose exactly one valid action."""


DIRECT_PROMPT = """You are an expert visual assistant. Answer the question about the image directly, from what you \
see and what you know, without any search.

Think inside <reason>...</reason>, then answer concisely inside <answer>...</answer>. If you cannot answer, write \
<answer>{give_up}</answer>.

Here is the image and the question: {question}"""
"""The direct-answer baseline's prompt (paper §4.1: no retrieval, a concise answer)."""

COMPACT_INITIAL_PROMPT = """Question: {question}
Think in <reason>...</reason>, then do one of: <answer>...</answer>; <img_search>the region</img_search> \
(a crop) or <img_search><img></img_search> (the whole image); <text_search>a query</text_search>."""
COMPACT_DIRECT_PROMPT = """Question: {question}
Think in <reason>...</reason>, then answer in <answer>...</answer>, without searching."""
COMPACT_AFTER_IMAGE_SEARCH = "{information}\nAnswer, or search by text."
COMPACT_AFTER_TEXT_SEARCH = "{information}\nAnswer, or search again."
COMPACT_ERROR = "{information}\nThat turn failed; choose one valid action."

PROMPTS = ("agent", "direct")
STYLES = ("paper", "compact")
_TEMPLATES = {
    "paper": {
        "agent": INITIAL_PROMPT,
        "direct": DIRECT_PROMPT,
        "image": AFTER_IMAGE_SEARCH_PROMPT,
        "text": AFTER_TEXT_SEARCH_PROMPT,
        "error": ERROR_PROMPT,
    },
    "compact": {
        "agent": COMPACT_INITIAL_PROMPT,
        "direct": COMPACT_DIRECT_PROMPT,
        "image": COMPACT_AFTER_IMAGE_SEARCH,
        "text": COMPACT_AFTER_TEXT_SEARCH,
        "error": COMPACT_ERROR,
    },
}


def _template(style: str, which: str) -> str:
    if style not in _TEMPLATES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")
    return _TEMPLATES[style][which]


def initial_prompt(question: str, kind: str = "agent", style: str = "paper") -> str:
    """The first user turn's text (the image goes before it as an image part).

    Args:
        question: the question.
        kind: "agent" (the tool prompt) or "direct" (the direct-answer baseline).
        style: "paper" or "compact" (see the module docstring).
    """
    if kind not in PROMPTS:
        raise ValueError(f"unknown prompt {kind!r}; expected one of {PROMPTS}")
    return _template(style, kind).format(question=question, give_up=GIVE_UP_ANSWER)


def after_image_search(information: str, style: str = "paper") -> str:
    """The user turn that returns an image-search result."""
    return _template(style, "image").format(information=render_information(information))


def after_text_search(information: str, style: str = "paper") -> str:
    """The user turn that returns a text-search result."""
    return _template(style, "text").format(information=render_information(information), give_up=GIVE_UP_ANSWER)


def after_error(information: str, style: str = "paper") -> str:
    """The user turn that reports a malformed turn or a refused/failed tool call."""
    return _template(style, "error").format(information=render_information(information))
