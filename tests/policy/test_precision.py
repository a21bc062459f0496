"""`bf16: auto` resolves by the hardware; an explicit choice is kept; a bad value is refused."""

from __future__ import annotations

import logging

import pytest

from policy.precision import cpu_has_native_bf16, resolve_bf16


def test_auto_on_cpu_follows_native_bf16_support():
    assert resolve_bf16("auto", use_cpu=True) is cpu_has_native_bf16()


def test_auto_on_gpu_follows_cuda_support():
    import torch

    expected = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    assert resolve_bf16("auto", use_cpu=False) is expected


def test_explicit_choice_is_kept_and_warned_about_where_slow(caplog: pytest.LogCaptureFixture):
    assert resolve_bf16(False, use_cpu=True) is False
    with caplog.at_level(logging.WARNING, logger="policy.precision"):
        assert resolve_bf16(True, use_cpu=True) is True
    warned = any("20-40x slower" in r.getMessage() for r in caplog.records)
    assert warned is (not cpu_has_native_bf16())


@pytest.mark.parametrize("bad", ["yes", "bf16", 1, None])
def test_bad_setting_is_refused(bad):
    with pytest.raises(ValueError, match="bf16 must be"):
        resolve_bf16(bad, use_cpu=True)  # type: ignore[arg-type]
