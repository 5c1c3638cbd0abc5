"""CPU backend of ``margin_ranking_loss``: the exact O(n log n) C++ kernel in ``_C``."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend


def margin_ranking_loss(
    pred: Tensor, target: Tensor, margin_scale: float, margin: float | None, reduction: str
) -> Tensor:
    return torch.ops.pyiqa_fast.margin_ranking_loss(pred, target, margin_scale, margin, reduction)[0]


BACKEND = Backend(
    name="cpu",
    run=margin_ranking_loss,
    devices=("cpu",),
    dtypes=(torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float32: (1e-6, 1e-5), torch.float64: (1e-14, 1e-12)},
    availability=lambda: _native.has_cpu_kernels("margin_ranking_loss"),
)
