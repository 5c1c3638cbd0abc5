"""Triton backend of ``dsm_pool``: the custom op ``pyiqa_fast::dsm_pool_triton`` (``ops.py``)."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend


def dsm_pool(ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> Tensor:
    from pyiqa_fast.ops.dsm_pool import ops  # noqa: F401  (defines the custom op)

    return torch.ops.pyiqa_fast.dsm_pool_triton(ref, dist, pool, ceil_mode)



def _limits(dtype: torch.dtype, device: torch.device, **_: object) -> list[str]:
    if device.type == "cpu" and dtype == torch.bfloat16:
        return ["the Triton interpreter computes bfloat16 wrongly; bfloat16 runs on the GPU only"]
    return []


BACKEND = Backend(
    name="triton",
    run=dsm_pool,
    devices=("cuda", "cpu"),
    dtypes=(torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.uint8: (1e-6, 1e-5), torch.float32: (1e-6, 1e-5), torch.float64: (1e-14, 1e-12)},
    availability=_native.has_triton,
    limits=_limits,
    interpreter_only_on_cpu=True,
)
