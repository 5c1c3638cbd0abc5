"""Shared by the ``cpu`` and ``cuda`` backends: one C++ op, dispatched by the tensors' device."""

from __future__ import annotations

import torch
from torch import Tensor


def call_cpp_op(q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float) -> Tensor:
    """The output of ``pyiqa_fast::block_attention`` (its second output is the log-sum-exp)."""
    return torch.ops.pyiqa_fast.block_attention(q, k, v, q_groups, k_groups, scale)[0]
