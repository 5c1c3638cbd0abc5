"""CUDA backend of ``dsm_pool``: one block per strip of cells, in ``_C``."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend

MAX_POOL = 2048  # csrc/kernels/dsm_pool/dsm_pool.h kCudaMaxPool: one cell's columns fit in shared memory


def dsm_pool(ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> Tensor:
    return torch.ops.pyiqa_fast.dsm_pool(ref, dist, pool, ceil_mode)


def _limits(pool: int, **_: object) -> list[str]:
    if pool > MAX_POOL:
        return [f"takes pool <= {MAX_POOL}, got pool = {pool}"]
    return []


BACKEND = Backend(
    name="cuda",
    run=dsm_pool,
    devices=("cuda",),
    dtypes=(torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.uint8: (1e-6, 1e-5), torch.float32: (1e-6, 1e-5), torch.float64: (1e-14, 1e-12)},
    availability=lambda: _native.has_cuda_kernels("dsm_pool"),
    limits=_limits,
)
