"""The offline composite grounder: object finding, expression parsing and resolution, generated composites."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from tools.base import ToolError
from tools.composites import BACKGROUNDS, LAYOUTS, background, iou, jpeg, probes, random_composite
from tools.fixture import LayoutGrounder
from tools.grounding import CompositeGrounder, Reference, parse_reference, resolve
from tools.objects import colour_fractions, find_objects
from world.fixture import compose

JAPAN, FRANCE, GERMANY = (24, 24, 120, 88), (144, 24, 240, 88), (264, 24, 360, 88)


@pytest.fixture(scope="module")
def demo(world) -> Image.Image:
    return compose([world.flag(c) for c in ["Japan", "France", "Germany"]])


@pytest.mark.parametrize(
    ("expression", "box"),
    [
        ("the flag on the left", JAPAN),
        ("the leftmost flag", JAPAN),
        ("the flag in the middle", FRANCE),
        ("the centre one", FRANCE),
        ("the object at the right", GERMANY),
        ("second from the left", FRANCE),
        ("the second flag from the right", FRANCE),
        ("the third flag", GERMANY),
        ("the 1st flag", JAPAN),
        ("the last one", GERMANY),
        ("the second to last flag", FRANCE),
        ("the top-left flag", JAPAN),
        ("the white flag", JAPAN),
        ("the blue flag", FRANCE),
        ("the black, red and gold flag", GERMANY),
        ("the red flag on the right", GERMANY),
        ("the red flag on the left", JAPAN),
        ("the navy logo", FRANCE),
    ],
)
def test_demo_composite(demo, expression, box):
    assert CompositeGrounder().ground(demo, expression) == box


def test_layout_grounder_is_the_composite_grounder():
    assert LayoutGrounder is CompositeGrounder


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("the fifth flag", "only 3 objects"),
        ("the second flag from the right in row nine", None),
        ("the green flag", "no object in the image is green"),
        ("the flag", "cannot tell which of the 3 objects"),
        ("   ", "empty"),
    ],
)
def test_errors(demo, expression, match):
    if match is None:  # parses: "second from the right"
        assert CompositeGrounder().ground(demo, expression) == FRANCE
        return
    with pytest.raises(ToolError, match=match):
        CompositeGrounder().ground(demo, expression)


def test_blank_image_and_single_object(world):
    with pytest.raises(ToolError, match="no object found"):
        CompositeGrounder().ground(Image.new("RGB", (200, 100), "#808080"), "the left one")
    single = compose([world.flag("Italy")])
    assert CompositeGrounder().ground(single, "anything at all") == (24, 24, 120, 88)


def test_sizes_and_vertical_positions(world):
    canvas = Image.new("RGB", (400, 400), "#D9D9D9")
    canvas.paste(world.flag("Sweden").resize((192, 128)), (20, 20))  # big, top-left
    canvas.paste(world.flag("Ukraine").resize((48, 32)), (300, 330))  # small, bottom-right
    canvas.paste(world.flag("Ireland"), (250, 40))  # medium, top-right
    g = CompositeGrounder()
    assert g.ground(canvas, "the largest flag") == (20, 20, 212, 148)
    assert g.ground(canvas, "the small one") == (300, 330, 348, 362)
    assert g.ground(canvas, "the bottom flag") == (300, 330, 348, 362)
    assert g.ground(canvas, "the flag in the top right corner") == (250, 40, 346, 104)
    assert g.ground(canvas, "the orange flag") == (250, 40, 346, 104)
    assert g.ground(canvas, "second from the top") == (20, 20, 212, 148)  # by centre: Ireland 72, Sweden 84
    assert g.ground(canvas, "the first flag") == (20, 20, 212, 148)  # reading order: the top row, left first


def test_parse_reference():
    assert parse_reference("the second red flag from the right") == Reference(
        colours=("red",), ordinal=1, ordinal_axis="right"
    )
    assert parse_reference("top middle").target == (0.5, 0.0)
    assert parse_reference("the middle one").target == (0.5, 0.5)
    assert parse_reference("upper-left").target == (0.0, 0.0)
    assert parse_reference("the last flag").ordinal == -1
    assert parse_reference("the biggest grey logo") == Reference(colours=("grey",), size="large")


def test_colour_names():
    px = np.array(
        [
            [0, 85, 164],
            [255, 255, 255],
            [239, 65, 53],
            [0, 0, 0],
            [255, 206, 0],
            [22, 155, 98],
            [255, 136, 62],
            [128, 128, 128],
            [120, 70, 20],
        ],
        dtype=np.uint8,
    )
    names = [max(f, key=f.get) for f in (colour_fractions(p[None]) for p in px)]
    assert names == ["blue", "white", "red", "black", "yellow", "green", "orange", "grey", "brown"]


@pytest.mark.parametrize("kind", BACKGROUNDS)
def test_objects_found_on_every_background(world, kind):
    rng = random.Random(7)
    flags = [world.flag(c) for c in ["Japan", "Italy", "Sweden"]]
    canvas = background((420, 160), kind, rng, np.array([[255, 255, 255], [188, 0, 45]], np.float32))
    truth = [(20, 40, 116, 104), (160, 30, 256, 94), (300, 60, 396, 124)]
    for flag, box in zip(flags, truth, strict=True):
        canvas.paste(flag, box[:2])
    found = [o.box for o in find_objects(canvas)]
    assert len(found) == 3 and all(iou(f, t) > 0.9 for f, t in zip(found, truth, strict=True))


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_random_composites_are_deterministic(world):
    images = [i.image for i in world.images]
    a = random_composite(images, random.Random(3))
    b = random_composite(images, random.Random(3))
    assert a.boxes == b.boxes and a.image.tobytes() == b.image.tobytes()


def test_generated_composites_meet_the_target(world):
    """A small version of benchmarks/grounding.py: ≥ 95 % of expressions get a box with IoU ≥ 0.5."""
    rng = random.Random(1)
    images = [i.image for i in world.images]
    grounder = CompositeGrounder()
    scores, seen = [], set()
    for n in range(40):
        comp = random_composite(images, rng, layout=LAYOUTS[n % 4], bg=BACKGROUNDS[n % 5])
        seen.add((comp.layout, comp.background))
        image = jpeg(comp.image, 75) if n % 4 == 3 else comp.image
        objects = find_objects(image)
        for probe in probes(comp, "flag"):
            try:
                scores.append(iou(resolve(objects, probe.expression).box, probe.box))
            except ToolError:
                scores.append(0.0)
    assert len(scores) > 150 and len(seen) >= 10
    assert sum(s >= 0.5 for s in scores) / len(scores) >= 0.95
    assert grounder.ground(comp.image, probes(comp, "flag")[0].expression)
