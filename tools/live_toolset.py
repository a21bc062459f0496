"""The live web as the agent's world: Tavily text search and a Lens-style image search API, behind a cache.

What `--world live` builds (`tools.defaults.default_toolset`). Grounding and summarising stay local (the layout
grounder, the extractive summariser); `tools.summarize.LLMSummarizer` swaps in the paper's LLM summariser from
Python. Every search goes through one SQLite record/replay cache, so a rerun replays instead of paying again.
"""

from __future__ import annotations

from pathlib import Path

from tools.base import Toolset
from tools.cache import CachedImageSearch, CachedTextSearch, SearchCache
from tools.fixture import ExtractiveSummarizer, LayoutGrounder
from tools.live import LensImageSearch, TavilyTextSearch


def live_toolset(
    *,
    tavily_key: str,
    lens_base_url: str,
    lens_key: str | None = None,
    cache: str | Path | None = None,
    tavily_base_url: str | None = None,
    crop_dir: str | None = None,
) -> Toolset:
    """Live text and image search (cached at `cache`; None: uncached) with the local grounder and summariser.

    Raises:
        ValueError: no Tavily key or no Lens-style endpoint.
    """
    if not tavily_key or not lens_base_url:
        raise ValueError("the live world needs a Tavily API key and a Lens-style image search endpoint")
    text = TavilyTextSearch(tavily_key, api_base_url=tavily_base_url)
    image = LensImageSearch(lens_base_url, api_key=lens_key)
    store = SearchCache(cache, mode="record") if cache is not None else None
    return Toolset(
        text_search=CachedTextSearch(text, store) if store is not None else text,
        image_search=CachedImageSearch(image, store) if store is not None else image,
        grounder=LayoutGrounder(),
        summarizer=ExtractiveSummarizer(),
        crop_dir=crop_dir,
    )
