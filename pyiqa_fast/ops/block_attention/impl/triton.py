"""Triton backend of ``block_attention``: flash-style kernels over the group-sorted order, as the
custom ops ``pyiqa_fast::block_attention_triton`` (+ backward) registered in ``ops.py``."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.ops.block_attention.impl.common import int32_id_limit

MAX_HEAD_DIM = 256  # one tile holds a whole head


def block_attention(q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float) -> Tensor:
    from pyiqa_fast.ops.block_attention import ops  # noqa: F401  (defines the custom ops)

    return torch.ops.pyiqa_fast.block_attention_triton(q, k, v, q_groups, k_groups, scale)[0]



def _limits(head_dim: int, dtype: torch.dtype, device: torch.device, group_id_max: int | None = None, **_: object
            ) -> list[str]:
    reasons = int32_id_limit(group_id_max)
    if head_dim > MAX_HEAD_DIM:
        reasons.append(f"supports head_dim <= {MAX_HEAD_DIM}, got {head_dim}")
    if device.type == "cpu" and dtype == torch.bfloat16:
        reasons.append("the Triton interpreter computes bfloat16 wrongly; bfloat16 runs on the GPU only")
    return reasons


BACKEND = Backend(
    name="triton",
    run=block_attention,
    devices=("cuda", "cpu"),
    dtypes=(torch.float16, torch.bfloat16, torch.float32),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 1e-5)},
    availability=_native.has_triton,
    limits=_limits,
    interpreter_only_on_cpu=True,
)
