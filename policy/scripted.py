"""A scripted policy: plays back given turns, for tests, demos and as the base of the programmatic teacher.

Each script item is either a fixed string or a function of the transcript so far (so a script can read the last
`<information>` block and act on it). It also tokenises with a real, tiny byte-level chat template
(`ByteChatTemplate`), so trajectories it drives carry a complete token-level trace with the same invariants as a
model backend's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from policy.base import ChatMessage, Generation, GenerationRequest
from policy.protocol import GIVE_UP_ANSWER

ScriptItem = str | Callable[[list[ChatMessage]], str]


class ScriptExhaustedError(RuntimeError):
    """The graph asked for more turns than the script has: the test or demo script is wrong."""


@dataclass(frozen=True)
class ByteChatTemplate:
    """A minimal chat template over UTF-8 bytes (ids 0–255); images render as the text `<image>`."""

    def render(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """Render messages as `<|role|>` + newline + text + `<|end|>` + newline, then `<|assistant|>` + newline."""
        out = []
        for m in messages:
            body = "".join("<image>" if p["type"] == "image" else p["text"] for p in m["content"])
            out.append(f"<|{m['role']}|>\n{body}<|end|>\n")
        if add_generation_prompt:
            out.append("<|assistant|>\n")
        return "".join(out)

    def encode(self, text: str) -> list[int]:
        """Tokenise text as UTF-8 bytes."""
        return list(text.encode("utf-8"))

    def completion(self, text: str) -> list[int]:
        """Ids of an assistant turn with its end-of-turn marker."""
        return self.encode(text + "<|end|>\n")


class ScriptedPolicy:
    """Plays back `script`: turn n of a run gets item n; raises `ScriptExhaustedError` if asked for more.

    The turn index is the number of assistant messages in the request, so one instance serves any number of
    concurrent runs, and a run resumed from a checkpoint continues where it stopped.
    """

    def __init__(self, script: Sequence[ScriptItem]) -> None:
        self.script = list(script)
        self.template = ByteChatTemplate()

    def generate(self, request: GenerationRequest) -> Generation:
        """Return the next scripted turn with its byte-level token trace."""
        turn = sum(m["role"] == "assistant" for m in request.messages)
        if turn >= len(self.script):
            raise ScriptExhaustedError(f"script has {len(self.script)} turns; turn {turn + 1} was requested")
        item = self.script[turn]
        text = item if isinstance(item, str) else item(request.messages)
        prompt_ids = self.template.encode(self.template.render(request.messages))
        completion_ids = self.template.completion(text)
        return Generation(
            text=text,
            prompt_ids=prompt_ids,
            completion_ids=completion_ids,
            logprobs=[0.0] * len(completion_ids),  # a script is deterministic: probability 1
        )


def last_information(messages: list[ChatMessage]) -> str:
    """Text inside the last `<information>` block of the transcript ("" if none); for reactive scripts."""
    for m in reversed(messages):
        if m["role"] != "user":
            continue
        text = "".join(p.get("text", "") for p in m["content"])
        start, end = text.rfind("<information>"), text.rfind("</information>")
        if start != -1 and end > start:
            return text[start + len("<information>") : end]
    return ""


_POSITION_RE = re.compile(
    r"\b(?:(?:first|second|third|fourth)(?: from the (?:left|right))?|left|right|middle|centre|center|top|bottom)"
    r"(?:[- ](?:left|right))?\b"
)
_ITEM_RE = re.compile(r"\[(\d+)\] ([^:\[]+): ([^\[]*)")
_WORD_RE = re.compile(r"[a-z0-9]+")


def _question(messages: list[ChatMessage]) -> str:
    text = "".join(p.get("text", "") for p in messages[0]["content"])
    return text.rsplit("Here is the image and the question: ", 1)[-1].strip()


def _plan_search_image(messages: list[ChatMessage]) -> str:
    question = _question(messages)
    m = _POSITION_RE.search(question.lower())
    if m:
        return (
            f"<reason>The question is about one object, the {m.group(0)} one; I crop it and search by image."
            f"</reason>\n<img_search>the object at the {m.group(0)}</img_search>"
        )
    return "<reason>I search the whole image to identify it.</reason>\n<img_search><img></img_search>"


def _plan_search_text(messages: list[ChatMessage]) -> str:
    items = _ITEM_RE.findall(last_information(messages))
    if not items:
        return f"<reason>The image search found nothing usable.</reason>\n<answer>{GIVE_UP_ANSWER}</answer>"
    entity = items[0][1].strip().removeprefix("Flag of ").strip()
    return (
        f"<reason>The image search says this is {entity}; I look up the fact.</reason>\n"
        f"<text_search>{entity}: {_question(messages).rstrip('?')}</text_search>"
    )


def _plan_answer(messages: list[ChatMessage]) -> str:
    q = set(_WORD_RE.findall(_question(messages).lower()))
    last = "".join(p.get("text", "") for p in messages[-2]["content"])  # the plan's own text search
    entity = last.split("<text_search>")[-1].split(":")[0].lower()
    items = [it for it in _ITEM_RE.findall(last_information(messages)) if entity in it[2].lower()]
    if not items:
        return f"<reason>The text search found nothing usable.</reason>\n<answer>{GIVE_UP_ANSWER}</answer>"
    best = max(items, key=lambda it: (len(q & set(_WORD_RE.findall(it[2].lower()))), -int(it[0])))
    return (
        f"<reason>The most relevant evidence is from {best[1].strip()}.</reason>\n<answer>{best[2].strip()}</answer>"
    )


def search_plan_script() -> list[ScriptItem]:
    """A fixed three-turn plan: image search (cropped if the question names a position), text search, answer.

    It answers with the evidence sentence that best matches the question, not an extracted entity: it is a
    scripted workflow for demos and smoke tests, not a model, and it makes no claim beyond what it retrieved.
    """
    return [_plan_search_image, _plan_search_text, _plan_answer]
