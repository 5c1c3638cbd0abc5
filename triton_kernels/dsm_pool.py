"""dsm_pool — Triton kernels: DSMix ground-truth map and its backward (METHODS.md §4.1).

Forward mapping: one program per (strip of output cells (b, u), tile of BLOCK_V cells). The
program holds a BLOCK_V × BLOCK_K tile of columns (cell v, column k of the cell; BLOCK_K = pool
rounded up to a power of two, masked) and, for each of the pool rows and the 3 channels, adds
|ref − dist| into it; the cell sums are the tile's row sums. Each input element is read once,
each map value written once. Accumulation in float32 (float64 for float64 inputs); uint8 is
read as value / 255. With ceil_mode a partial edge cell divides by its real pixel count.

Backward mapping: one program per (b, BLOCK_H rows, BLOCK_W columns) tile, 3 channels: the
cell's scale s = g/(3·n) (computed in the compute type, rounded to the input dtype as the C++
binding rounds it) written as +s / −s / 0 by the sign of ref − dist (0 also for NaN, as torch's sign); contiguous NCHW
gradients. No atomics anywhere: deterministic.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from triton_kernels._common import cdiv, compute_dtype, interpreter_enabled


@triton.jit
def _dsm_pool_fwd_kernel(
    ref_ptr,
    dist_ptr,
    out_ptr,  # contiguous (B, out_h, out_w)
    H,
    W,
    out_h,
    out_w,
    pool,
    rs_b,
    rs_c,
    rs_h,
    rs_w,
    ds_b,
    ds_c,
    ds_h,
    ds_w,
    IS_U8: tl.constexpr,
    CT: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    strip = tl.program_id(0)
    b = (strip // out_h).to(tl.int64)
    u = strip % out_h
    offs_v = tl.program_id(1) * BLOCK_V + tl.arange(0, BLOCK_V)
    offs_k = tl.arange(0, BLOCK_K)
    cols = (offs_v[:, None] * pool + offs_k[None, :]).to(tl.int64)
    col_mask = (offs_k[None, :] < pool) & (cols < W) & (offs_v[:, None] < out_w)
    h0 = u * pool
    acc = tl.zeros([BLOCK_V, BLOCK_K], dtype=CT)
    for r in range(0, pool):
        h = (h0 + r).to(tl.int64)
        mask = col_mask & (h < H)
        ref_row = ref_ptr + b * rs_b + h * rs_h + cols * rs_w
        dist_row = dist_ptr + b * ds_b + h * ds_h + cols * ds_w
        for c in tl.static_range(3):
            x = tl.load(ref_row + c * rs_c, mask=mask, other=0).to(CT)
            y = tl.load(dist_row + c * ds_c, mask=mask, other=0).to(CT)
            acc += tl.abs(x - y)
    total = tl.sum(acc, axis=1)
    rows = tl.minimum(H - h0, pool)
    n_cols = tl.maximum(tl.minimum(W - offs_v * pool, pool), 1)  # ≥ 1 also on masked lanes
    divisor = (3 * rows * n_cols).to(CT)
    if IS_U8:
        divisor = divisor * 255.0
    value = total / divisor
    tl.store(out_ptr + strip.to(tl.int64) * out_w + offs_v, value.to(out_ptr.dtype.element_ty), mask=offs_v < out_w)


@triton.jit
def _dsm_pool_bwd_kernel(
    grad_ptr,  # contiguous (B, out_h, out_w), the input dtype
    ref_ptr,
    dist_ptr,
    grad_ref_ptr,  # contiguous (B, 3, H, W)
    grad_dist_ptr,
    H,
    W,
    out_h,
    out_w,
    pool,
    rs_b,
    rs_c,
    rs_h,
    rs_w,
    ds_b,
    ds_c,
    ds_h,
    ds_w,
    CT: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    offs_h = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_w = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)
    mask = (offs_h[:, None] < H) & (offs_w[None, :] < W)
    u = offs_h // pool
    v = offs_w // pool
    g = tl.load(grad_ptr + (b * out_h + u[:, None]) * out_w + v[None, :], mask=mask, other=0).to(CT)
    rows = tl.maximum(tl.minimum(H - u * pool, pool), 1)  # ≥ 1 also on masked lanes
    n_cols = tl.maximum(tl.minimum(W - v * pool, pool), 1)
    # s rounded to the input dtype once, as the C++ binding does; ±s then round identically.
    s = (g / (3 * rows[:, None] * n_cols[None, :]).to(CT)).to(grad_ref_ptr.dtype.element_ty).to(CT)
    h64 = offs_h[:, None].to(tl.int64)
    w64 = offs_w[None, :].to(tl.int64)
    for c in tl.static_range(3):
        x = tl.load(ref_ptr + b * rs_b + c * rs_c + h64 * rs_h + w64 * rs_w, mask=mask, other=0).to(CT)
        y = tl.load(dist_ptr + b * ds_b + c * ds_c + h64 * ds_h + w64 * ds_w, mask=mask, other=0).to(CT)
        diff = x - y
        # sign(diff)·s as torch's abs backward: 0 at equality and where diff is NaN (sign(NaN) = 0).
        out = tl.where(diff > 0, s, tl.where(diff < 0, -s, 0.0))
        offs = ((b * 3 + c) * H + h64) * W + w64
        tl.store(grad_ref_ptr + offs, out.to(grad_ref_ptr.dtype.element_ty), mask=mask)
        tl.store(grad_dist_ptr + offs, (-out).to(grad_dist_ptr.dtype.element_ty), mask=mask)


def _out_size(size: int, pool: int) -> int:
    return cdiv(size, pool)


def dsm_pool_fwd(ref: torch.Tensor, dist: torch.Tensor, pool: int, ceil_mode: bool) -> torch.Tensor:
    """Launches the forward; returns the map (B, 1, out_h, out_w), contiguous.

    Args:
        ref: Tensor[B, 3, H, W] (uint8 or floating), any strides.
        dist: Tensor[B, 3, H, W] of ``ref``'s dtype and device, any strides.
        pool: Cell size, >= 1.
        ceil_mode: Keep partial edge cells (the caller has checked divisibility otherwise).

    Returns:
        The map in ``ref``'s dtype, float32 for uint8.
    """
    batch, _, height, width = ref.shape
    out_h, out_w = _out_size(height, pool), _out_size(width, pool)
    out_dtype = torch.float32 if ref.dtype == torch.uint8 else ref.dtype
    out = torch.empty((batch, 1, out_h, out_w), dtype=out_dtype, device=ref.device)
    if out.numel() == 0:
        return out
    block_k = triton.next_power_of_2(pool)
    # The interpreter pays per op, not per element: one wide tile per strip.
    tile = 4096 if interpreter_enabled() else 512
    block_v = min(triton.next_power_of_2(out_w), max(1, tile // block_k))
    grid = (batch * out_h, cdiv(out_w, block_v))
    _dsm_pool_fwd_kernel[grid](
        ref,
        dist,
        out,
        height,
        width,
        out_h,
        out_w,
        pool,
        *ref.stride(),
        *dist.stride(),
        IS_U8=ref.dtype == torch.uint8,
        CT=compute_dtype(ref.dtype),
        BLOCK_V=block_v,
        BLOCK_K=block_k,
    )
    return out


def dsm_pool_bwd(
    grad: torch.Tensor, ref: torch.Tensor, dist: torch.Tensor, pool: int, ceil_mode: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Launches the backward; returns (∂/∂ref, ∂/∂dist), contiguous, in ``ref``'s dtype.

    Args:
        grad: Tensor[B, 1, out_h, out_w], the map's gradient, ``ref``'s dtype.
        ref: Tensor[B, 3, H, W], floating, any strides.
        dist: Tensor[B, 3, H, W], any strides.
        pool: Cell size.
        ceil_mode: As in the forward.
    """
    batch, _, height, width = ref.shape
    out_h, out_w = _out_size(height, pool), _out_size(width, pool)
    grad_ref = torch.empty(ref.shape, dtype=ref.dtype, device=ref.device)
    grad_dist = torch.empty(ref.shape, dtype=ref.dtype, device=ref.device)
    if grad_ref.numel() == 0:
        return grad_ref, grad_dist
    grad = grad.contiguous()
    block_h, block_w = (32, 64) if interpreter_enabled() else (4, 128)
    block_w = min(block_w, triton.next_power_of_2(width))
    grid = (batch, cdiv(height, block_h), cdiv(width, block_w))
    _dsm_pool_bwd_kernel[grid](
        grad,
        ref,
        dist,
        grad_ref,
        grad_dist,
        height,
        width,
        out_h,
        out_w,
        pool,
        *ref.stride(),
        *dist.stride(),
        CT=compute_dtype(ref.dtype),
        BLOCK_H=block_h,
        BLOCK_W=block_w,
    )
    return grad_ref, grad_dist
