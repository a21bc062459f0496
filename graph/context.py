"""Per-run knobs of the agent, passed as LangGraph `context=` (never globals, never env vars)."""

from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Limits and switches for one run of the agent graph (defaults follow the paper's RL setting)."""

    max_turns: int = field(default=10, metadata={"help": "Policy turns before the run is stopped (paper: < 10)."})
    max_tool_calls: int = field(default=10, metadata={"help": "Tool calls per run (paper: <= 10)."})
    max_image_searches: int = field(default=1, metadata={"help": "Image searches per run (paper: 1)."})
    max_text_searches: int | None = field(
        default=None, metadata={"help": "Text searches per run; 1 reproduces the single-search ablation."}
    )
    allow_crop: bool = field(default=True, metadata={"help": "Allow cropped image search (ablation switch)."})
    max_response_tokens: int = field(
        default=8192, metadata={"help": "Policy tokens over the whole trajectory (paper: 8192)."}
    )
    max_new_tokens: int = field(default=512, metadata={"help": "Policy tokens per turn."})
    max_format_errors: int | None = field(
        default=None,
        metadata={
            "help": "Consecutive malformed turns before the run is stopped (None: only the turn limit stops it). "
            "A policy that cannot write the protocol rarely recovers, and each of its turns costs a full "
            "max_new_tokens of decoding."
        },
    )
    temperature: float = field(default=0.0, metadata={"help": "Sampling temperature; 0 is greedy."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    prompt: str = field(
        default="agent",
        metadata={"help": "Initial prompt: 'agent' (tools on demand) or 'direct' (the direct-answer baseline)."},
    )
    style: str = field(
        default="paper",
        metadata={"help": "Prompt wording: 'paper' (App. E.1) or 'compact' (small SFT policies; policy.prompts)."},
    )
    text_sentences: int | None = field(
        default=None, metadata={"help": "Sentences in a text-search summary (None: the summariser's, paper 10-12)."}
    )
    image_sentences: int | None = field(
        default=None, metadata={"help": "Sentences in an image-search summary (None: the summariser's, paper 4-5)."}
    )

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_tool_calls", "max_response_tokens", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"RunConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_format_errors is not None and self.max_format_errors < 1:
            raise ValueError(f"RunConfig.max_format_errors must be >= 1 or None, got {self.max_format_errors}")
        if self.max_image_searches < 0:
            raise ValueError(f"RunConfig.max_image_searches must be >= 0, got {self.max_image_searches}")
        if self.max_text_searches is not None and self.max_text_searches < 0:
            raise ValueError(f"RunConfig.max_text_searches must be >= 0 or None, got {self.max_text_searches}")
        if self.prompt not in ("agent", "direct"):
            raise ValueError(f"prompt must be 'agent' or 'direct', got {self.prompt!r}")
        if self.style not in ("paper", "compact"):
            raise ValueError(f"style must be 'paper' or 'compact', got {self.style!r}")
        for name in ("text_sentences", "image_sentences"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"RunConfig.{name} must be >= 1 or None, got {value}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")


DEFAULTS_KEY = "deepmmsearch_defaults"
"""The `configurable` key under which a graph carries its own default `RunConfig` (`graph.build.with_defaults`)."""


def run_config(runtime: Runtime[RunConfig]) -> RunConfig:
    """The run's config; when the caller passed no `context=` (e.g. a bare Studio run), the graph's defaults."""
    ctx = runtime.context
    if ctx is None:
        return _graph_defaults()
    if isinstance(ctx, dict):  # the LangGraph API server passes context as JSON
        return RunConfig(**ctx)
    return ctx


def _graph_defaults() -> RunConfig:
    """The `RunConfig` a graph was bound to with `with_defaults`, else the dataclass defaults."""
    from langgraph.config import get_config

    try:
        configured = get_config().get("configurable", {}).get(DEFAULTS_KEY)
    except RuntimeError:  # called outside a graph run
        configured = None
    return RunConfig(**configured) if configured else RunConfig()
