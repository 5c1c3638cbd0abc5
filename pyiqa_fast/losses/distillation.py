"""SHDIQA's distillation losses: contrastive (CKD) and affinity (AKD) — a reconstruction.

The paper names Contrastive Knowledge Distillation ("discriminate between different types of
distortions") and Affinity Knowledge Distillation ("the correlation among distortions in different
regions"); their formulas are not in the available texts. These are our reconstruction
[PROPOSAL]; docs/design/shdiqa.md gives the choices and the degenerate cases.

Both L2-normalise the features and compute in float32 (float64 for float64 inputs), autocast off:
16-bit features from an autocast forward give the fp32 loss of their values.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AffinityKDLoss", "ContrastiveKDLoss", "affinity_kd_loss", "contrastive_kd_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_features(fn: str, name: str, t: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got dtype {t.dtype}")
    if t.dim() != 3:
        raise ValueError(f"{fn}: {name} must have 3 dimensions, got shape {tuple(t.shape)}")
    return t


def _check_reduction(fn: str, reduction: object) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")
    return reduction


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _no_autocast(device: torch.device):
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def contrastive_kd_loss(student_blocks: Tensor, teacher_blocks: Tensor, block_types: Tensor, *,
                        tau: float = 0.07, reduction: str = "mean") -> Tensor:
    """Contrastive knowledge distillation over the blocks of a batch (InfoNCE; reconstruction).

    A reconstruction [PROPOSAL] (docs/design/shdiqa.md): with ŝ, t̂ the L2-normalised student and
    teacher block features and M = B·K blocks, each block a = (n, k) is an anchor whose positive is
    the teacher block at the same place and whose negatives are every teacher block (m, j) of a
    *different* type::

        ℓ_a = −log( exp(⟨ŝ_a, t̂_a⟩/τ) / (exp(⟨ŝ_a, t̂_a⟩/τ) + Σ_{c: type(c) ≠ type(a)} exp(⟨ŝ_a, t̂_c⟩/τ)) )

    The negatives include the other blocks of the same image; teacher blocks of the anchor's type
    elsewhere in the batch are neither positive nor negative.

    Degenerate batches: an anchor with no negative has the denominator of its positive alone, so
    ℓ_a = log 1 = 0 with zero gradient — the formula as written — and it *counts* in the mean.
    Since the negatives are the valid blocks of other types, either every anchor of a batch has
    one (two or more types present) or none has (one type): a one-type batch gives exactly 0 and
    no gradient, where leaving such anchors out would give an empty mean (NaN). A
    block whose type is negative (−1: a padded block, e.g. one a sample's partition lacks) is left
    out entirely: no anchor, no negative; its ``"none"`` entry is 0. With no valid anchor the mean
    is 0 (differentiable).

    Args:
        student_blocks: Tensor[B, K, D] floating, the student's block features (s_k, before the
            Filtering gate).
        teacher_blocks: Tensor[B, K, D] floating, the teacher's (t_k); usually computed under
            ``no_grad``. Gradients flow to both inputs.
        block_types: Tensor[B, K] integer distortion type of each block (``BlockDegradation``'s
            ``type_labels``); negative = padding, excluded.
        tau: Temperature, a finite real > 0 (0.07 by default, docs/design/shdiqa.md).
        reduction: ``"mean"`` (over valid anchors), ``"sum"`` or ``"none"`` (Tensor[B, K]).

    Returns:
        A scalar (or Tensor[B, K] for ``"none"``) in float32, float64 for float64 inputs.

    Raises:
        TypeError: A non-tensor, non-floating features, non-integer ``block_types``, ``tau`` not a
            real number.
        ValueError: Shapes that are not (B, K, D) / (B, K) or disagree, different devices,
            ``tau`` ≤ 0 or not finite, unknown ``reduction``.

    Example:
        >>> s, t = torch.randn(4, 2, 384), torch.randn(4, 2, 384)
        >>> types = torch.randint(0, 24, (4, 2))
        >>> contrastive_kd_loss(s, t, types).shape
        torch.Size([])
    """
    fn = "contrastive_kd_loss"
    s = _check_features(fn, "student_blocks", student_blocks)
    t = _check_features(fn, "teacher_blocks", teacher_blocks)
    if t.shape != s.shape:
        raise ValueError(f"{fn}: teacher_blocks must have the shape of student_blocks (B, K, D) = {tuple(s.shape)}, "
                         f"got {tuple(t.shape)}")
    if not isinstance(block_types, Tensor):
        raise TypeError(f"{fn}: block_types must be a torch.Tensor, got {type(block_types).__name__}")
    if block_types.is_floating_point() or block_types.is_complex() or block_types.dtype == torch.bool:
        raise TypeError(f"{fn}: block_types must be an integer tensor of type ids, got dtype {block_types.dtype}")
    if block_types.shape != s.shape[:2]:
        raise ValueError(f"{fn}: block_types must have shape (B, K) = {tuple(s.shape[:2])}, got "
                         f"{tuple(block_types.shape)}")
    for name, other in (("teacher_blocks", t), ("block_types", block_types)):
        if other.device != s.device:
            raise ValueError(f"{fn}: {name} must be on student_blocks' device ({s.device}), got {other.device}")
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise TypeError(f"{fn}: tau must be a real number > 0, got {type(tau).__name__}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"{fn}: tau must be a finite real number > 0, got {tau}")
    _check_reduction(fn, reduction)

    batch, blocks, dim = s.shape
    dtype = _compute_dtype(s, t)
    with _no_autocast(s.device):
        s_hat = F.normalize(s.reshape(batch * blocks, dim).to(dtype), dim=-1)
        t_hat = F.normalize(t.reshape(batch * blocks, dim).to(dtype), dim=-1)
        types = block_types.reshape(batch * blocks)
        valid = types >= 0
        logits = s_hat @ t_hat.T / tau                                        # (M, M): anchor × candidate
        candidates = (types[None, :] != types[:, None]) & valid[None, :]      # the negatives of each anchor
        candidates |= torch.eye(batch * blocks, dtype=torch.bool, device=s.device)  # and its positive
        # The diagonal is always a candidate, so every row's logsumexp is finite.
        per_anchor = torch.logsumexp(logits.masked_fill(~candidates, -math.inf), dim=1) - logits.diagonal()
        per_anchor = torch.where(valid, per_anchor, torch.zeros((), dtype=dtype, device=s.device))
    if reduction == "none":
        return per_anchor.reshape(batch, blocks)
    if reduction == "sum":
        return per_anchor.sum()
    return per_anchor.sum() / valid.sum().clamp(min=1).to(dtype)


def affinity_kd_loss(student_tokens: Tensor, teacher_tokens: Tensor, *, reduction: str = "mean") -> Tensor:
    """Affinity knowledge distillation: token-affinity matrices matched (reconstruction).

    A reconstruction [PROPOSAL] (docs/design/shdiqa.md): with Ẑ the L2-normalised tokens of image n,
    A_n = Ẑ_n Ẑ_nᵀ (N × N cosine affinities), ``ℓ_n = ‖A^S_n − A^T_n‖²_F / N²`` and the loss is the
    mean over images. The student's and teacher's widths may differ (only N × N matrices meet).

    Args:
        student_tokens: Tensor[B, N, D_s] floating (the student's patch tokens z^S).
        teacher_tokens: Tensor[B, N, D_t] floating (the teacher's z^T); gradients flow to both.
        reduction: ``"mean"`` (over images), ``"sum"`` or ``"none"`` (Tensor[B]).

    Returns:
        A scalar (or Tensor[B] for ``"none"``) in float32, float64 for float64 inputs; each ℓ_n
        lies in [0, 4].

    Raises:
        TypeError: A non-tensor or non-floating input.
        ValueError: Not 3-D, B or N that differ, B or N of 0, different devices, unknown ``reduction``.

    Example:
        >>> affinity_kd_loss(torch.randn(2, 196, 384), torch.randn(2, 196, 384)).shape
        torch.Size([])
    """
    fn = "affinity_kd_loss"
    s = _check_features(fn, "student_tokens", student_tokens)
    t = _check_features(fn, "teacher_tokens", teacher_tokens)
    if t.shape[:2] != s.shape[:2]:
        raise ValueError(f"{fn}: teacher_tokens must have student_tokens' (B, N) = {tuple(s.shape[:2])}, got shape "
                         f"{tuple(t.shape)}")
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"{fn}: student_tokens must hold at least one image and one token, got shape "
                         f"{tuple(s.shape)}")
    if t.device != s.device:
        raise ValueError(f"{fn}: teacher_tokens must be on student_tokens' device ({s.device}), got {t.device}")
    _check_reduction(fn, reduction)

    n = s.shape[1]
    dtype = _compute_dtype(s, t)
    with _no_autocast(s.device):
        s_hat = F.normalize(s.to(dtype), dim=-1)
        t_hat = F.normalize(t.to(dtype), dim=-1)
        diff = s_hat @ s_hat.transpose(1, 2) - t_hat @ t_hat.transpose(1, 2)
        per_image = diff.square().sum(dim=(1, 2)) / (n * n)
    if reduction == "none":
        return per_image
    return per_image.sum() if reduction == "sum" else per_image.mean()


class ContrastiveKDLoss(nn.Module):
    """Module form of :func:`contrastive_kd_loss` (SHDIQA CKD; reconstruction).

    Args:
        tau: Temperature (0.07).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - student_blocks, teacher_blocks: (B, K, D) floating.
        - block_types: (B, K) integer, negative = padding.
        - Output: scalar, or (B, K) for ``"none"``; float32 (float64 for float64 inputs).

    Example:
        >>> criterion = ContrastiveKDLoss(tau=0.07)
        >>> loss = criterion(torch.randn(4, 2, 8), torch.randn(4, 2, 8), torch.tensor([[0, 1]] * 4))
    """

    def __init__(self, tau: float = 0.07, reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
            raise TypeError(f"ContrastiveKDLoss: tau must be a real number > 0, got {type(tau).__name__}")
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"ContrastiveKDLoss: tau must be a finite real number > 0, got {tau}")
        self.tau = float(tau)
        self.reduction = _check_reduction("ContrastiveKDLoss", reduction)

    def forward(self, student_blocks: Tensor, teacher_blocks: Tensor, block_types: Tensor) -> Tensor:
        return contrastive_kd_loss(student_blocks, teacher_blocks, block_types, tau=self.tau,
                                   reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, reduction={self.reduction!r}"


class AffinityKDLoss(nn.Module):
    """Module form of :func:`affinity_kd_loss` (SHDIQA AKD; reconstruction).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - student_tokens: (B, N, D_s) floating; teacher_tokens: (B, N, D_t) floating.
        - Output: scalar, or (B,) for ``"none"``; float32 (float64 for float64 inputs).

    Example:
        >>> loss = AffinityKDLoss()(torch.randn(2, 196, 384), torch.randn(2, 196, 384))
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("AffinityKDLoss", reduction)

    def forward(self, student_tokens: Tensor, teacher_tokens: Tensor) -> Tensor:
        return affinity_kd_loss(student_tokens, teacher_tokens, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
