"""Shared by the ``cpu`` and ``cuda`` backends: one C++ op, dispatched by the tensors' device."""

from __future__ import annotations

import torch
from torch import Tensor


def call_cpp_op(pred: Tensor, target: Tensor, margin_scale: float, margin: float | None, reduction: str) -> Tensor:
    """The loss from ``pyiqa_fast::margin_ranking_loss`` (its second output is the gradient)."""
    return torch.ops.pyiqa_fast.margin_ranking_loss(pred, target, margin_scale, margin, reduction)[0]
