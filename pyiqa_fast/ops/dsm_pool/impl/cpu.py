"""CPU backend of ``dsm_pool``: the one-pass strip kernel in ``_C``."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend


def dsm_pool(ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> Tensor:
    return torch.ops.pyiqa_fast.dsm_pool(ref, dist, pool, ceil_mode)


BACKEND = Backend(
    name="cpu",
    run=dsm_pool,
    devices=("cpu",),
    dtypes=(torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.uint8: (1e-6, 1e-5), torch.float32: (1e-6, 1e-5), torch.float64: (1e-14, 1e-12)},
    availability=lambda: _native.has_cpu_kernels("dsm_pool"),
)
