"""Tool records, backend interfaces and the tools the agent calls (crop, image search, text search).

Concrete backends live in their own modules (`tools.fixture` for the in-memory fixture world); importing this
package imports none of them.
"""

from tools.base import (
    Box,
    Grounder,
    Hit,
    ImageRef,
    ImageSearchBackend,
    Summarizer,
    TextSearchBackend,
    ToolError,
    ToolResult,
    Toolset,
)

__all__ = [
    "Box",
    "Grounder",
    "Hit",
    "ImageRef",
    "ImageSearchBackend",
    "Summarizer",
    "TextSearchBackend",
    "ToolError",
    "ToolResult",
    "Toolset",
]
