"""Elementwise, elementwise + RNG and pointwise colour distortions (DISTORTIONS.md §6).

One kernel template (:func:`_pointwise_kernel`) for the whole class, specialised per type by the
``TYPE`` constexpr (a launch group is one type, so one compile per type, dtype and preset); a
program is one tile of one entry's out-region (``_common``) and reads the same pixel of the three
planes. Per-level values are per entry (``values[n]``); scalar coefficients are formed in float64
and cast to the buffer's dtype, in which every per-pixel formula is computed.

Noise types draw Philox in-kernel at image coordinates (RNG_X0 + x, RNG_Y0 + y), draw 0, as the
reference's ``pixel_normals`` (normals 0, 1, 2) and ``_uniforms`` (words 0, 1, 2; word 0 for
reiqa's grey impulses).

quantization (arniqa) is two launches: a per-entry min/max of the bucket indices over the whole
image the entry sees (tile-local reductions folded with integer atomics: order-free, so
deterministic), then the pointwise stretch.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from triton_kernels._common import cdiv
from triton_kernels.distort._common import (
    DST,
    DST_C,
    DST_Y,
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
    philox_words,
    pixel_normals3,
    rgb_to_lab,
    tile_coords,
    tile_grid,
    uniform,
)

BLOCK_Y, BLOCK_X = 16, 32

# Type ids (pyiqa_fast/distortions/registry.py).
MEAN_SHIFT, CONTRAST, WHITE_NOISE, WHITE_NOISE_YCBCR, IMPULSE_NOISE, MULTIPLICATIVE_NOISE = 7, 8, 14, 15, 16, 17
BRIGHTEN, DARKEN, SATURATE, SATURATE_HSV, QUANTIZATION, NONLINEAR_CONTRAST = 19, 20, 23, 24, 27, 28
PRESET_IDS = {"reiqa": 0, "kadis": 1, "arniqa": 2}
_KADIS, _ARNIQA = 1, 2


@triton.jit
def _tone(x, two_a):
    """clip(x + 2A·x(1 − x), 0, 1) (reference ``_tone``; NaN passes)."""
    return clip01(x + two_a * x * (1.0 - x))


@triton.jit
def _trunc255(v):
    """trunc(255·v)/255 for v ∈ [0, 1] (floor = trunc there), with registry.TRUNC255_GUARD."""
    return tl.floor(v * 255.0 + TRUNC255_GUARD) / 255.0


@triton.jit
def _quant_index(x, n):
    """torch.bucketize(255·x, edges) with edges [0, ⌊255i/n⌋ (i = 1..n−1), 256]: the number of edges
    strictly below v = 255·x (formed in x's dtype). For an integer edge m, m < v ⇔ m < c = ⌈v⌉, and
    ⌊255i/n⌋ < c ⇔ 255i ≤ n·c − 1, so the inner edges below v number clamp(⌊(n·c − 1)/255⌋, 0, n − 1)."""
    v = x * 255.0
    c = tl.minimum(tl.maximum(tl.ceil(v), -1.0), 257.0)
    # in integers: n·c − 1 is often a multiple of 255, where a float quotient one ulp low (the GPU's
    # division is not correctly rounded) would drop a level; negative numerators clamp to 0 either way
    num = n.to(tl.int32) * c.to(tl.int32) - 1
    mid = tl.minimum(tl.maximum(num // 255, 0), n.to(tl.int32) - 1)
    return (v > 0.0).to(tl.int32) + mid + (v > 256.0).to(tl.int32)


@triton.jit
def _hsv_pick(hi, c0, c1, c2, c3, c4, c5):
    return tl.where(hi == 0, c0, tl.where(hi == 1, c1, tl.where(hi == 2, c2, tl.where(hi == 3, c3,
                                                                                  tl.where(hi == 4, c4, c5)))))


@triton.jit
def _saturate_hsv(r, g, b, f):
    """scikit-image rgb2hsv, S × f, hsv2rgb (reference ``colour``; s·f may leave [0, 1])."""
    v = tl.maximum(tl.maximum(r, g), b)
    delta = v - tl.minimum(tl.minimum(r, g), b)
    safe = tl.where(delta > 0, delta, 1.0)
    s = tl.where(v > 0, delta / tl.where(v > 0, v, 1.0), 0.0)
    h = tl.where(b == v, 4.0 + (r - g) / safe, tl.where(g == v, 2.0 + (b - r) / safe, (g - b) / safe))
    h = h / 6.0
    h = tl.where(delta > 0, h - tl.floor(h), 0.0)
    s = s * f
    h6 = h * 6.0
    hi = tl.floor(h6)
    frac = h6 - hi
    hi = hi - 6.0 * tl.floor(hi / 6.0)  # torch.remainder(hi, 6)
    p = v * (1.0 - s)
    q = v * (1.0 - frac * s)
    t = v * (1.0 - (1.0 - frac) * s)
    return (_hsv_pick(hi, v, q, p, p, t, v), _hsv_pick(hi, t, v, v, q, p, p), _hsv_pick(hi, p, p, t, v, v, q))


@triton.jit
def _pointwise_kernel(src_ptr, dst_ptr, entries_ptr, values_ptr, stats_ptr, tiles_x,
                      TYPE: tl.constexpr, PRESET: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    n = tl.program_id(1)
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    src = src_ptr + field(entries_ptr, n, SRC) + ys * field(entries_ptr, n, SRC_Y) + xs
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    src_c = field(entries_ptr, n, SRC_C)
    dst_c = field(entries_ptr, n, DST_C)
    value = tl.load(values_ptr + n)  # float64
    r = tl.load(src, mask=mask, other=0.0)
    g = tl.load(src + src_c, mask=mask, other=0.0)
    b = tl.load(src + 2 * src_c, mask=mask, other=0.0)
    dt = r.dtype

    if TYPE == 7:  # mean_shift §4.8
        m = value.to(dt)
        r, g, b = r + m, g + m, b + m
    elif TYPE == 8:  # contrast §4.9
        beta = -(0.05 + 0.25 * value) / 0.042
        c1 = (1.0 - beta / 4.0).to(dt)
        c3 = beta.to(dt)
        dr, dg, db = r - 0.5, g - 0.5, b - 0.5
        r = 0.5 + c1 * dr + c3 * (dr * dr * dr)
        g = 0.5 + c1 * dg + c3 * (dg * dg * dg)
        b = 0.5 + c1 * db + c3 * (db * db * db)
    elif TYPE == 19:  # brighten §4.20
        two_a = (2.0 * value).to(dt)
        L, A, B = rgb_to_lab(r, g, b)
        L = 100.0 * _tone(L / 100.0, two_a)
        r2, g2, b2 = lab_to_rgb(L, A, B)
        r = (2.0 * _tone(r, two_a) + r2) / 3.0
        g = (2.0 * _tone(g, two_a) + g2) / 3.0
        b = (2.0 * _tone(b, two_a) + b2) / 3.0
    elif TYPE == 20:  # darken §4.21
        two_a = (-2.0 * value).to(dt)
        r, g, b = _tone(r, two_a), _tone(g, two_a), _tone(b, two_a)
    elif TYPE == 23:  # saturate §4.24
        if PRESET == 2:
            # trunc(255·y) after the round trip: computed in float64 whatever the buffer, so that the
            # truncation falls where the reference's does (a float32 round trip of white, or of
            # k/255 at S = 1, lands an ulp below and truncates a whole step lower).
            L, A, B = rgb_to_lab(r.to(tl.float64), g.to(tl.float64), b.to(tl.float64))
            r, g, b = lab_to_rgb(L, A * value, B * value)
            r, g, b = _trunc255(r), _trunc255(g), _trunc255(b)
        else:
            s = value.to(dt)
            L, A, B = rgb_to_lab(r, g, b)
            r, g, b = lab_to_rgb(L, A * s, B * s)
    elif TYPE == 24:  # saturate_hsv §4.25
        r, g, b = _saturate_hsv(r, g, b, value.to(dt))
    elif TYPE == 28:  # nonlinear_contrast §4.25
        slope = (2.0 * value).to(dt)
        offset = (0.5 - value).to(dt)
        r, g, b = offset + slope * clip01(r), offset + slope * clip01(g), offset + slope * clip01(b)
    elif TYPE == 27:  # quantization §4.25 (arniqa), after _quant_minmax_kernel
        nb = value.to(tl.int32)
        lo = tl.load(stats_ptr + 2 * n)
        hi = tl.load(stats_ptr + 2 * n + 1)
        ir = _quant_index(r, nb).to(dt)
        ig = _quant_index(g, nb).to(dt)
        ib = _quant_index(b, nb).to(dt)
        if lo < hi:
            lo_f = lo.to(dt)
            span = (hi - lo).to(dt)
            ir, ig, ib = (ir - lo_f) / span, (ig - lo_f) / span, (ib - lo_f) / span
        r, g, b = ir, ig, ib
    else:  # the RNG types: Philox counters (x, y, draw 0, domain 0) at image coordinates
        seed = field(entries_ptr, n, SEED)
        gx = field(entries_ptr, n, RNG_X0) + xs + 0 * ys
        gy = field(entries_ptr, n, RNG_Y0) + ys + 0 * xs
        if TYPE == 16:  # impulse_noise §4.17
            w0, w1, w2, _w3 = philox_words(seed, gx, gy, 0)
            half = value / 2.0
            # u = (w >> 8)·2⁻²⁴ exactly: u < d/2 ⇔ k < ⌈2²⁴·d/2⌉, u > 1 − d/2 ⇔ k > ⌊2²⁴·(1 − d/2)⌋.
            lo_k = tl.ceil(half * 16777216.0).to(tl.int64)
            hi_k = tl.floor((1.0 - half) * 16777216.0).to(tl.int64)
            k0 = (w0 >> 8).to(tl.int64)
            if PRESET == 0:
                k1, k2 = k0, k0
            else:
                k1 = (w1 >> 8).to(tl.int64)
                k2 = (w2 >> 8).to(tl.int64)
            r = tl.where(k0 > hi_k, 1.0, tl.where(k0 < lo_k, 0.0, r)).to(dt)
            g = tl.where(k1 > hi_k, 1.0, tl.where(k1 < lo_k, 0.0, g)).to(dt)
            b = tl.where(k2 > hi_k, 1.0, tl.where(k2 < lo_k, 0.0, b)).to(dt)
        elif TYPE == 17 and PRESET == 1:  # multiplicative_noise §4.18, kadis (speckle)
            w0, w1, w2, _w3 = philox_words(seed, gx, gy, 0)
            amp = tl.sqrt(3.0 * value).to(dt)
            r = r + r * (amp * (2.0 * uniform(w0, dt) - 1.0))
            g = g + g * (amp * (2.0 * uniform(w1, dt) - 1.0))
            b = b + b * (amp * (2.0 * uniform(w2, dt) - 1.0))
        else:
            n0, n1, n2 = pixel_normals3(seed, gx, gy, 0, dt)
            sigma = tl.sqrt(value).to(dt)
            n0, n1, n2 = sigma * n0, sigma * n1, sigma * n2
            if TYPE == 14:  # white_noise §4.15
                r, g, b = r + n0, g + n1, b + n2
            elif TYPE == 17:  # multiplicative_noise §4.18, reiqa/arniqa
                r, g, b = r + r * n0, g + g * n1, b + b * n2
            elif PRESET == 2:  # white_noise_ycbcr §4.16, arniqa: kornia full range, exact inverse
                yy = 0.299 * r + 0.587 * g + 0.114 * b
                cb = 0.564 * (b - yy) + 0.5 + n1
                cr = 0.713 * (r - yy) + 0.5 + n2
                yy = yy + n0
                r = yy + (cr - 0.5) / 0.713
                b = yy + (cb - 0.5) / 0.564
                g = (yy - 0.299 * r - 0.114 * b) / 0.587
            else:  # white_noise_ycbcr, reiqa/kadis: BT.601 studio swing (kadis clips the noisy YCbCr)
                yy = (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0 + n0
                cb = (128.0 - 37.797 * r - 74.203 * g + 112.0 * b) / 255.0 + n1
                cr = (128.0 + 112.0 * r - 93.786 * g - 18.214 * b) / 255.0 + n2
                if PRESET == 1:
                    yy, cb, cr = clip01(yy), clip01(cb), clip01(cr)
                yy = yy - 16.0 / 255.0
                cb = cb - 128.0 / 255.0
                cr = cr - 128.0 / 255.0
                # torch.linalg.inv(STUDIO / 255) in float64 (colour.py), to the last bit
                r = 1.1643835616438356 * yy + 3.011243973294133e-07 * cb + 1.5960268873357042 * cr
                g = 1.1643835616438356 * yy - 0.3917625399414501 * cb - 0.8129682921622053 * cr
                b = 1.1643835616438356 * yy + 2.0172326395564593 * cb + 3.0542617454250663e-06 * cr

    tl.store(dst, clip01(r.to(dt)), mask=mask)
    tl.store(dst + dst_c, clip01(g.to(dt)), mask=mask)
    tl.store(dst + 2 * dst_c, clip01(b.to(dt)), mask=mask)


@triton.jit
def _quant_minmax_kernel(src_ptr, entries_ptr, values_ptr, stats_ptr, tiles_x,
                         BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """min/max of the bucket indices over the whole image entry n sees (all channels) into
    stats[n, 0:2] (int32, initialised to (big, −1)) with atomics."""
    n = tl.program_id(1)
    tile = tl.program_id(0)
    ys = (tile // tiles_x) * BLOCK_Y + tl.arange(0, BLOCK_Y)[:, None]
    xs = (tile % tiles_x) * BLOCK_X + tl.arange(0, BLOCK_X)[None, :]
    mask = (ys < field(entries_ptr, n, H)) & (xs < field(entries_ptr, n, W))
    src = src_ptr + field(entries_ptr, n, SRC) + ys * field(entries_ptr, n, SRC_Y) + xs
    src_c = field(entries_ptr, n, SRC_C)
    nb = tl.load(values_ptr + n).to(tl.int32)
    lo = tl.full([BLOCK_Y, BLOCK_X], 2147483647, tl.int32)
    hi = tl.full([BLOCK_Y, BLOCK_X], -1, tl.int32)
    for c in tl.static_range(3):
        idx = _quant_index(tl.load(src + c * src_c, mask=mask, other=0.0), nb)
        lo = tl.minimum(lo, tl.where(mask, idx, 2147483647))
        hi = tl.maximum(hi, tl.where(mask, idx, -1))
    tile_lo = tl.min(tl.min(lo, axis=1), axis=0)
    tile_hi = tl.max(tl.max(hi, axis=1), axis=0)
    if tile_hi >= 0:  # the tile holds pixels of this entry
        tl.atomic_min(stats_ptr + 2 * n, tile_lo)
        tl.atomic_max(stats_ptr + 2 * n + 1, tile_hi)


def _launch(group, stats=None) -> None:
    grid, tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _pointwise_kernel[grid](group.src, group.dst, group.entries, group.values,
                            group.entries if stats is None else stats, tiles_x,
                            TYPE=group.type_id, PRESET=PRESET_IDS[group.preset], BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


def pointwise(group) -> None:
    """Launcher of every elementwise type but quantization."""
    _launch(group)


def quantization(group) -> None:
    """arniqa quantization: per-entry min/max of the bucket indices, then the stretch."""
    if group.preset != "arniqa":
        raise ValueError(f"quantization: preset {group.preset!r} has no Triton kernel (arniqa only)")
    device = group.src.device
    stats = torch.empty((group.size, 2), dtype=torch.int32, device=device)
    stats[:, 0] = 2147483647
    stats[:, 1] = -1
    tiles_x = cdiv(int(group.host_entries[:, W.value].max()), BLOCK_X)
    tiles_y = cdiv(int(group.host_entries[:, H.value].max()), BLOCK_Y)
    _quant_minmax_kernel[(tiles_y * tiles_x, group.size)](group.src, group.entries, group.values, stats, tiles_x,
                                                          BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)
    _launch(group, stats)


LAUNCHERS = {
    MEAN_SHIFT: pointwise, CONTRAST: pointwise, WHITE_NOISE: pointwise, WHITE_NOISE_YCBCR: pointwise,
    IMPULSE_NOISE: pointwise, MULTIPLICATIVE_NOISE: pointwise, BRIGHTEN: pointwise, DARKEN: pointwise,
    SATURATE: pointwise, SATURATE_HSV: pointwise, NONLINEAR_CONTRAST: pointwise, QUANTIZATION: quantization,
}
