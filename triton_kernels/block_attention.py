"""block_attention — Triton kernels: flash-style attention over tiles of the group-sorted order.

Layout (a few torch ops per call, no host sync): per row of the group tensor, tokens are sorted
stably by group id with the global tokens (id < 0) first, so every group is a contiguous segment
of the sorted order. Programs own tiles of *sorted positions* and load their rows indirectly
(token = order[position]): segments are packed several to a tile and the tensors are never
permuted in memory. Inside a tile the rule gq < 0 | gk < 0 | gq == gk is evaluated per pair.

Tile skipping: a query tile whose non-global groups span [g_min, g_max] can only meet the global
keys (sorted positions [0, n_global)) and the keys with groups in [g_min, g_max], the sorted range
[lo, hi) found by searchsorted; a query tile holding a global query sees every key. The program
walks the virtual sequence [0, n_global) ++ [lo, hi) in tiles, so a lone CLS key shares its tile
with the group's keys and no visited tile is wasted on skipped positions. The backward's dK/dV
program (one per key tile) uses the mirrored rule over query tiles; dQ iterates like the forward.
No atomics: deterministic.

Forward: online softmax (running max m, sum l, rescaled accumulator), out = acc / l, stored with
lse = m + log l (float32); rows without an allowed key get out = 0 and lse = −inf. Backward:
delta = rowsum(dO ∘ O) (torch), P = exp(scale·q·k − lse) recomputed, dS = P ∘ (dP − delta),
dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO; no N×N tensor exists. Accumulation in float32;
fp32 inputs use IEEE dots (no TF32).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from triton_kernels._common import cdiv, interpreter_enabled


@triton.jit
def _allowed(g_rows, g_cols, row_mask, col_mask):
    return (row_mask[:, None] & col_mask[None, :]) & (
        (g_rows[:, None] < 0) | (g_cols[None, :] < 0) | (g_rows[:, None] == g_cols[None, :])
    )


@triton.jit
def _probabilities_and_ds(q, k, v, dout, lse, delta, g_m, g_n, mask_m, mask_n, scale, IEEE: tl.constexpr):
    """Recomputed P = exp(scale·q·kᵀ − lse) on allowed pairs and dS = P ∘ (dO·vᵀ − delta)."""
    if IEEE:
        s = tl.dot(q, tl.trans(k), input_precision="ieee")
        dp = tl.dot(dout, tl.trans(v), input_precision="ieee")
    else:
        s = tl.dot(q, tl.trans(k))
        dp = tl.dot(dout, tl.trans(v))
    p = tl.where(_allowed(g_m, g_n, mask_m, mask_n), tl.exp(s * scale - lse[:, None]), 0.0)
    return p, p * (dp - delta[:, None])


@triton.jit
def _block_attention_fwd_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr,
    q_order_ptr, q_sorted_ptr, k_order_ptr, k_sorted_ptr, k_global_ptr, k_range_ptr,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    heads, q_len, k_len, head_dim, q_tiles, q_layout_stride, k_layout_stride, range_layout_stride,
    scale,
    IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    tile = tl.program_id(0)
    pair = tl.program_id(1)
    b = pair // heads
    h = pair % heads
    qb = b.to(tl.int64) * q_layout_stride  # 0 when one layout is shared by the batch
    kb = b.to(tl.int64) * k_layout_stride

    pos_m = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    mask_m = pos_m < q_len
    tok_m = tl.load(q_order_ptr + qb * q_len + pos_m, mask=mask_m, other=0).to(tl.int64)
    g_m = tl.load(q_sorted_ptr + qb * q_len + pos_m, mask=mask_m, other=0)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < head_dim
    q_base = q_ptr + b.to(tl.int64) * stride_qb + h.to(tl.int64) * stride_qh
    q = tl.load(q_base + tok_m[:, None] * stride_qn + offs_d[None, :] * stride_qd,
                mask=mask_m[:, None] & mask_d[None, :], other=0.0)

    n_global = tl.load(k_global_ptr + kb)
    range_ptr = k_range_ptr + ((b.to(tl.int64) * range_layout_stride) * q_tiles + tile) * 2
    lo = tl.load(range_ptr)
    hi = tl.load(range_ptr + 1)

    k_base = k_ptr + b.to(tl.int64) * stride_kb + h.to(tl.int64) * stride_kh
    v_base = v_ptr + b.to(tl.int64) * stride_vb + h.to(tl.int64) * stride_vh
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    # The virtual sequence [0, n_global) ++ [lo, hi) of sorted positions: every tile visited holds
    # allowed pairs; a lone global token shares its tile with the group's tokens.
    n_visit = n_global + hi - lo
    for start in range(0, n_visit, BLOCK_N):
        visit = start + tl.arange(0, BLOCK_N)
        mask_n = visit < n_visit
        pos_n = tl.where(visit < n_global, visit, visit - n_global + lo)
        tok_n = tl.load(k_order_ptr + kb * k_len + pos_n, mask=mask_n, other=0).to(tl.int64)
        g_n = tl.load(k_sorted_ptr + kb * k_len + pos_n, mask=mask_n, other=0)
        kv_mask = mask_n[:, None] & mask_d[None, :]
        k = tl.load(k_base + tok_n[:, None] * stride_kn + offs_d[None, :] * stride_kd, mask=kv_mask, other=0.0)
        v = tl.load(v_base + tok_n[:, None] * stride_vn + offs_d[None, :] * stride_vd, mask=kv_mask, other=0.0)
        if IEEE:
            s = tl.dot(q, tl.trans(k), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k))
        s = tl.where(_allowed(g_m, g_n, mask_m, mask_n), s * scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows with nothing allowed yet
        p = tl.exp(s - shift[:, None])
        alpha = tl.exp(m_i - shift)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        if IEEE:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new

    has_keys = l_i > 0
    out = acc / tl.where(has_keys, l_i, 1.0)[:, None]
    lse = tl.where(has_keys, m_i + tl.log(tl.where(has_keys, l_i, 1.0)), float("-inf"))
    out_rows = (pair.to(tl.int64) * q_len + tok_m) * head_dim
    tl.store(out_ptr + out_rows[:, None] + offs_d[None, :], out.to(out_ptr.dtype.element_ty),
             mask=mask_m[:, None] & mask_d[None, :])
    tl.store(lse_ptr + pair.to(tl.int64) * q_len + tok_m, lse, mask=mask_m)


@triton.jit
def _block_attention_bwd_dq_kernel(
    q_ptr, k_ptr, v_ptr, dout_ptr, lse_ptr, delta_ptr, dq_ptr,
    q_order_ptr, q_sorted_ptr, k_order_ptr, k_sorted_ptr, k_global_ptr, k_range_ptr,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    heads, q_len, k_len, head_dim, q_tiles, q_layout_stride, k_layout_stride, range_layout_stride,
    scale,
    IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    tile = tl.program_id(0)
    pair = tl.program_id(1)
    b = pair // heads
    h = pair % heads
    qb = b.to(tl.int64) * q_layout_stride
    kb = b.to(tl.int64) * k_layout_stride

    pos_m = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    mask_m = pos_m < q_len
    tok_m = tl.load(q_order_ptr + qb * q_len + pos_m, mask=mask_m, other=0).to(tl.int64)
    g_m = tl.load(q_sorted_ptr + qb * q_len + pos_m, mask=mask_m, other=0)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < head_dim
    md = mask_m[:, None] & mask_d[None, :]
    q = tl.load(q_ptr + b.to(tl.int64) * stride_qb + h.to(tl.int64) * stride_qh + tok_m[:, None] * stride_qn
                + offs_d[None, :] * stride_qd, mask=md, other=0.0)
    rows = (pair.to(tl.int64) * q_len + tok_m) * head_dim  # dout, dq: contiguous (B, H, Nq, d)
    dout = tl.load(dout_ptr + rows[:, None] + offs_d[None, :], mask=md, other=0.0)
    lse = tl.load(lse_ptr + pair.to(tl.int64) * q_len + tok_m, mask=mask_m, other=0.0)
    delta = tl.load(delta_ptr + pair.to(tl.int64) * q_len + tok_m, mask=mask_m, other=0.0)

    n_global = tl.load(k_global_ptr + kb)
    range_ptr = k_range_ptr + ((b.to(tl.int64) * range_layout_stride) * q_tiles + tile) * 2
    lo = tl.load(range_ptr)
    hi = tl.load(range_ptr + 1)
    k_base = k_ptr + b.to(tl.int64) * stride_kb + h.to(tl.int64) * stride_kh
    v_base = v_ptr + b.to(tl.int64) * stride_vb + h.to(tl.int64) * stride_vh
    dq = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    # The virtual sequence [0, n_global) ++ [lo, hi) of sorted positions: every tile visited holds
    # allowed pairs; a lone global token shares its tile with the group's tokens.
    n_visit = n_global + hi - lo
    for start in range(0, n_visit, BLOCK_N):
        visit = start + tl.arange(0, BLOCK_N)
        mask_n = visit < n_visit
        pos_n = tl.where(visit < n_global, visit, visit - n_global + lo)
        tok_n = tl.load(k_order_ptr + kb * k_len + pos_n, mask=mask_n, other=0).to(tl.int64)
        g_n = tl.load(k_sorted_ptr + kb * k_len + pos_n, mask=mask_n, other=0)
        kv_mask = mask_n[:, None] & mask_d[None, :]
        k = tl.load(k_base + tok_n[:, None] * stride_kn + offs_d[None, :] * stride_kd, mask=kv_mask, other=0.0)
        v = tl.load(v_base + tok_n[:, None] * stride_vn + offs_d[None, :] * stride_vd, mask=kv_mask, other=0.0)
        p, ds = _probabilities_and_ds(q, k, v, dout, lse, delta, g_m, g_n, mask_m, mask_n, scale, IEEE)
        if IEEE:
            dq += tl.dot(ds.to(k.dtype), k, input_precision="ieee")
        else:
            dq += tl.dot(ds.to(k.dtype), k)
    tl.store(dq_ptr + rows[:, None] + offs_d[None, :], (dq * scale).to(dq_ptr.dtype.element_ty), mask=md)


@triton.jit
def _block_attention_bwd_dkdv_kernel(
    q_ptr, k_ptr, v_ptr, dout_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr,
    q_order_ptr, q_sorted_ptr, k_order_ptr, k_sorted_ptr, q_global_ptr, q_range_ptr,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    heads, q_len, k_len, head_dim, k_tiles, q_layout_stride, k_layout_stride, range_layout_stride,
    scale,
    IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    tile = tl.program_id(0)
    pair = tl.program_id(1)
    b = pair // heads
    h = pair % heads
    qb = b.to(tl.int64) * q_layout_stride
    kb = b.to(tl.int64) * k_layout_stride

    pos_n = tile * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_n = pos_n < k_len
    tok_n = tl.load(k_order_ptr + kb * k_len + pos_n, mask=mask_n, other=0).to(tl.int64)
    g_n = tl.load(k_sorted_ptr + kb * k_len + pos_n, mask=mask_n, other=0)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < head_dim
    nd = mask_n[:, None] & mask_d[None, :]
    k = tl.load(k_ptr + b.to(tl.int64) * stride_kb + h.to(tl.int64) * stride_kh + tok_n[:, None] * stride_kn
                + offs_d[None, :] * stride_kd, mask=nd, other=0.0)
    v = tl.load(v_ptr + b.to(tl.int64) * stride_vb + h.to(tl.int64) * stride_vh + tok_n[:, None] * stride_vn
                + offs_d[None, :] * stride_vd, mask=nd, other=0.0)

    n_global = tl.load(q_global_ptr + qb)
    range_ptr = q_range_ptr + ((b.to(tl.int64) * range_layout_stride) * k_tiles + tile) * 2
    lo = tl.load(range_ptr)
    hi = tl.load(range_ptr + 1)
    q_base = q_ptr + b.to(tl.int64) * stride_qb + h.to(tl.int64) * stride_qh
    dk = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    # The virtual sequence [0, n_global) ++ [lo, hi) of sorted positions: every tile visited holds
    # allowed pairs; a lone global token shares its tile with the group's tokens.
    n_visit = n_global + hi - lo
    for start in range(0, n_visit, BLOCK_M):
        visit = start + tl.arange(0, BLOCK_M)
        mask_m = visit < n_visit
        pos_m = tl.where(visit < n_global, visit, visit - n_global + lo)
        tok_m = tl.load(q_order_ptr + qb * q_len + pos_m, mask=mask_m, other=0).to(tl.int64)
        g_m = tl.load(q_sorted_ptr + qb * q_len + pos_m, mask=mask_m, other=0)
        md = mask_m[:, None] & mask_d[None, :]
        q = tl.load(q_base + tok_m[:, None] * stride_qn + offs_d[None, :] * stride_qd, mask=md, other=0.0)
        rows = (pair.to(tl.int64) * q_len + tok_m) * head_dim
        dout = tl.load(dout_ptr + rows[:, None] + offs_d[None, :], mask=md, other=0.0)
        lse = tl.load(lse_ptr + pair.to(tl.int64) * q_len + tok_m, mask=mask_m, other=0.0)
        delta = tl.load(delta_ptr + pair.to(tl.int64) * q_len + tok_m, mask=mask_m, other=0.0)
        p, ds = _probabilities_and_ds(q, k, v, dout, lse, delta, g_m, g_n, mask_m, mask_n, scale, IEEE)
        if IEEE:
            dv += tl.dot(tl.trans(p.to(dout.dtype)), dout, input_precision="ieee")
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision="ieee")
        else:
            dv += tl.dot(tl.trans(p.to(dout.dtype)), dout)
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q)
    rows_n = (pair.to(tl.int64) * k_len + tok_n) * head_dim  # dk, dv: contiguous (B, H, Nk, d)
    tl.store(dk_ptr + rows_n[:, None] + offs_d[None, :], (dk * scale).to(dk_ptr.dtype.element_ty), mask=nd)
    tl.store(dv_ptr + rows_n[:, None] + offs_d[None, :], dv.to(dv_ptr.dtype.element_ty), mask=nd)


# ---- launchers ---------------------------------------------------------------------------------


def _tiles() -> tuple[int, int]:
    # The interpreter pays per operation, not per element: wide tiles. On the GPU, 64 query rows ×
    # 32 keys keeps several packed 49–98-token segments per tile and lets skipping bite at N ≈ 200.
    return (128, 128) if interpreter_enabled() else (64, 32)


def _sorted_layout(groups: torch.Tensor):
    """(order, sorted ids, global count) per layout row; one row when the groups are shared."""
    ids = groups if groups.dim() == 2 else groups[None]
    # Ids are compared as int32: wider ones above its range are refused, never truncated (0 and
    # 2^32 would become one group); on the GPU without a host synchronisation.
    if ids.dtype in (torch.int64, torch.uint32, torch.uint64) and ids.numel():
        too_big = ids > torch.iinfo(torch.int32).max
        if ids.device.type == "cpu":
            if bool(too_big.any()):
                raise ValueError(f"block_attention: group ids must be below 2^31 (the kernels compare int32 ids), "
                                 f"got {int(ids[too_big][0])}")
        else:
            torch._assert_async(~too_big.any(), "block_attention: group ids must be below 2^31")
    ids = torch.where(ids < 0, torch.full_like(ids, -1), ids).to(torch.int32)
    sorted_ids, order = torch.sort(ids, dim=1, stable=True)
    n_global = (ids < 0).sum(dim=1, dtype=torch.int32)
    return order.to(torch.int32).contiguous(), sorted_ids.contiguous(), n_global.contiguous()


def _visible_ranges(rows_sorted, rows_global, cols_sorted, cols_global, block: int) -> torch.Tensor:
    """int32 (L, tiles, 2): per tile of rows, the sorted column range [lo, hi) it must visit
    besides the global columns; the whole range for tiles holding a global row."""
    layouts = max(rows_sorted.shape[0], cols_sorted.shape[0])
    rows_sorted = rows_sorted.expand(layouts, -1)
    cols_sorted = cols_sorted.expand(layouts, -1).contiguous()
    rows_global = rows_global.expand(layouts).long()
    n_rows, n_cols = rows_sorted.shape[1], cols_sorted.shape[1]
    starts = torch.arange(0, n_rows, block, device=rows_sorted.device)
    ends = torch.clamp(starts + block, max=n_rows)
    first = torch.maximum(starts[None, :], rows_global[:, None]).clamp(max=n_rows - 1)
    g_min = rows_sorted.gather(1, first).contiguous()
    g_max = rows_sorted.gather(1, (ends - 1)[None, :].expand(layouts, -1)).contiguous()
    lo = torch.searchsorted(cols_sorted, g_min, right=False)
    hi = torch.searchsorted(cols_sorted, g_max, right=True)
    has_global_row = starts[None, :] < rows_global[:, None]
    lo = torch.where(has_global_row, cols_global.expand(layouts).long()[:, None], lo)
    hi = torch.where(has_global_row, torch.full_like(hi, n_cols), hi)
    return torch.stack([lo, hi], dim=-1).to(torch.int32).contiguous()


def _prepare(q, k, q_groups, k_groups, block_m, block_n):
    q_order, q_sorted, q_global = _sorted_layout(q_groups)
    k_order, k_sorted, k_global = _sorted_layout(k_groups)
    per_sample = q_order.shape[0] > 1 or k_order.shape[0] > 1
    k_ranges = _visible_ranges(q_sorted, q_global, k_sorted, k_global, block_m)  # per query tile
    q_ranges = _visible_ranges(k_sorted, k_global, q_sorted, q_global, block_n)  # per key tile
    layout = dict(
        q_order=q_order, q_sorted=q_sorted, q_global=q_global, k_order=k_order, k_sorted=k_sorted,
        k_global=k_global, k_ranges=k_ranges, q_ranges=q_ranges,
        q_layout_stride=1 if q_order.shape[0] > 1 else 0, k_layout_stride=1 if k_order.shape[0] > 1 else 0,
        range_stride=1 if per_sample else 0,
    )
    return layout


def _block_d(head_dim: int) -> int:
    return max(16, triton.next_power_of_2(head_dim))


def block_attention_fwd(q, k, v, q_groups, k_groups, scale, block_m=None, block_n=None):
    """Returns (out (B, H, Nq, d) in q's dtype, lse (B, H, Nq) float32). Tile sizes for tests."""
    B, H, Nq, d = q.shape
    Nk = k.shape[2]
    out = torch.empty((B, H, Nq, d), dtype=q.dtype, device=q.device)
    lse = torch.empty((B, H, Nq), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    default_m, default_n = _tiles()
    block_m, block_n = block_m or default_m, block_n or default_n
    lay = _prepare(q, k, q_groups, k_groups, block_m, block_n)
    q_tiles = cdiv(Nq, block_m)
    _block_attention_fwd_kernel[(q_tiles, B * H)](
        q, k, v, out, lse,
        lay["q_order"], lay["q_sorted"], lay["k_order"], lay["k_sorted"], lay["k_global"], lay["k_ranges"],
        *q.stride(), *k.stride(), *v.stride(),
        H, Nq, Nk, d, q_tiles, lay["q_layout_stride"], lay["k_layout_stride"], lay["range_stride"],
        scale,
        IEEE=q.dtype == torch.float32, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=_block_d(d),
    )
    return out, lse


def block_attention_bwd(grad_out, q, k, v, out, lse, q_groups, k_groups, scale, block_m=None, block_n=None):
    """Returns (grad_q, grad_k, grad_v) in the inputs' dtype; P is recomputed from lse."""
    B, H, Nq, d = q.shape
    Nk = k.shape[2]
    grad_q = torch.zeros((B, H, Nq, d), dtype=q.dtype, device=q.device)
    grad_k = torch.zeros((B, H, Nk, d), dtype=k.dtype, device=k.device)
    grad_v = torch.zeros((B, H, Nk, d), dtype=v.dtype, device=v.device)
    if grad_q.numel() == 0 or grad_k.numel() == 0:
        return grad_q, grad_k, grad_v
    default_m, default_n = _tiles()
    block_m, block_n = block_m or default_m, block_n or default_n
    lay = _prepare(q, k, q_groups, k_groups, block_m, block_n)
    dout = grad_out.contiguous()
    delta = (dout.float() * out.float()).sum(-1).contiguous()
    lse = lse.float().contiguous()
    common = (*q.stride(), *k.stride(), *v.stride())
    q_tiles, k_tiles = cdiv(Nq, block_m), cdiv(Nk, block_n)
    meta = dict(IEEE=q.dtype == torch.float32, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=_block_d(d))
    _block_attention_bwd_dq_kernel[(q_tiles, B * H)](
        q, k, v, dout, lse, delta, grad_q,
        lay["q_order"], lay["q_sorted"], lay["k_order"], lay["k_sorted"], lay["k_global"], lay["k_ranges"],
        *common, H, Nq, Nk, d, q_tiles, lay["q_layout_stride"], lay["k_layout_stride"], lay["range_stride"],
        scale, **meta,
    )
    _block_attention_bwd_dkdv_kernel[(k_tiles, B * H)](
        q, k, v, dout, lse, delta, grad_k, grad_v,
        lay["q_order"], lay["q_sorted"], lay["k_order"], lay["k_sorted"], lay["q_global"], lay["q_ranges"],
        *common, H, Nq, Nk, d, k_tiles, lay["q_layout_stride"], lay["k_layout_stride"], lay["range_stride"],
        scale, **meta,
    )
    return grad_q, grad_k, grad_v
