"""Reference backend of ``margin_ranking_loss``: the specification, in plain PyTorch.

DP-IQA eq. 10 (METHODS.md §5.2), vectorised over the strict upper triangle of pairs exactly as
the published double loop evaluates each pair (``RomGai/DP-IQA`` ``magrin.py``):
``clamp(-sign(y_i - y_j) * (p_i - p_j) + margin, min=0)`` summed over i < j. Autograd-native,
float64-capable, any device; O(n²) time and memory, so it is the oracle, not the fast path.

A hinge argument of exactly 0 counts as active (gradient 1), as ``torch.clamp`` differentiated
when DP-IQA was published. torch changed that subgradient to 0 in 2026 (pytorch/pytorch#184574;
torch 2.14 has it), so the hinge is written as ``where(arg < 0, 0, arg)`` to keep the published
semantics on every torch version (and to propagate NaN, as clamp does).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast._backends import Backend

_ALL_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def margin_ranking_loss(
    pred: Tensor,
    target: Tensor,
    margin_scale: float = 0.25,
    margin: float | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Pairwise margin ranking loss of DP-IQA, computed pair by pair.

    Args:
        pred: Tensor[n] of predicted scores, floating point.
        target: Tensor[n] of target scores, same dtype and device as ``pred``.
        margin_scale: λ in margin = λ·std(target) (unbiased std, no gradient).
        margin: A fixed margin replacing λ·std(target).
        reduction: ``"mean"`` divides by the n(n−1)/2 pairs, ``"sum"`` does not.

    Returns:
        Tensor[] of ``pred``'s dtype.
    """
    n = pred.shape[0]
    if margin is None:
        m = (margin_scale * target.std()).detach()  # torch.std is unbiased, in target's dtype
    else:
        m = torch.tensor(margin, dtype=pred.dtype, device=pred.device)
    pred_diff = pred[:, None] - pred[None, :]  # p_i − p_j
    target_sign = torch.sign(target[:, None] - target[None, :])
    argument = -target_sign * pred_diff + m
    hinge = torch.where(argument < 0, torch.zeros_like(argument), argument)  # 0 counts as active
    total = hinge.triu(diagonal=1).sum()  # pairs i < j
    return total / (n * (n - 1) / 2) if reduction == "mean" else total


# Forward + backward keep ~8 n×n tensors alive (measured by bench/: 7.75 at n = 1024).
MAX_PAIR_BYTES = 64 << 30


def _limits(n: int, dtype: torch.dtype, **_: object) -> list[str]:
    needed = 8 * n * n * dtype.itemsize
    if needed > MAX_PAIR_BYTES:
        return [f"builds n×n pair matrices, ~{needed / 2**30:.0f} GiB at n = {n} (limit "
                f"{MAX_PAIR_BYTES >> 30} GiB); the cpu backend needs O(n)"]
    return []


BACKEND = Backend(
    name="reference",
    run=margin_ranking_loss,
    devices=("cpu", "cuda"),
    dtypes=_ALL_FLOATS,
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float64: (0.0, 0.0)},
    availability=lambda: (True, ""),
    limits=_limits,
)
