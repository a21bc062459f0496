"""A scripted policy: plays back given turns, for tests, demos and as the base of the programmatic teacher.

Each script item is either a fixed string or a function of the transcript so far (so a script can read the last
`<information>` block and act on it). It also tokenises with a real, tiny byte-level chat template
(`ByteChatTemplate`), so trajectories it drives carry a complete token-level trace with the same invariants as a
model backend's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from policy.base import ChatMessage, Generation, GenerationRequest

ScriptItem = str | Callable[[list[ChatMessage]], str]


class ScriptExhaustedError(RuntimeError):
    """The graph asked for more turns than the script has: the test or demo script is wrong."""


@dataclass(frozen=True)
class ByteChatTemplate:
    """A minimal chat template over UTF-8 bytes (ids 0–255); images render as the text `<image>`."""

    def render(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """Render messages as `<|role|>\\n…<|end|>\\n` blocks, then `<|assistant|>\\n` for generation."""
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
    """Plays back `script` turn by turn; raises `ScriptExhaustedError` if asked for more."""

    def __init__(self, script: Sequence[ScriptItem]) -> None:
        self.script = list(script)
        self.calls = 0
        self.template = ByteChatTemplate()

    def generate(self, request: GenerationRequest) -> Generation:
        """Return the next scripted turn with its byte-level token trace."""
        if self.calls >= len(self.script):
            raise ScriptExhaustedError(f"script has {len(self.script)} turns; turn {self.calls + 1} was requested")
        item = self.script[self.calls]
        self.calls += 1
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
