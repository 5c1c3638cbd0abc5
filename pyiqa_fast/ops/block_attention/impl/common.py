"""Shared by the compiled backends: the C++ op (``cpu``, ``cuda``, dispatched by the tensors'
device) and the int32 limit on group ids (``cpu``, ``cuda``, ``triton``)."""

from __future__ import annotations

import torch
from torch import Tensor


def call_cpp_op(q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float) -> Tensor:
    """The output of ``pyiqa_fast::block_attention`` (its second output is the log-sum-exp)."""
    return torch.ops.pyiqa_fast.block_attention(q, k, v, q_groups, k_groups, scale)[0]


INT32_MAX = torch.iinfo(torch.int32).max


def int32_id_limit(group_id_max: int | None = None, **_: object) -> list[str]:
    """The compiled kernels compare group ids as int32. ``group_id_max`` is the largest id of a
    host call (None on a GPU, where finding it would synchronise: the kernels assert instead)."""
    if group_id_max is not None and group_id_max > INT32_MAX:
        return [f"compares group ids as int32, got id {group_id_max} >= 2^31 (only equality and sign matter: "
                "renumber the groups, or use backend='reference')"]
    return []
