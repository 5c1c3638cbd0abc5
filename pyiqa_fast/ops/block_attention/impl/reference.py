"""Reference backend of ``block_attention``: the specification, in plain PyTorch.

The general mask rule of SHDIQA's Block-wise Aggregation (METHODS.md §3.3, a reconstruction):
query i may attend key j iff ``q_groups[i] < 0`` or ``k_groups[j] < 0`` or
``q_groups[i] == k_groups[j]``. Written with the dense (Nq, Nk) mask for clarity: this is the
oracle, not the fast path. A query with no allowed key returns zeros (and zero gradients), never
NaN. Autograd-native, float64-capable, any device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast._backends import Backend

_ALL_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def allowed_pairs(q_groups: Tensor, k_groups: Tensor) -> Tensor:
    """Boolean mask (…, Nq, Nk) of the pairs the rule allows; groups (Nq,)/(Nk,) or (B, N)."""
    gq = q_groups[..., :, None]
    gk = k_groups[..., None, :]
    return (gq < 0) | (gk < 0) | (gq == gk)


def block_attention_with_lse(
    q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float
) -> tuple[Tensor, Tensor]:
    """Masked attention and its log-sum-exp (−inf on rows without an allowed key).

    Args:
        q: Tensor[B, H, Nq, d]. k, v: Tensor[B, H, Nk, d], q's dtype and device.
        q_groups: Tensor[Nq] or Tensor[B, Nq] of integer group ids (negative = global).
        k_groups: Tensor[Nk] or Tensor[B, Nk].
        scale: Multiplies q·k before the softmax.

    Returns:
        (out Tensor[B, H, Nq, d] in q's dtype, lse Tensor[B, H, Nq] in float32, float64 for
        float64 inputs).
    """
    allowed = allowed_pairs(q_groups, k_groups)
    if allowed.dim() == 3:  # per-sample groups: broadcast over heads
        allowed = allowed[:, None]
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~allowed, float("-inf"))
    if scores.shape[-1] > 0:
        row_max = scores.amax(dim=-1, keepdim=True)
    else:  # no keys at all
        row_max = scores.new_full((*scores.shape[:-1], 1), float("-inf"))
    # Rows with no allowed key have max −inf: shift by 0 instead, so they stay exactly 0.
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max)).detach()
    weights = torch.exp(scores - row_max)  # exp(−inf) = 0 on masked pairs
    total = weights.sum(dim=-1, keepdim=True)
    has_keys = total > 0
    probs = weights / torch.where(has_keys, total, torch.ones_like(total))
    out = torch.matmul(probs, v)
    lse_dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    lse = (row_max + torch.log(total)).squeeze(-1).detach().to(lse_dtype)  # log 0 = −inf on empty rows
    return out, lse


def block_attention(q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float) -> Tensor:
    """The attention output of :func:`block_attention_with_lse`."""
    return block_attention_with_lse(q, k, v, q_groups, k_groups, scale)[0]


BACKEND = Backend(
    name="reference",
    run=block_attention,
    devices=("cpu", "cuda"),
    dtypes=_ALL_FLOATS,
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float64: (0.0, 0.0)},
    availability=lambda: (True, ""),
)
