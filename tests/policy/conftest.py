"""Fixtures for the model-backend tests: the tiny "test"-size Qwen2.5-VL, built once per session, offline."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `policy init-tiny --size test` directory (built in well under a second)."""
    pytest.importorskip("torch")
    from policy.tiny import init_tiny

    out = tmp_path_factory.mktemp("tiny-test")
    init_tiny(out, size="test")
    return out


@pytest.fixture(scope="session")
def tiny_policy(tiny_dir: Path):
    """`HFPolicy` loaded from `tiny_dir` through the production path (fp32, CPU)."""
    from policy.hf import HFPolicy

    return HFPolicy.from_pretrained(tiny_dir, dtype="fp32", device="cpu")
