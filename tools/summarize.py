"""Summarisers: search hits → the short text inside `<information>` (paper §1.2, App. E.7).

Both are conditioned on the *original* question of the episode, not on the search query. The paper's budgets are
10–12 sentences for text search and 4–5 for image search, over the top-5 hits.

- `ExtractiveSummarizer` (offline default): picks the hit sentences that best cover the question's content words
  (IDF-weighted, so rare words such as names count more than "country"), preferring earlier hits and lead sentences,
  without near-duplicates. Image hits give one sentence each, in rank order, since the rank is the visual evidence.
- `LLMSummarizer`: the paper's prompts sent to any OpenAI-compatible chat endpoint (`tools.live.ChatEndpoint`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Literal

from tools.base import Hit, ToolError

if TYPE_CHECKING:
    from tools.live import ChatEndpoint

_WORD_RE = re.compile(r"[a-z0-9]+")
_SENT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being this that these those it its "
    "what which who whom whose when where why how do does did has have had can could would should will shall may "
    "might must there here as into about than then so such not no yes i you he she we they them his her their our "
    "your my me us one image picture photo shown show shows this".split()
)
TEXT_SENTENCES = (10, 12)
"""Paper: a text-search summary has 10–12 sentences."""
IMAGE_SENTENCES = (4, 5)
"""Paper: an image-search summary has 4–5 sentences."""


def content_words(text: str) -> list[str]:
    """Lower-cased words without stopwords, with a plural `s` stripped (flags → flag)."""
    out = []
    for w in _WORD_RE.findall(text.lower()):
        if w in STOPWORDS:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def sentences(text: str) -> list[str]:
    """Split text into sentences at `.`, `!` or `?` followed by a capital, digit or quote."""
    return [s.strip() for s in _SENT_RE.split(text) if s.strip()]


class ExtractiveSummarizer:
    """Keep the hit sentences most relevant to the original question; no model needed.

    Args:
        text_sentences: most sentences in a text-search summary (paper: 10–12).
        image_sentences: most sentences in an image-search summary (paper: 4–5).
        max_sentence_chars: longer sentences are cut at a word boundary and end with "…".

    Example:
        >>> hits = [Hit("France", "https://x/France", "France is in Europe. The capital of France is Paris.", 1.0)]
        >>> ExtractiveSummarizer().summarize("What is the capital of France?", hits, "text")
        '[1] France: France is in Europe. The capital of France is Paris.'
    """

    def __init__(self, text_sentences: int = 12, image_sentences: int = 5, max_sentence_chars: int = 400) -> None:
        if text_sentences < 1 or image_sentences < 1:
            raise ValueError(f"sentence limits must be ≥ 1, got {text_sentences} and {image_sentences}")
        self.limits = {"text": text_sentences, "image": image_sentences}
        self.max_sentence_chars = max_sentence_chars

    def summarize(
        self,
        question: str,
        hits: list[Hit],
        kind: Literal["text", "image"],
        query: str = "",
        limit: int | None = None,
    ) -> str:
        """Summarise `hits` as `[rank] title: sentences` groups, best sentences only, in the hits' order.

        The question's content words and the query's count alike: the question alone often lacks the entity the
        agent has just identified ("the country of the flag on the left"), which its query names. `limit`
        overrides the budget for `kind`; the best-scoring sentences are kept, so a short budget loses the least
        relevant ones.
        """
        limit = self.limits[kind] if limit is None else limit
        if limit < 1:
            raise ValueError(f"limit must be >= 1 sentence, got {limit}")
        candidates = [(rank, pos, s) for rank, hit in enumerate(hits) for pos, s in enumerate(sentences(hit.snippet))]
        if not candidates:
            return " ".join(f"[{i + 1}] {h.title}." for i, h in enumerate(hits[:limit]))
        df = Counter(w for _, _, s in candidates for w in set(content_words(s)))
        idf = {w: math.log(1 + len(candidates) / n) for w, n in df.items()}
        asked = set(content_words(question)) | set(content_words(query))

        def score(rank: int, pos: int, s: str) -> float:
            # question coverage dominates; earlier hits and lead sentences break ties
            title_words = set(content_words(hits[rank].title))
            # fsum: exact whatever the set's iteration order, which changes with each process's string hashing —
            # a plain sum breaks ties differently in another process, and a replayed trajectory would drift
            coverage = math.fsum(idf.get(w, 0.0) for w in asked & (set(content_words(s)) | title_words))
            return coverage + 0.3 / (1 + rank) + (0.2 if pos == 0 else 0.0)

        ranked = sorted(candidates, key=lambda c: (-score(*c), c[0], c[1]))
        if kind == "image":  # one sentence per hit, so every one of the top hits is described
            best: dict[int, tuple[int, int, str]] = {}
            for c in ranked:
                best.setdefault(c[0], c)
            ranked = list(best.values())
        chosen: list[tuple[int, int, str]] = []
        for c in ranked:
            if len(chosen) == limit:
                break
            words = set(content_words(c[2]))
            if any(_jaccard(words, set(content_words(o[2]))) > 0.8 for o in chosen):
                continue  # near-duplicate (mirrored pages say the same thing)
            chosen.append(c)
        chosen.sort(key=lambda c: (c[0], c[1]))
        groups: dict[int, list[str]] = {}
        for rank, _, s in chosen:
            groups.setdefault(rank, []).append(self._cut(s))
        return " ".join(f"[{i + 1}] {hits[rank].title}: {' '.join(ss)}" for i, (rank, ss) in enumerate(groups.items()))

    def _cut(self, s: str) -> str:
        if len(s) <= self.max_sentence_chars:
            return s
        return s[: self.max_sentence_chars].rsplit(" ", 1)[0] + "…"


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


TEXT_PROMPT = """You are a research assistant. Below are the top {n} web search results retrieved while answering a \
user's question about an image.

Original question: {original_question}

Search results:
{references_text}

Write a summary of {low}–{high} sentences of the information in these results that helps answer the original \
question. Keep names, numbers, dates and places exactly as the results state them; say when the results disagree; do \
not add facts that are not in the results; if the results do not contain the answer, say so and summarise what they \
do contain. Write plain sentences, no lists and no headings."""
"""Text-search summary prompt, after the paper's App. E.7 (inputs: original question, references text)."""

IMAGE_PROMPT = """The following text comes from the title and description of the retrieved images obtained from a \
Google Lens search of an image.

{formatted_results}

Summarise in {low}–{high} sentences what these results say the image shows: the main visual content, such as faces \
and people, objects, animals, locations, landmarks, events, logos, flags and any text. Mention the entity names the \
results agree on; do not add facts that are not in the results. Write plain sentences, no lists and no headings."""
"""Image-search summary prompt, after the paper's App. E.7 (input: the formatted titles and descriptions)."""


def format_hits(hits: list[Hit], kind: Literal["text", "image"]) -> str:
    """Number the hits as the prompts' `{references_text}` / `{formatted_results}`."""
    if kind == "image":
        return "\n".join(f"{i + 1}. Title: {h.title}\n   Description: {h.snippet}" for i, h in enumerate(hits))
    return "\n\n".join(f"[{i + 1}] {h.title} ({h.url})\n{h.snippet}" for i, h in enumerate(hits))


class LLMSummarizer:
    """The paper's summariser: an LLM (paper: gpt-5-chat-latest) behind an OpenAI-compatible chat endpoint.

    Args:
        endpoint: the chat endpoint (base URL, model, API key, timeouts and retries live there).
        max_tokens: completion budget per summary.
        max_snippet_chars: each hit's text is cut to this many characters before prompting.
    """

    def __init__(self, endpoint: ChatEndpoint, max_tokens: int = 600, max_snippet_chars: int = 3000) -> None:
        self.endpoint = endpoint
        self.max_tokens = max_tokens
        self.max_snippet_chars = max_snippet_chars

    def prompt(self, question: str, hits: list[Hit], kind: Literal["text", "image"], limit: int | None = None) -> str:
        """The user message sent for these hits."""
        cut = [Hit(h.title, h.url, h.snippet[: self.max_snippet_chars], h.score, h.image_id) for h in hits]
        if kind == "image":
            low, high = IMAGE_SENTENCES if limit is None else (max(1, limit - 1), limit)
            return IMAGE_PROMPT.format(formatted_results=format_hits(cut, "image"), low=low, high=high)
        low, high = TEXT_SENTENCES if limit is None else (max(1, limit - 1), limit)
        return TEXT_PROMPT.format(
            n=len(hits), original_question=question, references_text=format_hits(cut, "text"), low=low, high=high
        )

    def summarize(
        self,
        question: str,
        hits: list[Hit],
        kind: Literal["text", "image"],
        query: str = "",
        limit: int | None = None,
    ) -> str:
        """Summarise `hits` with the LLM (the paper's prompt: conditioned on the question; `query` is not shown).

        Raises:
            ToolError: the endpoint fails or returns nothing.
        """
        if not hits:
            raise ToolError("there are no results to summarise")
        text = self.endpoint.complete(
            [{"role": "user", "content": self.prompt(question, hits, kind, limit)}], self.max_tokens
        )
        if not text.strip():
            raise ToolError("the summariser returned an empty summary")
        return text.strip()

    def __repr__(self) -> str:
        return f"LLMSummarizer({self.endpoint!r})"
