"""Image-only Qwen2-VL / Qwen2.5-VL processors, for machines without a usable torchvision (every CPU machine here).

transformers 5.x requires the stock `Qwen2_5_VLProcessor`'s `video_processor` to be a `VideoProcessorMixin`, which is
only exported when torchvision imports; torchvision does not import against the CPU torch build
(`../shared/research/stack.md` §1–2). So the stock processor cannot be constructed and `AutoProcessor.from_pretrained`
fails (or silently returns the bare tokenizer). The subclasses here drop the video sub-processor:
`ProcessorMixin.get_attributes()` reads the `__init__` signature, so leaving `video_processor` out of it removes the
attribute. Images, chat templates and token expansion work exactly as in the stock class; video input does not.

`load_processor(path)` is the production loading path: the stock `AutoProcessor` where torchvision is available,
the image-only subclass otherwise (or when `AutoProcessor` gives back something without an image processor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin
from transformers.utils import is_torchvision_available


def _init_image_only(
    self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **_: Any
) -> None:
    self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
    self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
    self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
    self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
    ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` without the video sub-processor (constructible without torchvision)."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any):
        _init_image_only(self, image_processor, tokenizer, chat_template, **kwargs)


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """`Qwen2VLProcessor` without the video sub-processor (constructible without torchvision)."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any):
        _init_image_only(self, image_processor, tokenizer, chat_template, **kwargs)


IMAGE_ONLY_PROCESSORS: dict[str, type[ProcessorMixin]] = {
    "qwen2_5_vl": Qwen2_5_VLImageOnlyProcessor,
    "qwen2_vl": Qwen2VLImageOnlyProcessor,
}
"""Image-only processor class by `config.model_type`."""


def model_type(path: str | Path) -> str | None:
    """`model_type` of the checkpoint directory's `config.json` (None if there is none)."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("model_type")


def load_processor(path: str | Path, *, use_stock: bool | None = None) -> ProcessorMixin:
    """Load the processor of a checkpoint directory.

    Args:
        path: a local checkpoint directory (a real Qwen2.5-VL / Qwen2-VL checkpoint or one from `policy init-tiny`).
        use_stock: force (True) or forbid (False) the stock `AutoProcessor`; default: stock iff torchvision imports.

    Returns:
        A processor with `image_processor`, `tokenizer` and the chat template.

    Raises:
        ValueError: torchvision is unavailable and the model type has no image-only processor here.
    """
    stock = is_torchvision_available() if use_stock is None else use_stock
    kind = model_type(path)
    if stock or kind not in IMAGE_ONLY_PROCESSORS:
        from transformers import AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(str(path))
        except (OSError, ValueError, AttributeError):
            if kind not in IMAGE_ONLY_PROCESSORS:
                raise
        else:
            if getattr(processor, "image_processor", None) is not None:
                return processor
            if kind not in IMAGE_ONLY_PROCESSORS:
                raise ValueError(
                    f"{path}: AutoProcessor gave {type(processor).__name__}, which has no image processor"
                )
    return IMAGE_ONLY_PROCESSORS[kind].from_pretrained(str(path))
