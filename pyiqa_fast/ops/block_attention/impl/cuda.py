"""CUDA backend of ``block_attention``: tile-skipping flash-style kernels in ``_C``."""

from __future__ import annotations

import torch

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.ops.block_attention.impl.common import call_cpp_op

HEAD_DIMS = (32, 64, 128)  # the kernels are instantiated per head_dim


def _limits(head_dim: int, **_: object) -> list[str]:
    if head_dim not in HEAD_DIMS:
        return [f"supports head_dim in {HEAD_DIMS}, got {head_dim}"]
    return []


BACKEND = Backend(
    name="cuda",
    run=call_cpp_op,
    devices=("cuda",),
    dtypes=(torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-12)},
    availability=lambda: _native.has_cuda_kernels("block_attention"),
    limits=_limits,
)
