"""CPU backend of ``block_attention``: the group-bucketed C++ kernel in ``_C``."""

from __future__ import annotations

import torch

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.ops.block_attention.impl.common import call_cpp_op, int32_id_limit

BACKEND = Backend(
    name="cpu",
    run=call_cpp_op,
    devices=("cpu",),
    dtypes=(torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-12)},
    availability=lambda: _native.has_cpu_kernels("block_attention"),
    limits=int32_id_limit,
)
