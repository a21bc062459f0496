"""The programmatic teacher: a policy that knows each question's gold chain and acts on what the tools return.

It is an honest oracle. It knows which entity the image shows and which facts lead to the answer, but it only
answers with what the tools actually returned: after an image search it goes on only if the top result names the
entity, and after a text search it answers (or takes the next hop) only if the results contain the value; otherwise
it refines the query, and in the end gives up, so the trajectory is filtered out. A share of questions start with a
vague query that it then refines after reading the results (the paper's self-correction).
"""

from __future__ import annotations

import hashlib
import random
import re

from policy.base import ChatMessage
from policy.protocol import GIVE_UP_ANSWER, ImageSearch, TextSearch, parse_step
from policy.scripted import ScriptedPolicy
from sft.data import templates as T
from sft.data.questions import Hop, Question
from world.facts import norm_name

MAX_TURNS = 10
_ITEM_RE = re.compile(r"\[(\d+)\] ")
_TAG_RE = re.compile(r"[<>]")
"""Angle brackets never go from the tools' output into the teacher's `<reason>`: they would break the protocol."""


def _text(m: ChatMessage) -> str:
    return "".join(p.get("text", "") for p in m["content"])


def _information(text: str) -> str:
    start, end = text.find("<information>"), text.rfind("</information>")
    return text[start + len("<information>") : end] if start != -1 and end > start else ""


def first_item(information: str) -> str:
    """The first result of an `<information>` block ("[1] title: text" up to "[2]")."""
    parts = _ITEM_RE.split(information)
    return parts[2] if len(parts) > 2 else information


def mentions(text: str, names: list[str]) -> str | None:
    """The first of `names` that occurs in `text` as whole words after normalisation, or None."""
    hay = f" {norm_name(text)} "
    for name in names:
        key = norm_name(name)
        if key and f" {key} " in hay:
            return name
    return None


class OracleTeacher(ScriptedPolicy):
    """Writes each turn of `question`'s trajectory from the transcript so far (set `question` before each run).

    One instance serves one run at a time: the data pipeline runs questions one after another in each worker.
    """

    def __init__(self, imperfect_share: float = 0.3, max_turns: int = MAX_TURNS, crop: bool = True) -> None:
        super().__init__([self._turn] * max_turns)
        self.imperfect_share = imperfect_share
        self.crop = crop
        """False: always search the whole image (the no-crop ablation of the evaluation)."""
        self.question: Question | None = None

    def _rng(self, turn: int) -> random.Random:
        assert self.question is not None
        digest = hashlib.sha256(f"{self.question.id}|{turn}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def imperfect(self) -> bool:
        """Whether this question starts with a vague text query."""
        return self.question is not None and self._rng(-1).random() < self.imperfect_share

    def _turn(self, messages: list[ChatMessage]) -> str:
        q = self.question
        if q is None:
            raise RuntimeError("OracleTeacher.question is not set")
        assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        rng = self._rng(len(assistant))
        history: list[tuple[object, str]] = []
        for i in assistant:
            step = parse_step(_text(messages[i]))
            info = _information(_text(messages[i + 1])) if i + 1 < len(messages) else ""
            history.append((getattr(step, "action", None), info))
        if not q.search_required:
            return self._visual(q, rng)
        image_hop = q.chain[0] if q.chain and q.chain[0].tool == "image_search" else None
        text_hops = [h for h in q.chain if h.tool == "text_search"]
        reason, subject = "", text_hops[0].entity if text_hops else ""
        if image_hop is not None:
            done = [info for action, info in history if isinstance(action, ImageSearch)]
            if not done:
                return self._image_search(q, rng)
            if not done[0].lstrip().startswith("[1]"):  # refused or failed: no result to read
                return self._give_up(T.REASON_NOT_IDENTIFIED["empty"])
            top = first_item(done[0])
            title = _TAG_RE.sub("", top.split(":", 1)[0]).strip()
            found = mentions(top, [image_hop.value, *image_hop.aliases])
            if found is None:
                return self._give_up(T.REASON_NOT_IDENTIFIED["unconfirmed"].format(title=title))
            reason, subject = T.pick(rng, T.REASON_IDENTIFIED, name=found, title=title), found
            if not text_hops:
                return f"<reason>{reason}</reason>\n<answer>{found}</answer>"
        return self._text_hops(q, text_hops, history, reason, subject, rng)

    @staticmethod
    def _vague(q: Question, subject: str) -> str:
        """An imperfect first query: the subject and what the picture showed ("Peru flag"), not the fact wanted."""
        noun = q.family.split(":", 1)[0]
        return f"{subject} {noun}" if noun in ("flag", "map", "logo") else subject

    def _image_search(self, q: Question, rng: random.Random) -> str:
        noun = q.family.split(":", 1)[0]
        if q.target and self.crop:
            reason = T.pick(rng, T.REASON_IMAGE["crop"], ref=q.target)
            return f"<reason>{reason}</reason>\n<img_search>{q.target}</img_search>"
        reason = T.pick(rng, T.REASON_IMAGE["whole"], noun=noun)
        return f"<reason>{reason}</reason>\n<img_search><img></img_search>"

    def _text_hops(
        self,
        q: Question,
        hops: list[Hop],
        history: list[tuple[object, str]],
        reason: str,
        subject: str,
        rng: random.Random,
    ) -> str:
        """The next text search, or the answer once every hop's value was read in the results.

        Values are matched in any of their written forms, and the form the results used is what the teacher says
        and searches with next: it copies from the evidence rather than from its key.
        """
        hop, attempts, previous = 0, 0, ""
        for action, info in history:
            if not isinstance(action, TextSearch):
                continue
            attempts += 1
            found = mentions(info, [hops[hop].value, *hops[hop].aliases]) if hop < len(hops) else None
            if found is not None:
                hop, attempts, previous, subject = hop + 1, 0, subject, found
        if hop == len(hops):
            rel = T.relation_words(hops[-1].relation)
            because = T.pick(rng, T.REASON_HOP, rel=rel, s=previous, v=subject)
            return f"<reason>{because}</reason>\n<answer>{subject}</answer>"
        h = hops[hop]
        rel = T.relation_words(h.relation)
        vague = [self._vague(q, subject)] if hop == 0 and self.imperfect() else []
        queries = vague + [t.format(s=subject) for t in T.QUERY[h.relation]]
        if norm_name(h.entity) != norm_name(subject):  # the results named it otherwise ("DRC"): try its page name too
            queries.append(T.QUERY[h.relation][0].format(s=h.entity))
        if attempts >= len(queries):
            return self._give_up(T.pick(rng, T.REASON_GIVE_UP, rel=rel, s=subject))
        if attempts > 0:
            reason = T.pick(rng, T.REASON_REFINE, rel=rel, s=subject)
        elif hop > 0:
            said = T.pick(rng, T.REASON_HOP, rel=T.relation_words(hops[hop - 1].relation), s=previous, v=subject)
            reason = f"{said} {T.pick(rng, T.REASON_NEXT, rel=rel, s=subject)}"
        elif q.search_type == "text":
            reason = T.pick(rng, T.REASON_NAMED, rel=rel, s=subject)
        else:
            reason = f"{reason} {T.pick(rng, T.REASON_NEXT, rel=rel, s=subject)}".strip()
        return f"<reason>{reason}</reason>\n<text_search>{queries[attempts]}</text_search>"

    def _visual(self, q: Question, rng: random.Random) -> str:
        if q.family == "visual:count":
            noun = q.question.split("How many ", 1)[-1].split("s ", 1)[0]
            reason = T.pick(rng, T.REASON_COUNT, noun=noun, n=q.answer)
        else:
            ref = q.target or "the object"
            reason = T.pick(rng, T.REASON_COLOUR, ref=ref, c=q.answer)
        return f"<reason>{T.REASON_VISUAL} {reason}</reason>\n<answer>{q.answer}</answer>"

    @staticmethod
    def _give_up(reason: str) -> str:
        return f"<reason>{reason}</reason>\n<answer>{GIVE_UP_ANSWER}</answer>"
