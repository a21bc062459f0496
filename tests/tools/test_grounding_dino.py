"""GroundingDinoGrounder on a tiny random Grounding DINO built offline (≈0.8 M parameters, a few ms per call).

The model and its processor are saved with `save_pretrained` and loaded back through the production path
(`AutoProcessor` + `AutoModelForZeroShotObjectDetection`). Without torchvision the processor's image half is
`GroundingDinoImageProcessorPil`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from tools.base import ToolError

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_dino(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessorPil,
        GroundingDinoProcessor,
        SwinConfig,
    )

    out = tmp_path_factory.mktemp("tiny-grounding-dino")
    vocab = out / "vocab.txt"
    vocab.write_text("\n".join("[PAD] [UNK] [CLS] [SEP] [MASK] . the a red blue flag logo on left right of".split()))
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    torch.manual_seed(0)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            embed_dim=24,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=4,
            image_size=64,
            out_features=["stage2", "stage3", "stage4"],
        ),
        text_config=BertConfig(
            vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # decoder_layers=1 breaks weight tying in transformers 5.23
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_queries=10,
        num_feature_levels=3,
        encoder_n_points=2,
        decoder_n_points=2,
        use_timm_backbone=False,
    )
    GroundingDinoForObjectDetection(config).eval().save_pretrained(out)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 128})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return out


@pytest.fixture
def image() -> Image.Image:
    canvas = Image.new("RGB", (200, 120), "#D9D9D9")
    canvas.paste(Image.new("RGB", (60, 40), "red"), (20, 40))
    return canvas


def test_loads_through_auto_classes_and_returns_a_box(tiny_dino, image):
    from tools.grounding import GroundingDinoGrounder

    g = GroundingDinoGrounder(tiny_dino, box_threshold=0.0, text_threshold=0.0)
    assert type(g.model).__name__ == "GroundingDinoForObjectDetection"
    assert type(g.processor.image_processor).__name__ == "GroundingDinoImageProcessorPil"
    x0, y0, x1, y1 = g.ground(image, "the red flag")
    assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
    assert g.ground(image, "the red flag") == (x0, y0, x1, y1)  # deterministic


def test_nothing_above_threshold_is_tool_error(tiny_dino, image):
    from tools.grounding import GroundingDinoGrounder

    with pytest.raises(ToolError, match="no box scored above 1.0"):
        GroundingDinoGrounder(tiny_dino, box_threshold=1.0).ground(image, "the red flag")


def test_bad_arguments(tiny_dino, tmp_path, image):
    from tools.grounding import GroundingDinoGrounder

    with pytest.raises(ValueError, match="box_threshold=1.5"):
        GroundingDinoGrounder(tiny_dino, box_threshold=1.5)
    with pytest.raises(ValueError, match="no config.json"):
        GroundingDinoGrounder(tmp_path)
    with pytest.raises(ToolError, match="empty"):
        GroundingDinoGrounder(tiny_dino, box_threshold=0.0).ground(image, "  ")


def test_importing_tools_grounding_does_not_load_torch():
    import subprocess

    code = "import sys, tools.grounding; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
