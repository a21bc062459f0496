"""Which training precision a machine can run fast: recipes say `bf16: auto`, this resolves it.

On CPU, the training jobs run bf16 as autocast over fp32 weights. That is about 2x faster where the CPU computes
bf16 natively (AVX512-BF16 or AMX), and 20-40x *slower* where it does not: measured on a 2-core AVX2 machine (AMD
EPYC), a 2048x2048 bf16 matmul ran at 1.4 GFLOPS against 59 in fp32, and a Linear layer's forward + backward under
autocast at 4 GFLOPS against 84. A recipe that hard-codes `bf16: true` therefore turns a 15-minute CPU run into
hours on such a machine; `auto` picks bf16 only where it pays.
"""

from __future__ import annotations

import logging
from typing import Literal

Bf16Setting = bool | Literal["auto"]
"""A recipe's `bf16`: True, False, or "auto" (bf16 where the hardware runs it natively)."""

log = logging.getLogger(__name__)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), as torch's CPU kernels see it."""
    import torch

    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve_bf16(setting: Bf16Setting, use_cpu: bool) -> bool:
    """The effective bf16 switch of a training run.

    Args:
        setting: the recipe's value. "auto": on GPU, bf16 where CUDA supports it; on CPU, only with native bf16.
            True on a CPU without native bf16 is kept (the user asked for it) but logged as a warning.
        use_cpu: whether the run trains on the CPU.

    Raises:
        ValueError: a setting that is neither a bool nor "auto".
    """
    if setting == "auto":
        if use_cpu:
            return cpu_has_native_bf16()
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if not isinstance(setting, bool):
        raise ValueError(f"bf16 must be true, false or 'auto', got {setting!r}")
    if setting and use_cpu and not cpu_has_native_bf16():
        log.warning(
            "bf16 on a CPU without native bf16 (no AVX512-BF16/AMX): autocast runs 20-40x slower than fp32 here; "
            "use bf16: auto or false"
        )
    return setting
