"""Triton backend of ``margin_ranking_loss``: tiled brute force as the custom op
``pyiqa_fast::margin_ranking_loss_triton`` (registered in ``ops.py``)."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend

MAX_N = 1 << 20  # O(n²) work, as for the CUDA kernel


def margin_ranking_loss(
    pred: Tensor, target: Tensor, margin_scale: float, margin: float | None, reduction: str
) -> Tensor:
    from pyiqa_fast.ops.margin_ranking_loss import ops  # noqa: F401  (defines the custom op)

    return torch.ops.pyiqa_fast.margin_ranking_loss_triton(pred, target, margin_scale, margin, reduction)[0]



def _limits(n: int, dtype: torch.dtype, device: torch.device, **_: object) -> list[str]:
    reasons = []
    if n > MAX_N:
        reasons.append(f"does O(n²) work and takes n <= {MAX_N}, got n = {n}")
    if device.type == "cpu" and dtype == torch.bfloat16:
        reasons.append("the Triton interpreter computes bfloat16 wrongly; bfloat16 runs on the GPU only")
    return reasons


BACKEND = Backend(
    name="triton",
    run=margin_ranking_loss,
    devices=("cuda", "cpu"),
    dtypes=(torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-12)},
    availability=_native.has_triton,
    limits=_limits,
    interpreter_only_on_cpu=True,
)
