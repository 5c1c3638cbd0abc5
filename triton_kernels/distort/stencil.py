"""Stencil class of the distortion kernels (DISTORTIONS.md §6): motion blur (§4.5), Gaussian blur
(§4.6), lens blur (§4.7), unsharp masking (§4.10), denoise (§4.19), colour diffusion (§4.22).

Every filter uses replicate borders on the image the entry sees (clamped coordinates, applied before
each 1-D pass as the reference does), so three kernels cover the class:

- ``_conv2d_kernel``: a direct 2-D correlation with a sparse per-entry tap list (dy, dx, w) built on
  the host (motion lines of every preset, the disc of lens blur); reads the source, writes the
  out-region;
- ``_pass_kernel``: one 1-D correlation pass along x or y with per-entry taps (padded to the pass's
  group maximum), over a per-entry rectangle, between views described by a per-pass table (source
  image, temporaries, destination image);
- ``_prep_kernel`` / ``_lab_out_kernel``: the pointwise ends of multi-pass operators (RGB → Lab or
  noise + clip into a temporary; Lab → RGB with the sharpened L or the diffused a*, b*).

A separable operator with P passes runs them in sequence (x passes first, then y, as the
reference's ``_separable``); pass k computes the out-region grown by the radii of the passes still
to come (clamped to the image), so composite mode reads the block's neighbours. Temporaries are
per entry, 3 × the largest out-region grown by the total radii (ry, rx) and clamped to the image,
addressed in the operator's coordinates (a per-entry origin offset), allocated by the launcher.
Per-level taps are built on the host once per distinct (value, decision) of the group
(``torch.unique``), gathered per entry and uploaded with one copy per table.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from pyiqa_fast.distortions.filters import cached_kernel, matlab_gaussian_taps, pillow_box_taps, pillow_gaussian_radius
from triton_kernels._common import cdiv, interpreter_enabled
from triton_kernels.distort._common import (
    DST,
    DST_C,
    DST_Y,
    OX0,
    OX1,
    OY0,
    OY1,
    RNG_X0,
    RNG_Y0,
    SEED,
    SRC,
    SRC_C,
    SRC_Y,
    TRUNC255_GUARD,
    H,
    W,
    clip01,
    field,
    lab_to_rgb,
    pixel_normals3,
    rect_tile,
    rgb_to_lab,
    tile_coords,
    tile_grid,
)

BLOCK_Y, BLOCK_X = 16, 32
# Taps per loop step: the interpreter gathers [TAP_CHUNK, BLOCK_Y, BLOCK_X] at once (few interpreted
# steps); compiled kernels take one tap per step on 2-D tiles (no cross-thread reduction).
TAP_CHUNK = 32 if interpreter_enabled() else 1

# Columns of a pass's view table (one int64 row per entry): source view, destination view, the
# image size the entry sees, and the rectangle [y0, y1) × [x0, x1) the pass computes.
_NV = tl.constexpr(12)
(V_SRC, V_SRC_C, V_SRC_Y, V_DST, V_DST_C, V_DST_Y, V_H, V_W, V_Y0, V_Y1, V_X0, V_X1) = range(12)


# ---------------------------------------------------------------------------------------------
# Kernels.


@triton.jit
def _view_tile(views_ptr, n, tile, tiles_x, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """(ys, xs, mask) of tile ``tile`` of the rectangle of row ``n`` of a view table."""
    return rect_tile(views_ptr + n * _NV + 8, tile, tiles_x, BLOCK_Y, BLOCK_X)


@triton.jit
def _pass_kernel(src_ptr, dst_ptr, views_ptr, taps_ptr, tiles_x, T, R, TC: tl.constexpr, AXIS_X: tl.constexpr,
                 C0: tl.constexpr, NC: tl.constexpr, CLIP: tl.constexpr,
                 BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """out[c, y, x] = Σ_t taps[n, t] · in[c, clamp(y|x + t − R)] (zero taps skipped, as the
    reference), channels C0 … C0 + NC − 1, over the entry's rectangle; T taps per entry (a
    multiple of TC, the taps gathered per step)."""
    n = tl.program_id(1)
    ys, xs, mask = _view_tile(views_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    v = views_ptr + n * _NV
    src = src_ptr + tl.load(v + 0)
    src_c = tl.load(v + 1)
    src_y = tl.load(v + 2)
    dst = dst_ptr + tl.load(v + 3)
    dst_c = tl.load(v + 4)
    dst_y = tl.load(v + 5)
    h = tl.load(v + 6)
    w = tl.load(v + 7)
    ys = tl.minimum(ys, h - 1)  # masked lanes stay inside the image
    xs = tl.minimum(xs, w - 1)
    for c in tl.static_range(NC):
        plane = src + (C0 + c) * src_c
        acc = tl.zeros([BLOCK_Y, BLOCK_X], dtype=src_ptr.dtype.element_ty)
        if TC == 1:  # the GPU: one tap per step, 2-D tiles
            for t in range(T):
                wt = tl.load(taps_ptr + n * T + t)
                if AXIS_X:
                    xx = tl.minimum(tl.maximum(xs + (t - R), 0), w - 1)
                    val = tl.load(plane + ys * src_y + xx, mask=mask, other=0.0)
                else:
                    yy = tl.minimum(tl.maximum(ys + (t - R), 0), h - 1)
                    val = tl.load(plane + yy * src_y + xs, mask=mask, other=0.0)
                acc += tl.where(wt != 0, wt * val, 0.0)
        else:  # the interpreter: TC taps per step, [TC, BLOCK_Y, BLOCK_X] gathers
            for t0 in range(0, T, TC):
                tt = t0 + tl.arange(0, TC)
                wt = tl.load(taps_ptr + n * T + tt)[:, None, None]
                d = (tt - R)[:, None, None]
                if AXIS_X:
                    xx = tl.minimum(tl.maximum(xs[None, :, :] + d, 0), w - 1)
                    val = tl.load(plane + ys[None, :, :] * src_y + xx, mask=mask[None, :, :], other=0.0)
                else:
                    yy = tl.minimum(tl.maximum(ys[None, :, :] + d, 0), h - 1)
                    val = tl.load(plane + yy * src_y + xs[None, :, :], mask=mask[None, :, :], other=0.0)
                acc += tl.sum(tl.where(wt != 0, wt * val, 0.0), axis=0)
        if CLIP:
            acc = clip01(acc)
        tl.store(dst + (C0 + c) * dst_c + ys * dst_y + xs, acc, mask=mask)


@triton.jit
def _conv2d_kernel(src_ptr, dst_ptr, entries_ptr, offs_ptr, taps_ptr, tiles_x, M, TC: tl.constexpr,
                   BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """out[c, y, x] = Σ_m w[n, m] · in[c, clamp(y + dy[n, m]), clamp(x + dx[n, m])] over the
    out-region, clipped; M taps per entry (a multiple of TC, the taps gathered per step)."""
    n = tl.program_id(1)
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    h = field(entries_ptr, n, H)
    w = field(entries_ptr, n, W)
    src = src_ptr + field(entries_ptr, n, SRC)
    src_c = field(entries_ptr, n, SRC_C)
    src_y = field(entries_ptr, n, SRC_Y)
    acc0 = tl.zeros([BLOCK_Y, BLOCK_X], dtype=src_ptr.dtype.element_ty)
    acc1 = tl.zeros([BLOCK_Y, BLOCK_X], dtype=src_ptr.dtype.element_ty)
    acc2 = tl.zeros([BLOCK_Y, BLOCK_X], dtype=src_ptr.dtype.element_ty)
    if TC == 1:  # the GPU: one tap per step, 2-D tiles
        for m in range(M):
            dy = tl.load(offs_ptr + (n * M + m) * 2)
            dx = tl.load(offs_ptr + (n * M + m) * 2 + 1)
            wt = tl.load(taps_ptr + n * M + m)
            p = src + tl.minimum(tl.maximum(ys + dy, 0), h - 1) * src_y + tl.minimum(tl.maximum(xs + dx, 0), w - 1)
            acc0 += wt * tl.load(p, mask=mask, other=0.0)
            acc1 += wt * tl.load(p + src_c, mask=mask, other=0.0)
            acc2 += wt * tl.load(p + 2 * src_c, mask=mask, other=0.0)
    else:  # the interpreter: TC taps per step, [TC, BLOCK_Y, BLOCK_X] gathers
        mask3 = mask[None, :, :]
        for m0 in range(0, M, TC):
            mm = n * M + m0 + tl.arange(0, TC)
            dy = tl.load(offs_ptr + mm * 2)[:, None, None]
            dx = tl.load(offs_ptr + mm * 2 + 1)[:, None, None]
            wt = tl.load(taps_ptr + mm)[:, None, None]
            yy = tl.minimum(tl.maximum(ys[None, :, :] + dy, 0), h - 1)
            xx = tl.minimum(tl.maximum(xs[None, :, :] + dx, 0), w - 1)
            p = src + yy * src_y + xx
            acc0 += tl.sum(wt * tl.load(p, mask=mask3, other=0.0), axis=0)
            acc1 += tl.sum(wt * tl.load(p + src_c, mask=mask3, other=0.0), axis=0)
            acc2 += tl.sum(wt * tl.load(p + 2 * src_c, mask=mask3, other=0.0), axis=0)
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    dst_c = field(entries_ptr, n, DST_C)
    tl.store(dst, clip01(acc0), mask=mask)
    tl.store(dst + dst_c, clip01(acc1), mask=mask)
    tl.store(dst + 2 * dst_c, clip01(acc2), mask=mask)


@triton.jit
def _prep_kernel(src_ptr, dst_ptr, views_ptr, entries_ptr, values_ptr, tiles_x, NOISE: tl.constexpr,
                 BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """Over the entry's rectangle: NOISE = 0: (L, a, b) of the RGB source; NOISE = 1 (denoise):
    clip(x + √v·n_c, 0, 1) with the normals n0, n1, n2 of draw 0 at image coordinates."""
    n = tl.program_id(1)
    ys, xs, mask = _view_tile(views_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    v = views_ptr + n * _NV
    src = src_ptr + tl.load(v + 0) + ys * tl.load(v + 2) + xs
    src_c = tl.load(v + 1)
    dst = dst_ptr + tl.load(v + 3) + ys * tl.load(v + 5) + xs
    dst_c = tl.load(v + 4)
    r = tl.load(src, mask=mask, other=0.0)
    g = tl.load(src + src_c, mask=mask, other=0.0)
    b = tl.load(src + 2 * src_c, mask=mask, other=0.0)
    if NOISE:
        dtype = src_ptr.dtype.element_ty
        gx = xs + field(entries_ptr, n, RNG_X0) + ys * 0  # image coordinates, full tile
        gy = ys + field(entries_ptr, n, RNG_Y0) + xs * 0
        n0, n1, n2 = pixel_normals3(field(entries_ptr, n, SEED), gx, gy, 0, dtype)
        s = tl.sqrt(tl.load(values_ptr + n)).to(dtype)
        c0 = r + s * n0
        c1 = g + s * n1
        c2 = b + s * n2
        c0 = tl.where(c0 < 0, 0.0, tl.where(c0 > 1, 1.0, c0)).to(dtype)
        c1 = tl.where(c1 < 0, 0.0, tl.where(c1 > 1, 1.0, c1)).to(dtype)
        c2 = tl.where(c2 < 0, 0.0, tl.where(c2 > 1, 1.0, c2)).to(dtype)
    else:
        c0, c1, c2 = rgb_to_lab(r, g, b)
    tl.store(dst, c0, mask=mask)
    tl.store(dst + dst_c, c1, mask=mask)
    tl.store(dst + 2 * dst_c, c2, mask=mask)


@triton.jit
def _np_gradient(fm, fp, i, n):
    """numpy.gradient at index i from f[clamp(i − 1)] and f[clamp(i + 1)]: central inside,
    one-sided at the ends, 0 for a length-1 axis."""
    interior = (i > 0) & (i < n - 1)
    return tl.where(interior, (fp - fm) / 2, fp - fm)


@triton.jit
def _laplacian_axis(lab, step, i, n, mask):
    """∂∂ L along one axis (np_gradient of np_gradient) at index i; ``lab`` points at L[i] and
    ``step`` is the element step of the axis."""
    jm = tl.maximum(i - 1, 0)
    jp = tl.minimum(i + 1, n - 1)
    f_mm = tl.load(lab + (tl.maximum(jm - 1, 0) - i) * step, mask=mask, other=0.0)
    f_mp = tl.load(lab + (tl.minimum(jm + 1, n - 1) - i) * step, mask=mask, other=0.0)
    f_pm = tl.load(lab + (tl.maximum(jp - 1, 0) - i) * step, mask=mask, other=0.0)
    f_pp = tl.load(lab + (tl.minimum(jp + 1, n - 1) - i) * step, mask=mask, other=0.0)
    return _np_gradient(_np_gradient(f_mm, f_mp, jm, n), _np_gradient(f_pm, f_pp, jp, n), i, n)


@triton.jit
def _lab_out_kernel(lab_ptr, blur_ptr, dst_ptr, views_ptr, values_ptr, tiles_x, MODE: tl.constexpr,
                    TRUNC: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """Lab → RGB over the out-region (the view's source: the Lab temporary; ``blur_ptr``: a
    temporary of the same layout). MODE 0: unsharp reiqa, L − v·(∂yy L + ∂xx L) (numpy.gradient
    twice); 1: unsharp kadis/arniqa, L + v·(L − blur₀); 2: colour diffusion, (L, v·blur₁, v·blur₂),
    quantised to trunc(255·y)/255 when TRUNC."""
    n = tl.program_id(1)
    ys, xs, mask = _view_tile(views_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    v = views_ptr + n * _NV
    h = tl.load(v + 6)
    w = tl.load(v + 7)
    ys = tl.minimum(ys, h - 1)
    xs = tl.minimum(xs, w - 1)
    t_off = tl.load(v + 0) + ys * tl.load(v + 2) + xs
    t_c = tl.load(v + 1)
    t_y = tl.load(v + 2)
    value = tl.load(values_ptr + n)
    lab = lab_ptr + t_off
    L = tl.load(lab, mask=mask, other=0.0)
    a = tl.load(lab + t_c, mask=mask, other=0.0)
    b = tl.load(lab + 2 * t_c, mask=mask, other=0.0)
    value = value.to(L.dtype)
    if MODE == 0:
        lap = _laplacian_axis(lab, 1, xs, w, mask) + _laplacian_axis(lab, t_y, ys, h, mask)
        L = L - value * lap
        L = tl.minimum(tl.maximum(L, 0.0), 100.0)
    elif MODE == 1:
        blur = tl.load(blur_ptr + t_off, mask=mask, other=0.0)
        L = L + value * (L - blur)
        L = tl.minimum(tl.maximum(L, 0.0), 100.0)
    else:
        a = tl.load(blur_ptr + t_off + t_c, mask=mask, other=0.0) * value
        b = tl.load(blur_ptr + t_off + 2 * t_c, mask=mask, other=0.0) * value
    r, g, bb = lab_to_rgb(L, a, b)
    if TRUNC:
        r = tl.floor(r * 255 + TRUNC255_GUARD) / 255  # registry.TRUNC255_GUARD
        g = tl.floor(g * 255 + TRUNC255_GUARD) / 255
        bb = tl.floor(bb * 255 + TRUNC255_GUARD) / 255
    dst = dst_ptr + tl.load(v + 3) + ys * tl.load(v + 5) + xs
    dst_c = tl.load(v + 4)
    tl.store(dst, clip01(r), mask=mask)
    tl.store(dst + dst_c, clip01(g), mask=mask)
    tl.store(dst + 2 * dst_c, clip01(bb), mask=mask)


# ---------------------------------------------------------------------------------------------
# Host side: per-entry tables.


def _keys(*columns: torch.Tensor) -> tuple[list[tuple[float, ...]], torch.Tensor]:
    """Distinct rows of the per-entry decision columns (host float64) and each entry's row index."""
    table = torch.stack([c.to(torch.float64) for c in columns], dim=1)
    uniq, inverse = torch.unique(table, dim=0, return_inverse=True)
    return [tuple(row) for row in uniq.tolist()], inverse


def _sparse_taps(kernels: list[torch.Tensor], inverse: torch.Tensor):
    """Per-entry (dy, dx) int64 [N, M, 2] and weights float64 [N, M] of the non-zero taps of the
    odd-sized correlation kernels (row-major order), padded with zero taps to the maximum M."""
    lists = []
    for k in kernels:
        ry, rx = k.shape[0] // 2, k.shape[1] // 2
        nz = torch.nonzero(k)
        lists.append((nz - torch.tensor([ry, rx]), k[nz[:, 0], nz[:, 1]]))
    m = _round_up(max(1, max(len(w) for _, w in lists)), TAP_CHUNK)
    offs = torch.zeros(len(kernels), m, 2, dtype=torch.int64)
    weights = torch.zeros(len(kernels), m, dtype=torch.float64)
    for i, (o, w) in enumerate(lists):
        offs[i, :len(w)] = o
        weights[i, :len(w)] = w
    return offs[inverse], weights[inverse], m


def _round_up(a: int, b: int) -> int:
    return cdiv(a, b) * b


def _conv2d(group, kernels: list[torch.Tensor], inverse: torch.Tensor) -> None:
    offs, weights, m = _sparse_taps(kernels, inverse)
    device, dtype = group.src.device, group.src.dtype
    offs = offs.to(device)
    weights = weights.to(device=device, dtype=dtype)
    grid, tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _conv2d_kernel[grid](group.src, group.dst, group.entries, offs, weights, tiles_x, M=m, TC=TAP_CHUNK,
                         BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


def _pad_taps(per_key: list[list[float]], inverse: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Centred odd tap lists, one per key, zero-padded to the longest: float64 [N, T], T."""
    t = max(len(k) for k in per_key)
    table = torch.zeros(len(per_key), t, dtype=torch.float64)
    for i, k in enumerate(per_key):
        lo = (t - len(k)) // 2
        table[i, lo:lo + len(k)] = torch.tensor(k, dtype=torch.float64)
    return table[inverse], t


class _Plan:
    """Views, rectangles and temporaries of one multi-pass launch (radii: the group maxima)."""

    def __init__(self, group, ry: int, rx: int):
        e = group.host_entries
        self.group, self.e, self.n = group, e, e.shape[0]
        self.ry, self.rx = ry, rx
        reach = self.rect(ry, rx)  # every pixel a pass of this plan reads or writes
        self.origin = reach[:, [0, 2]]
        self.th = max(1, int((reach[:, 1] - reach[:, 0]).max()))
        self.tw = max(1, int((reach[:, 3] - reach[:, 2]).max()))
        self.views: list[torch.Tensor] = []
        self.taps: list[torch.Tensor] = []
        self.launches = []

    def temp(self) -> torch.Tensor:
        g = self.group
        return torch.empty(self.n * 3 * self.th * self.tw, dtype=g.src.dtype, device=g.src.device)

    def image(self, src: bool) -> torch.Tensor:
        e = self.e
        return e[:, [SRC.value, SRC_C.value, SRC_Y.value]] if src else e[:, [DST.value, DST_C.value, DST_Y.value]]

    def tmp_view(self) -> torch.Tensor:
        plane = self.th * self.tw
        base = torch.arange(self.n, dtype=torch.int64) * 3 * plane
        off = base - self.origin[:, 0] * self.tw - self.origin[:, 1]
        return torch.stack([off, torch.full_like(off, plane), torch.full_like(off, self.tw)], dim=1)

    def rect(self, ry: int, rx: int) -> torch.Tensor:
        """The out-region grown by (ry, rx), clamped to the image."""
        e = self.e
        zero = torch.zeros_like(e[:, 0])
        y0 = torch.maximum(e[:, OY0.value] - ry, zero)
        y1 = torch.minimum(e[:, OY1.value] + ry, e[:, H.value])
        x0 = torch.maximum(e[:, OX0.value] - rx, zero)
        x1 = torch.minimum(e[:, OX1.value] + rx, e[:, W.value])
        return torch.stack([y0, y1, x0, x1], dim=1)

    def add(self, kernel, src_buf, src_view, dst_buf, dst_view, rect, taps=None, **meta) -> None:
        e = self.e
        row = torch.cat([src_view, dst_view, e[:, [H.value, W.value]], rect], dim=1)
        self.views.append(row)
        tap_index = None
        if taps is not None:
            tap_index = len(self.taps)
            self.taps.append(taps.reshape(-1))
        tiles_x = cdiv(max(1, int((rect[:, 3] - rect[:, 2]).max())), BLOCK_X)
        tiles_y = cdiv(max(1, int((rect[:, 1] - rect[:, 0]).max())), BLOCK_Y)
        self.launches.append((kernel, src_buf, dst_buf, len(self.views) - 1, tap_index, tiles_x, tiles_y, meta))

    def run(self) -> None:
        g = self.group
        views = torch.stack(self.views).to(g.src.device)
        taps_flat = torch.cat(self.taps) if self.taps else torch.zeros(1, dtype=torch.float64)
        starts = [0]
        for t in self.taps:
            starts.append(starts[-1] + t.numel())
        taps = taps_flat.to(device=g.src.device, dtype=g.src.dtype)
        for kernel, src_buf, dst_buf, vi, ti, tiles_x, tiles_y, meta in self.launches:
            grid = (tiles_y * tiles_x, self.n)
            if kernel is _pass_kernel:
                _pass_kernel[grid](src_buf, dst_buf, views[vi], taps[starts[ti]:], tiles_x, **meta,
                                   BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)
            elif kernel is _prep_kernel:
                _prep_kernel[grid](src_buf, dst_buf, views[vi], g.entries, g.values, tiles_x, **meta,
                                   BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)
            else:
                lab_buf, blur_buf = src_buf
                _lab_out_kernel[grid](lab_buf, blur_buf, dst_buf, views[vi], g.values, tiles_x, **meta,
                                      BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


def _separable(plan: _Plan, src_buf, src_view, taps_x: list[tuple[torch.Tensor, int]],
               taps_y: list[tuple[torch.Tensor, int]], final_buf, final_view, final_rect, clip: bool,
               c0: int = 0, nc: int = 3, temps=None) -> None:
    """Adds the x passes then the y passes (per-entry taps [N, T], T) from ``src`` to ``final``;
    the intermediate results ping-pong between two temporaries (``temps``, else new ones)."""
    temps = temps if temps is not None else [plan.temp(), plan.temp()]
    tmp_view = plan.tmp_view()
    passes = [(t, True) for t in taps_x] + [(t, False) for t in taps_y]
    rem_x = sum(t // 2 for _, t in taps_x)
    rem_y = sum(t // 2 for _, t in taps_y)
    cur_buf, cur_view = src_buf, src_view
    for i, ((taps, t), axis_x) in enumerate(passes):
        if axis_x:
            rem_x -= t // 2
        else:
            rem_y -= t // 2
        last = i == len(passes) - 1
        if last:
            dst_buf, dst_view, rect = final_buf, final_view, final_rect
        else:  # x passes: every row the y passes will read; y passes: the columns of the out-region
            dst_buf, dst_view, rect = temps[i % 2], tmp_view, plan.rect(rem_y, rem_x)
        padded = _round_up(t, TAP_CHUNK)
        taps = torch.nn.functional.pad(taps, (0, padded - t))
        plan.add(_pass_kernel, cur_buf, cur_view, dst_buf, dst_view, rect, taps=taps, T=padded, R=t // 2,
                 TC=TAP_CHUNK, AXIS_X=axis_x, C0=c0, NC=nc, CLIP=clip and last)
        cur_buf, cur_view = dst_buf, dst_view


def _radius(passes: list[tuple[torch.Tensor, int]]) -> int:
    return sum(t // 2 for _, t in passes)


# ---------------------------------------------------------------------------------------------
# Launchers.


def motion_blur(group) -> None:
    """§4.5: reiqa, the centred axis-aligned line of length k (x if aux[0] < 0.5, else y);
    kadis/arniqa, ``fspecial('motion', k, ⌊aux[0]·181⌋)``; one direct correlation."""
    aux0 = group.host_aux[:, 0]
    if group.preset == "reiqa":
        keys, inverse = _keys(group.host_values, (aux0 >= 0.5).to(torch.float64))
        kernels = []
        for value, vertical in keys:
            k = int(value)
            line = [0.5 / k] + [1.0 / k] * (k - 1) + [0.5 / k] if k % 2 == 0 else [1.0 / k] * k
            line = torch.tensor(line, dtype=torch.float64)
            kernels.append(line.view(-1, 1) if vertical else line.view(1, -1))
    else:
        keys, inverse = _keys(group.host_values, torch.floor(aux0 * 181))
        kernels = [cached_kernel("motion", value, int(theta)) for value, theta in keys]
    _conv2d(group, kernels, inverse)


def lens_blur(group) -> None:
    """§4.7: the exact ``fspecial('disk', r)`` kernel, one direct correlation."""
    keys, inverse = _keys(group.host_values)
    _conv2d(group, [cached_kernel("disk", value) for (value,) in keys], inverse)


def _pillow_gaussian(sigma: float) -> list[list[float]]:
    return [pillow_box_taps(pillow_gaussian_radius(sigma, 3))] * 3


def _tap_passes(per_key: list[list[list[float]]], inverse: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
    """Per key a list of passes (tap lists) → per pass (per-entry taps, T); keys with fewer passes
    get identity passes."""
    n_pass = max(len(p) for p in per_key)
    padded = [p + [[1.0]] * (n_pass - len(p)) for p in per_key]
    return [_pad_taps([p[i] for p in padded], inverse) for i in range(n_pass)]


def gaussian_blur(group) -> None:
    """§4.6: reiqa, Pillow ``GaussianBlur(σ)`` (3 extended-box passes per axis); kadis/arniqa, the
    MATLAB sampled Gaussian, one pass per axis."""
    keys, inverse = _keys(group.host_values)
    if group.preset == "reiqa":
        per_key = [_pillow_gaussian(v) for (v,) in keys]
    else:
        per_key = [[matlab_gaussian_taps(v)] for (v,) in keys]
    passes = _tap_passes(per_key, inverse)
    r = _radius(passes)
    plan = _Plan(group, r, r)
    _separable(plan, group.src, plan.image(True), passes, passes, group.dst, plan.image(False),
               plan.rect(0, 0), clip=True)
    plan.run()


def denoise(group) -> None:
    """§4.19 (reiqa): clip(x + √v·n), then Pillow ``GaussianBlur(3)`` (aux[0] < 0.5) or
    ``BoxBlur(2)`` (one pass per axis, identity passes after it)."""
    if group.preset != "reiqa":
        raise ValueError(f"denoise: preset {group.preset!r} is not implemented on the GPU")
    keys, inverse = _keys((group.host_aux[:, 0] >= 0.5).to(torch.float64))
    per_key = [[pillow_box_taps(2.0)] if box else _pillow_gaussian(3.0) for (box,) in keys]
    passes = _tap_passes(per_key, inverse)
    r = _radius(passes)
    plan = _Plan(group, r, r)
    temps = [plan.temp(), plan.temp()]
    noisy = plan.temp()
    plan.add(_prep_kernel, group.src, plan.image(True), noisy, plan.tmp_view(), plan.rect(r, r), NOISE=True)
    _separable(plan, noisy, plan.tmp_view(), passes, passes, group.dst, plan.image(False), plan.rect(0, 0),
               clip=True, temps=temps)
    plan.run()


def _gaussian_taps(sigma: float, radius: int) -> list[float]:
    """The reference's exp(−k²/2σ²)/Σ window, computed the same way (torch, float64)."""
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * k**2 / sigma**2)
    return (w / w.sum()).tolist()


def unsharp_mask(group) -> None:
    """§4.10 on L (Lab temporary over the out-region grown by the stencil's reach): reiqa, the
    numpy.gradient Laplacian (reach 2); kadis/arniqa, a 13-tap Gaussian (σ 3) in two passes."""
    if group.preset == "reiqa":
        plan = _Plan(group, 2, 2)
        lab = plan.temp()
        plan.add(_prep_kernel, group.src, plan.image(True), lab, plan.tmp_view(), plan.rect(2, 2), NOISE=False)
        plan.add(_lab_out_kernel, (lab, lab), plan.tmp_view(), group.dst, plan.image(False), plan.rect(0, 0),
                 MODE=0, TRUNC=False)
        plan.run()
        return
    inverse = torch.zeros(group.size, dtype=torch.int64)
    passes = [_pad_taps([_gaussian_taps(3.0, 6)], inverse)]
    plan = _Plan(group, 6, 6)
    lab, t1, t2 = plan.temp(), plan.temp(), plan.temp()
    plan.add(_prep_kernel, group.src, plan.image(True), lab, plan.tmp_view(), plan.rect(6, 6), NOISE=False)
    _separable(plan, lab, plan.tmp_view(), passes, passes, t2, plan.tmp_view(), plan.rect(0, 0), clip=False,
               c0=0, nc=1, temps=[t1, t2])
    plan.add(_lab_out_kernel, (lab, t2), plan.tmp_view(), group.dst, plan.image(False), plan.rect(0, 0),
             MODE=1, TRUNC=False)
    plan.run()


def color_diffuse(group) -> None:
    """§4.22: a*, b* blurred (σ = 1.5a + 2; reiqa radius ⌊4σ + 0.5⌋, else ⌈2σ⌉; two passes) and
    multiplied by a; arniqa quantises to trunc(255·y)/255."""
    keys, inverse = _keys(group.host_values)
    per_key = []
    for (value,) in keys:
        sigma = 1.5 * value + 2
        radius = int(4 * sigma + 0.5) if group.preset == "reiqa" else math.ceil(2 * sigma)
        per_key.append(_gaussian_taps(sigma, radius))
    passes = [_pad_taps(per_key, inverse)]
    r = _radius(passes)
    plan = _Plan(group, r, r)
    lab, t1, t2 = plan.temp(), plan.temp(), plan.temp()
    plan.add(_prep_kernel, group.src, plan.image(True), lab, plan.tmp_view(), plan.rect(r, r), NOISE=False)
    _separable(plan, lab, plan.tmp_view(), passes, passes, t2, plan.tmp_view(), plan.rect(0, 0), clip=False,
               c0=1, nc=2, temps=[t1, t2])
    plan.add(_lab_out_kernel, (lab, t2), plan.tmp_view(), group.dst, plan.image(False), plan.rect(0, 0),
             MODE=2, TRUNC=group.preset == "arniqa")
    plan.run()


LAUNCHERS = {4: motion_blur, 5: gaussian_blur, 6: lens_blur, 9: unsharp_mask, 18: denoise, 21: color_diffuse}
