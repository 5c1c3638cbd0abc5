"""CUDA backend of ``margin_ranking_loss``: the fused tiled brute-force kernel in ``_C``."""

from __future__ import annotations

import torch

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.ops.margin_ranking_loss.impl.common import call_cpp_op

# Brute force does n² pair tests; past this the CPU's O(n log n) kernel is the better tool.
MAX_N = 1 << 20


def _limits(n: int, **_: object) -> list[str]:
    if n > MAX_N:
        return [f"does O(n²) work and takes n <= {MAX_N}, got n = {n} (move the inputs to the CPU "
                "for the O(n log n) kernel)"]
    return []


BACKEND = Backend(
    name="cuda",
    run=call_cpp_op,
    devices=("cuda",),
    dtypes=(torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-12)},
    availability=lambda: _native.has_cuda_kernels("margin_ranking_loss"),
    limits=_limits,
)
