"""Grounders: a referring expression on an image → one pixel box (the crop tool's first half).

- `CompositeGrounder` (the offline default): finds the objects on a composite (`tools.objects`) and resolves the
  expression against them: positions ("left", "top-right", "the middle one"), ordinals ("second from the left",
  "the third flag", "the last one"), colours ("the red flag", "the blue and yellow one"), sizes ("the largest",
  "the small one") and their combinations ("the red flag on the right"). Words it does not know (object kinds such
  as "flag", "logo", "photo") are ignored, so "the flag on the left" and "the logo on the left" ground alike.
- `GroundingDinoGrounder`: Grounding DINO through transformers (`AutoModelForZeroShotObjectDetection`), from a local
  weights folder; for real photographs. torch and transformers are imported only when it is built.

Explicit pixel boxes never reach a grounder: the crop node and the search server clamp and validate them with
`tools.images.clamp_box`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from tools.base import Box, ToolError
from tools.images import ImageError, clamp_box
from tools.objects import COLOUR_NAMES, Obj, find_objects

if TYPE_CHECKING:
    from transformers import GroundingDinoProcessor, PreTrainedModel

log = logging.getLogger(__name__)

_WORD_RE = re.compile(r"[a-z0-9]+")
ORDINALS = {
    "first": 0,
    "second": 1,
    "third": 2,
    "fourth": 3,
    "fifth": 4,
    "sixth": 5,
    "seventh": 6,
    "eighth": 7,
    "ninth": 8,
    "tenth": 9,
    **{f"{n}{s}": n - 1 for n, s in [(1, "st"), (2, "nd"), (3, "rd")] + [(n, "th") for n in range(4, 11)]},
}
_COLOUR_WORDS = {name: name for name in COLOUR_NAMES} | {
    "gray": "grey",
    "silver": "grey",
    "gold": "yellow",
    "golden": "yellow",
    "navy": "blue",
    "azure": "blue",
    "crimson": "red",
    "scarlet": "red",
    "maroon": "red",
    "violet": "purple",
    "magenta": "pink",
    "teal": "cyan",
    "turquoise": "cyan",
}
_SIDES = {
    "left": ("left", "leftmost"),
    "right": ("right", "rightmost"),
    "top": ("top", "topmost", "upper", "uppermost", "above"),
    "bottom": ("bottom", "bottommost", "lower", "lowest", "lowermost", "below"),
}
_SIDE_OF = {word: side for side, words in _SIDES.items() for word in words}
"""Position word → the side of the picture it points to."""
_TARGET = {"left": ("x", 0.0), "right": ("x", 1.0), "top": ("y", 0.0), "bottom": ("y", 1.0)}
_MIDDLE_WORDS = {"middle", "centre", "center", "central"}
_LARGE_WORDS = {"largest", "biggest", "large", "big", "larger", "bigger", "huge"}
_SMALL_WORDS = {"smallest", "small", "smaller", "tiny", "little", "tiniest"}
_LAST_WORDS = {"last", "final"}


@dataclass(frozen=True)
class Reference:
    """What a referring expression asks for, parsed from its words."""

    colours: tuple[str, ...] = ()
    """Colour names the object must show (`tools.objects.COLOUR_NAMES`)."""
    size: str | None = None
    """"large" or "small"."""
    ordinal: int | None = None
    """0-based position in an order; -1 for "last"."""
    ordinal_axis: str | None = None
    """The order the ordinal counts in: "left", "right", "top", "bottom", or None for reading order."""
    target: tuple[float | None, float | None] = (None, None)
    """Position asked for, on each axis, as a share of the objects' extent: 0 = left/top, 0.5 = middle, 1 = right/
    bottom; None = not constrained."""


def parse_reference(expression: str) -> Reference:
    """Parse a referring expression into the constraints `CompositeGrounder` resolves.

    Example:
        >>> parse_reference("the second red flag from the right")
        Reference(colours=('red',), size=None, ordinal=1, ordinal_axis='right', target=(None, None))
    """
    ws = _WORD_RE.findall(expression.lower().replace("centre", "center"))
    colours = tuple(dict.fromkeys(_COLOUR_WORDS[w] for w in ws if w in _COLOUR_WORDS))
    size = "large" if any(w in _LARGE_WORDS for w in ws) else "small" if any(w in _SMALL_WORDS for w in ws) else None
    ordinal = next((ORDINALS[w] for w in ws if w in ORDINALS), None)
    if any(w in _LAST_WORDS for w in ws):
        # "second to last" / "second last" count from the other end
        ordinal = -1 - ordinal if ordinal is not None else -1
    sides = [_SIDE_OF[w] for w in ws if w in _SIDE_OF]
    if ordinal is not None:  # "second from the right": the first side word says where counting starts
        return Reference(colours=colours, size=size, ordinal=ordinal, ordinal_axis=sides[0] if sides else None)
    tx = next((_TARGET[s][1] for s in sides if _TARGET[s][0] == "x"), None)
    ty = next((_TARGET[s][1] for s in sides if _TARGET[s][0] == "y"), None)
    if any(w in _MIDDLE_WORDS for w in ws):  # "middle" fills the axes no other word constrains
        tx = 0.5 if tx is None else tx
        ty = 0.5 if ty is None else ty
    return Reference(colours=colours, size=size, target=(tx, ty))


def _by_colour(objects: list[Obj], colours: tuple[str, ...], expression: str) -> list[Obj]:
    """Objects showing all `colours`, strongest first; those showing them at least half as strongly are kept."""

    def strength(o: Obj) -> float:
        return min(o.colours[c] for c in colours)

    best = max(strength(o) for o in objects)
    if best < 0.04:
        raise ToolError(f"no object in the image is {' and '.join(colours)}, so {expression!r} matches nothing")
    return sorted((o for o in objects if strength(o) >= 0.5 * best), key=lambda o: -strength(o))


def _by_position(objects: list[Obj], target: tuple[float | None, float | None]) -> Obj:
    """The object whose centre is nearest the target, on one scale for both axes (so a row's jitter is small)."""
    xs = [o.centre[0] for o in objects]
    ys = [o.centre[1] for o in objects]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    scale = max(x1 - x0, y1 - y0, 1.0)
    tx, ty = target

    def distance(o: Obj) -> float:
        cx, cy = o.centre
        dx = 0.0 if tx is None else (cx - (x0 + tx * (x1 - x0))) / scale
        dy = 0.0 if ty is None else (cy - (y0 + ty * (y1 - y0))) / scale
        return dx * dx + dy * dy

    return min(objects, key=distance)


def _by_ordinal(objects: list[Obj], ordinal: int, axis: str | None, expression: str) -> Obj:
    key = {
        "left": lambda o: o.centre[0],
        "right": lambda o: -o.centre[0],
        "top": lambda o: o.centre[1],
        "bottom": lambda o: -o.centre[1],
    }
    order = objects if axis is None else sorted(objects, key=key[axis])  # objects arrive in reading order
    if ordinal >= len(order) or -ordinal > len(order):
        raise ToolError(f"{expression!r}: the image has only {len(order)} objects")
    return order[ordinal]


def resolve(objects: list[Obj], expression: str) -> Obj:
    """Pick the object `expression` refers to among `objects` (in reading order).

    Colours filter first, then an ordinal, a position or a size word picks one; a colour alone picks the most
    colourful match.

    Raises:
        ToolError: nothing matches, an ordinal is out of range, or the expression names nothing this grounder reads.
    """
    if not objects:
        raise ToolError(f"no object found in the image, so {expression!r} matches nothing")
    ref = parse_reference(expression)
    candidates = _by_colour(objects, ref.colours, expression) if ref.colours else objects
    if ref.ordinal is not None:
        kept = [o for o in objects if o in candidates]  # back in reading order
        return _by_ordinal(kept, ref.ordinal, ref.ordinal_axis, expression)
    if ref.target != (None, None):
        return _by_position(candidates, ref.target)
    if ref.size is not None:
        return (max if ref.size == "large" else min)(candidates, key=lambda o: o.area)
    if ref.colours or len(objects) == 1:
        return candidates[0]
    raise ToolError(
        f"cannot tell which of the {len(objects)} objects {expression!r} refers to; "
        "name its position (left, top-right, second from the left), colour or size"
    )


class CompositeGrounder:
    """The offline grounder for composites: objects by background subtraction, the expression by rules.

    Example:
        >>> from world.fixture import build_fixture_world, compose
        >>> w = build_fixture_world()
        >>> CompositeGrounder().ground(compose([w.flag("Japan"), w.flag("France")]), "the flag on the right")
        (144, 24, 240, 88)
    """

    def __init__(self, min_side: int = 8) -> None:
        self.min_side = min_side

    def ground(self, image: Image.Image, expression: str) -> Box:
        """Return the box of the object `expression` refers to; raise `ToolError` when it matches none."""
        if not expression.strip():
            raise ToolError("the referring expression is empty")
        needs_colours = bool(parse_reference(expression).colours)
        return resolve(find_objects(image, min_side=self.min_side, colours=needs_colours), expression).box


class GroundingDinoGrounder:
    """Grounding DINO (zero-shot detection by text) from a local weights folder; picks the highest-scoring box.

    The folder holds what `save_pretrained` writes for the model and its processor (e.g. a copy of
    `IDEA-Research/grounding-dino-tiny`). Without torchvision, transformers 5.23 builds the processor with
    `GroundingDinoImageProcessorPil` (PIL resizing, logged as a fallback warning); detections are the same.

    Args:
        weights: the local folder; nothing is downloaded.
        box_threshold: smallest box score kept (the original repo's default is 0.35; transformers' 0.25).
        text_threshold: smallest token score for a box's phrase label (labels are logged, not used to pick).
        device: torch device string.
    """

    def __init__(
        self, weights: str | Path, box_threshold: float = 0.35, text_threshold: float = 0.25, device: str = "cpu"
    ) -> None:
        for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} must lie in [0, 1]")
        if not Path(weights, "config.json").is_file():
            raise ValueError(f"{weights}: no config.json; pass a folder written by save_pretrained")
        import torch
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        self._torch = torch
        self.processor: GroundingDinoProcessor = AutoProcessor.from_pretrained(weights)
        self.model: PreTrainedModel = AutoModelForZeroShotObjectDetection.from_pretrained(weights).to(device).eval()
        self.device = device
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold

    def ground(self, image: Image.Image, expression: str) -> Box:
        """Return the highest-scoring box for `expression`; raise `ToolError` when no box passes the threshold."""
        text = expression.strip().lower()
        if not text:
            raise ToolError("the referring expression is empty")
        text = text if text.endswith(".") else text + "."  # Grounding DINO separates phrases with periods
        inputs = self.processor(images=image.convert("RGB"), text=text, return_tensors="pt").to(self.device)
        with self._torch.inference_mode():
            outputs = self.model(**inputs)
        result = self.processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[(image.height, image.width)],
        )[0]
        if len(result["scores"]) == 0:
            raise ToolError(f"nothing in the image matches {expression!r} (no box scored above {self.box_threshold})")
        best = int(result["scores"].argmax())
        x0, y0, x1, y1 = (round(float(v)) for v in result["boxes"][best])
        log.debug("grounded %r: score %.3f label %r", expression, float(result["scores"][best]), result["text_labels"])
        try:
            return clamp_box((x0, y0, x1, y1), image.width, image.height)
        except ImageError as exc:
            raise ToolError(f"the box found for {expression!r} is unusable: {exc}") from None
