"""The tag protocol, defined once: parse the policy's output into a step, render a step back into text.

A turn of the policy is `<reason>…</reason>` followed by exactly one action:

- `<text_search>query</text_search>`
- `<img_search>referring expression</img_search>` (crop, then search the crop)
- `<img_search>[x0, y0, x1, y1]</img_search>` (crop an explicit pixel box on the question image, then search it)
- `<img_search><img></img_search>` (search the whole image)
- `<answer>…</answer>`

Tool results come back as `<information>…</information>`, which only the environment writes. Malformed output is
never an exception: `parse_step` returns a `ParseError` value that the graph turns into an observation and a
format flag. `render_step(parse_step(t))` reproduces `t` up to whitespace around the tags (a tested property).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict

from tools.base import Box

GIVE_UP_ANSWER = "Unable to answer due to lack of relevant information"
"""The paper's give-up answer (App. E.1)."""

ACTION_TAGS = ("text_search", "img_search", "answer")
_TAG_RE = re.compile(r"<(/?)(reason|text_search|img_search|answer|information|img)>")
_BOX_RE = re.compile(r"^\[\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\]$")


@dataclass(frozen=True)
class TextSearch:
    """Search the web by text."""

    query: str


@dataclass(frozen=True)
class ImageSearch:
    """Search the web by image: the whole image, a referred region, or an explicit box."""

    target: str | None = None
    """Referring expression of the region to crop; None with `box` None means the whole image."""
    box: Box | None = None
    """Explicit pixel box on the question image."""

    def __post_init__(self) -> None:
        if self.target is not None and self.box is not None:
            raise ValueError("an image search has a referring expression or a box, not both")

    @property
    def whole(self) -> bool:
        """Whether this searches the whole image (no crop)."""
        return self.target is None and self.box is None


@dataclass(frozen=True)
class Answer:
    """The final answer; ends the episode."""

    text: str


Action = TextSearch | ImageSearch | Answer


@dataclass(frozen=True)
class Step:
    """One well-formed turn: the reasoning and the single action it chose."""

    reason: str
    action: Action


ParseErrorKind = Literal[
    "empty_output",
    "text_outside_tags",
    "trailing_text",
    "missing_reason",
    "multiple_reasons",
    "no_action",
    "multiple_actions",
    "unclosed_tag",
    "unbalanced_tag",
    "nested_tags",
    "empty_argument",
    "bad_box",
    "malformed_img",
    "generated_information",
]


@dataclass(frozen=True)
class ParseError:
    """Why a turn is not valid protocol; `message` is written for the model to read."""

    kind: ParseErrorKind
    message: str


class ActionDict(TypedDict):
    """JSON form of an action, as stored in the graph state."""

    kind: Literal["text_search", "img_search", "answer"]
    text: str
    """Query, referring expression, answer text, or "" for a whole-image search or an explicit box."""
    box: list[int] | None


@dataclass(frozen=True)
class _Element:
    tag: str
    body: str
    inner_tags: tuple[str, ...]


def _fail(kind: ParseErrorKind, message: str) -> ParseError:
    return ParseError(kind=kind, message=message)


def _elements(text: str) -> list[_Element | str] | ParseError:
    """Split text into top-level tagged elements and the free text between them."""
    out: list[_Element | str] = []
    pos = 0
    matches = list(_TAG_RE.finditer(text))
    i = 0
    while i < len(matches):
        m = matches[i]
        closing, tag = m.group(1) == "/", m.group(2)
        if tag == "information":
            return _fail("generated_information", "Do not write <information>; the environment provides it.")
        if closing:
            return _fail("unbalanced_tag", f"</{tag}> has no matching <{tag}>.")
        if tag == "img":
            return _fail("malformed_img", "<img> may only appear inside <img_search>.")
        out.append(text[pos : m.start()])
        # find the matching close at the same level; anything tagged in between is an inner tag
        inner: list[str] = []
        j = i + 1
        while j < len(matches) and not (matches[j].group(1) == "/" and matches[j].group(2) == tag):
            if matches[j].group(2) == "information":
                return _fail("generated_information", "Do not write <information>; the environment provides it.")
            inner.append(matches[j].group(0))
            j += 1
        if j == len(matches):
            return _fail("unclosed_tag", f"<{tag}> is never closed.")
        out.append(_Element(tag=tag, body=text[m.end() : matches[j].start()], inner_tags=tuple(inner)))
        pos = matches[j].end()
        i = j + 1
    out.append(text[pos:])
    return out


def _parse_img_search(el: _Element) -> ImageSearch | ParseError:
    body = el.body.strip()
    if el.inner_tags:
        if el.inner_tags == ("<img>",) and body == "<img>":
            return ImageSearch()
        if "<img>" in el.inner_tags or "</img>" in el.inner_tags:
            return _fail("malformed_img", "Write the whole-image search exactly as <img_search><img></img_search>.")
        return _fail("nested_tags", "<img_search> may not contain other tags.")
    if not body:
        return _fail("empty_argument", "<img_search> is empty: give a referring expression or <img>.")
    m = _BOX_RE.match(body)
    if m:
        x0, y0, x1, y1 = (int(v) for v in m.groups())
        if min(x0, y0) < 0 or x1 <= x0 or y1 <= y0:
            return _fail("bad_box", f"Box {body} is invalid: use [x0, y0, x1, y1] with 0 <= x0 < x1 and 0 <= y0 < y1.")
        return ImageSearch(box=(x0, y0, x1, y1))
    return ImageSearch(target=body)


def parse_step(text: str) -> Step | ParseError:
    """Parse one policy turn.

    Args:
        text: the policy's output for one turn, without the chat-template end token.

    Returns:
        The `Step`, or a `ParseError` saying what is wrong.

    Example:
        >>> parse_step("<reason>The flag is French.</reason><text_search>capital of France</text_search>")
        Step(reason='The flag is French.', action=TextSearch(query='capital of France'))
        >>> parse_step("<answer>Paris</answer>").kind
        'missing_reason'
    """
    if not text.strip():
        return _fail("empty_output", "The output is empty: write <reason>…</reason> and one action.")
    parts = _elements(text)
    if isinstance(parts, ParseError):
        return parts
    elements = [p for p in parts if isinstance(p, _Element)]
    free = [p for p in parts if isinstance(p, str)]
    if free[0].strip():
        return _fail("text_outside_tags", "Write nothing before <reason>.")
    if any(f.strip() for f in free[1:-1]):
        return _fail("text_outside_tags", "Write nothing between </reason> and the action tag.")
    if not elements or elements[0].tag != "reason":
        return _fail("missing_reason", "Start every turn with <reason>…</reason>.")
    reasons = [e for e in elements if e.tag == "reason"]
    actions = [e for e in elements if e.tag in ACTION_TAGS]
    if len(reasons) > 1:
        return _fail("multiple_reasons", "Write exactly one <reason> block per turn.")
    if reasons[0].inner_tags:
        return _fail("nested_tags", "<reason> may not contain other tags; close it before the action.")
    if not actions:
        return _fail("no_action", "After </reason>, choose one action: <text_search>, <img_search> or <answer>.")
    if len(actions) > 1:
        return _fail("multiple_actions", "Choose exactly one action per turn.")
    if free[-1].strip():
        return _fail("trailing_text", f"Write nothing after </{actions[0].tag}>.")
    reason, act = reasons[0], actions[0]
    if not reason.body.strip():
        return _fail("empty_argument", "<reason> is empty.")
    if act.tag == "img_search":
        action: Action | ParseError = _parse_img_search(act)
    elif act.inner_tags:
        return _fail("nested_tags", f"<{act.tag}> may not contain other tags.")
    elif not act.body.strip():
        return _fail("empty_argument", f"<{act.tag}> is empty.")
    elif act.tag == "text_search":
        action = TextSearch(query=act.body.strip())
    else:
        action = Answer(text=act.body.strip())
    if isinstance(action, ParseError):
        return action
    return Step(reason=reason.body.strip(), action=action)


def _check_content(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} is empty")
    if _TAG_RE.search(value):
        raise ValueError(f"{what} contains a protocol tag: {value!r}")
    return value.strip()


def render_action(action: Action) -> str:
    """Render an action as protocol text (the inverse of the action part of `parse_step`).

    Raises:
        ValueError: the content is empty or contains a protocol tag (a programming error in the caller).
    """
    if isinstance(action, TextSearch):
        return f"<text_search>{_check_content(action.query, 'query')}</text_search>"
    if isinstance(action, Answer):
        return f"<answer>{_check_content(action.text, 'answer')}</answer>"
    if action.box is not None:
        x0, y0, x1, y1 = action.box
        if min(x0, y0) < 0 or x1 <= x0 or y1 <= y0:
            raise ValueError(f"box {list(action.box)} is invalid: need 0 <= x0 < x1 and 0 <= y0 < y1")
        return f"<img_search>[{x0}, {y0}, {x1}, {y1}]</img_search>"
    if action.target is None:
        return "<img_search><img></img_search>"
    target = _check_content(action.target, "referring expression")
    if _BOX_RE.match(target):
        raise ValueError(f"referring expression {target!r} would parse as a box")
    return f"<img_search>{target}</img_search>"


def render_step(step: Step) -> str:
    """Render a step as the text a policy should produce for it."""
    return f"<reason>{_check_content(step.reason, 'reason')}</reason>\n{render_action(step.action)}"


def render_information(text: str) -> str:
    """Wrap tool output in the `<information>` block only the environment writes."""
    return f"<information>{text}</information>"


def action_to_dict(action: Action) -> ActionDict:
    """JSON form of an action for the graph state."""
    if isinstance(action, TextSearch):
        return ActionDict(kind="text_search", text=action.query, box=None)
    if isinstance(action, Answer):
        return ActionDict(kind="answer", text=action.text, box=None)
    return ActionDict(kind="img_search", text=action.target or "", box=list(action.box) if action.box else None)


def action_from_dict(data: ActionDict) -> Action:
    """Inverse of `action_to_dict`."""
    if data["kind"] == "text_search":
        return TextSearch(query=data["text"])
    if data["kind"] == "answer":
        return Answer(text=data["text"])
    box = data["box"]
    return ImageSearch(target=data["text"] or None, box=(box[0], box[1], box[2], box[3]) if box else None)
