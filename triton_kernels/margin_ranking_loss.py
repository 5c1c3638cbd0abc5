"""margin_ranking_loss — Triton kernel: fused loss + gradient by tiled brute force.

Mapping: one program per BLOCK_I rows; each streams all n (prediction, target) pairs in
BLOCK_J-wide tiles and evaluates the BLOCK_I × BLOCK_J pair tile at once: active pairs where the
row is the higher element (C_i) or the lower one (D_i) under the loop's predicate
fl(p_high − p_low) ≤ m, the hinge sum where the row is higher (each unordered pair once) and
tied pairs. grad_i = c·(D_i − C_i) is stored directly; per-program loss partials are summed by
the launcher in a fixed order (no atomics: deterministic), so the Triton path is the kernel plus
two or three small torch ops. Every program first computes the margin (two-pass unbiased std in
float64, rounded as the reference rounds it) and scans for NaN / ±inf (then loss and gradient
are NaN). Compute in float32 (float64 for float64 inputs); the hinge is summed per tile in the
compute type and accumulated across tiles in float64.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from triton_kernels._common import cdiv, compute_dtype, interpreter_enabled


@triton.jit
def _margin_ranking_loss_fwd_kernel(
    pred_ptr,
    target_ptr,
    scalar_ptr,  # float64[1]: the margin (HAS_MARGIN) or margin_scale
    grad_ptr,
    partial_ptr,  # float64[programs]
    n,
    pred_stride,
    target_stride,
    HAS_MARGIN: tl.constexpr,
    MEAN: tl.constexpr,
    CT: tl.constexpr,
    BLOCK_I: tl.constexpr,
    BLOCK_J: tl.constexpr,
):
    pid = tl.program_id(0)
    offs_j0 = tl.arange(0, BLOCK_J)

    # The margin as the reference evaluates it in the input dtype: a given margin rounded to the
    # dtype, or `margin_scale * target.std()` with the std rounded to the dtype and the product
    # in op-math precision (float below fp64), rounded again. Doubles reach 16-bit types through
    # float, as torch converts them (backends agree bitwise).
    if HAS_MARGIN:
        raw = tl.load(scalar_ptr)
    else:
        total = tl.zeros([BLOCK_J], dtype=tl.float64)
        for j0 in range(0, n, BLOCK_J):
            offs = (j0 + offs_j0).to(tl.int64)
            total += tl.load(target_ptr + offs * target_stride, mask=offs < n, other=0).to(tl.float64)
        mean = tl.sum(total, axis=0) / n
        squares = tl.zeros([BLOCK_J], dtype=tl.float64)
        for j0 in range(0, n, BLOCK_J):
            offs = (j0 + offs_j0).to(tl.int64)
            y = tl.load(target_ptr + offs * target_stride, mask=offs < n, other=0).to(tl.float64)
            d = tl.where(offs < n, y - mean, 0.0)
            squares += d * d
        raw = tl.sqrt(tl.sum(squares, axis=0) / (n - 1))  # float64: IEEE sqrt
    if CT == tl.float64:
        m = raw
        if not HAS_MARGIN:
            m = tl.load(scalar_ptr) * raw
    else:
        m = raw.to(tl.float32).to(pred_ptr.dtype.element_ty).to(tl.float32)
        if not HAS_MARGIN:
            m = (tl.load(scalar_ptr).to(tl.float32) * m).to(pred_ptr.dtype.element_ty).to(tl.float32)
    if MEAN:
        c = 2.0 / (n.to(tl.float64) * (n - 1).to(tl.float64))
    else:
        c = 1.0

    offs_i = pid.to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)  # int64: n · stride may pass 2^31
    mask_i = offs_i < n
    p_i = tl.load(pred_ptr + offs_i * pred_stride, mask=mask_i, other=0).to(CT)
    y_i = tl.load(target_ptr + offs_i * target_stride, mask=mask_i, other=0).to(CT)
    higher = tl.zeros([BLOCK_I], dtype=tl.int32)
    lower = tl.zeros([BLOCK_I], dtype=tl.int32)
    ties = tl.zeros([BLOCK_I], dtype=tl.int32)
    hinge = tl.zeros([BLOCK_I], dtype=tl.float64)
    nans = tl.zeros([BLOCK_J], dtype=tl.int32)
    for j0 in range(0, n, BLOCK_J):
        offs_j = (j0 + offs_j0).to(tl.int64)
        mask_j = offs_j < n
        p_j = tl.load(pred_ptr + offs_j * pred_stride, mask=mask_j, other=0).to(CT)
        y_j = tl.load(target_ptr + offs_j * target_stride, mask=mask_j, other=0).to(CT)
        finite = (tl.abs(p_j) < float("inf")) & (tl.abs(y_j) < float("inf"))  # False for NaN and ±inf
        nans += (~finite).to(tl.int32)
        pair = mask_i[:, None] & mask_j[None, :]
        d = p_i[:, None] - p_j[None, :]  # fl(p_i − p_j); fl(p_j − p_i) is exactly −d
        row_higher = pair & (y_j[None, :] < y_i[:, None]) & (d <= m)
        row_lower = pair & (y_j[None, :] > y_i[:, None]) & (-d <= m)
        higher += tl.sum(row_higher.to(tl.int32), axis=1)
        lower += tl.sum(row_lower.to(tl.int32), axis=1)
        ties += tl.sum((pair & (y_j[None, :] == y_i[:, None])).to(tl.int32), axis=1)
        hinge += tl.sum(tl.where(row_higher, m - d, 0.0), axis=1).to(tl.float64)

    any_nan = tl.sum(nans, axis=0) > 0
    grad = c * (lower - higher).to(tl.float64)
    grad = tl.where(any_nan, float("nan"), grad)
    if CT != tl.float64:
        grad = grad.to(tl.float32)
    tl.store(grad_ptr + offs_i, grad.to(grad_ptr.dtype.element_ty), mask=mask_i)
    # Each tied pair is seen from both of its rows; ties include the row itself.
    row_loss = hinge + 0.5 * m.to(tl.float64) * (ties - 1).to(tl.float64)
    partial = tl.sum(tl.where(mask_i, row_loss, 0.0), axis=0)
    tl.store(partial_ptr + pid, tl.where(any_nan, float("nan"), partial))


@functools.lru_cache(maxsize=64)
def _device_scalar(value: float, device: torch.device) -> torch.Tensor:
    """A float64 scalar on ``device``, made once per value.

    A Python float kernel argument would be float32; a fresh tensor per call would be a
    synchronous host-to-device copy (and break CUDA-graph capture). Never written to.
    """
    return torch.tensor([value], dtype=torch.float64, device=device)


def margin_ranking_loss_fwd(
    pred: torch.Tensor,
    target: torch.Tensor,
    margin_scale: float,
    margin: float | None,
    mean: bool,
    block_sizes: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Launches the kernel; returns (loss, ∂loss/∂pred), both of ``pred``'s dtype.

    Args:
        pred: Tensor[n], n ≥ 2, any stride.
        target: Tensor[n] of ``pred``'s dtype and device.
        margin_scale: λ of λ·std(target); ignored when ``margin`` is given.
        margin: Fixed margin, or None.
        mean: Divide by the n(n−1)/2 pairs.
        block_sizes: (BLOCK_I, BLOCK_J) powers of two; the default suits the device.
    """
    n = pred.shape[0]
    # The interpreter pays per op, not per element: few wide tiles run fastest there.
    default = (128, 512) if interpreter_enabled() else (64, 64)
    block_i, block_j = block_sizes or default
    programs = cdiv(n, block_i)
    scalar = _device_scalar(margin if margin is not None else margin_scale, pred.device)
    grad = torch.empty(n, dtype=pred.dtype, device=pred.device)
    partials = torch.empty(programs, dtype=torch.float64, device=pred.device)
    _margin_ranking_loss_fwd_kernel[(programs,)](
        pred,
        target,
        scalar,
        grad,
        partials,
        n,
        pred.stride(0),
        target.stride(0),
        HAS_MARGIN=margin is not None,
        MEAN=mean,
        CT=compute_dtype(pred.dtype),
        BLOCK_I=block_i,
        BLOCK_J=block_j,
    )
    c = 2.0 / (n * (n - 1)) if mean else 1.0
    return (partials.sum() * c).to(pred.dtype), grad
