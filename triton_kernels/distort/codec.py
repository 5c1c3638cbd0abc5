"""codec class of the distortion kernels (DISTORTIONS.md §6), and the fill / copy and global
statistics operators assigned to this module: colour block (§4.12), non-eccentricity (§4.13),
JPEG (§4.14) and colour shift (§4.23).

Positions, colours and quantisation tables are per-entry tables built on the host from
``group.host_values`` / ``group.host_aux`` (vectorised, no device synchronisation) and uploaded
with one copy per launch.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from pyiqa_fast.distortions.jpeg_tables import JPEG_MATRICES, jpeg_matrices, jpeg_quant_tables
from triton_kernels._common import cdiv
from triton_kernels.distort._common import (
    DST,
    DST_C,
    DST_Y,
    OX0,
    OX1,
    OY0,
    OY1,
    RX0,
    RX1,
    RY0,
    RY1,
    SRC,
    SRC_C,
    SRC_Y,
    H,
    W,
    clip01,
    field,
    tile_coords,
    tile_grid,
)

BLOCK_Y, BLOCK_X = 16, 32


def _upload(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host table on the device without waiting for it (pinned, non-blocking, as the schedule)."""
    if device.type == "cpu":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def _host_region(group):
    e = group.host_entries
    return e[:, RY0.value], e[:, RY1.value], e[:, RX0.value], e[:, RX1.value]


# ---------------------------------------------------------------------------------------------
# Colour block (§4.12): per pixel, the last of ≤ 10 rectangles containing it wins.


@triton.jit
def _color_block_kernel(src_ptr, dst_ptr, entries_ptr, rects_ptr, colours_ptr, counts_ptr, tiles_x,
                        MAX_RECTS: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    src = src_ptr + field(entries_ptr, n, SRC) + ys * field(entries_ptr, n, SRC_Y) + xs
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    src_c = field(entries_ptr, n, SRC_C)
    dst_c = field(entries_ptr, n, DST_C)
    count = tl.load(counts_ptr + n)
    r = clip01(tl.load(src, mask=mask))
    g = clip01(tl.load(src + src_c, mask=mask))
    b = clip01(tl.load(src + 2 * src_c, mask=mask))
    for i in range(count):
        rect = rects_ptr + (n * MAX_RECTS + i) * 4
        colour = colours_ptr + (n * MAX_RECTS + i) * 3
        inside = (ys >= tl.load(rect)) & (ys < tl.load(rect + 1)) & (xs >= tl.load(rect + 2)) & (xs < tl.load(rect + 3))
        r = tl.where(inside, tl.load(colour).to(r.dtype), r)
        g = tl.where(inside, tl.load(colour + 1).to(r.dtype), g)
        b = tl.where(inside, tl.load(colour + 2).to(r.dtype), b)
    tl.store(dst, r, mask=mask)
    tl.store(dst + dst_c, g, mask=mask)
    tl.store(dst + 2 * dst_c, b, mask=mask)


def color_block(group) -> None:
    max_rects = 10
    ry0, ry1, rx0, rx1 = _host_region(group)
    sh, sw = (ry1 - ry0).clamp(max=32), (rx1 - rx0).clamp(max=32)
    u = group.host_aux[:, :5 * max_rects].view(-1, max_rects, 5)
    x = rx0[:, None] + torch.floor(u[..., 0] * (rx1 - rx0 - sw)[:, None].double()).long()
    y = ry0[:, None] + torch.floor(u[..., 1] * (ry1 - ry0 - sh)[:, None].double()).long()
    rects = torch.stack([y, y + sh[:, None], x, x + sw[:, None]], -1)
    colours = u[..., 2:5] if group.preset == "arniqa" else torch.floor(u[..., 2:5] * 256) / 255
    counts = group.host_values.long().clamp(0, max_rects)
    # one upload: the rectangles, the counts and the colours (float64 bits) as int64
    table = torch.cat([rects.reshape(-1), counts, colours.reshape(-1).view(torch.int64)])
    table = _upload(table, group.src.device)
    n = group.size
    rects_d = table[:n * max_rects * 4]
    counts_d = table[n * max_rects * 4:n * max_rects * 4 + n]
    colours_d = table[n * max_rects * 4 + n:].view(torch.float64)
    grid, tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _color_block_kernel[grid](group.src, group.dst, group.entries, rects_d, colours_d, counts_d, tiles_x,
                              MAX_RECTS=max_rects, BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


# ---------------------------------------------------------------------------------------------
# Non-eccentricity (§4.13): copy the out-region, then ≤ 100 sequential 16×16 patch copies in dst
# (sources and destinations lie inside the region, which the out-region contains).


@triton.jit
def _copy_kernel(src_ptr, dst_ptr, entries_ptr, tiles_x, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    src = src_ptr + field(entries_ptr, n, SRC) + ys * field(entries_ptr, n, SRC_Y) + xs
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    src_c = field(entries_ptr, n, SRC_C)
    dst_c = field(entries_ptr, n, DST_C)
    for c in tl.static_range(3):
        tl.store(dst + c * dst_c, clip01(tl.load(src + c * src_c, mask=mask)), mask=mask)


@triton.jit
def _patch_copy_kernel(dst_ptr, entries_ptr, copies_ptr, counts_ptr, MAX_COPIES: tl.constexpr):
    """One program per entry: the copies in order (the whole 3×16×16 patch is read, then written)."""
    n = tl.program_id(0)
    base = dst_ptr + field(entries_ptr, n, DST)
    dst_c = field(entries_ptr, n, DST_C)
    dst_y = field(entries_ptr, n, DST_Y)
    py = tl.arange(0, 16)[:, None]
    px = tl.arange(0, 16)[None, :]
    count = tl.load(counts_ptr + n)
    for i in range(count):
        copy = copies_ptr + (n * MAX_COPIES + i) * 4
        src = base + (tl.load(copy) + py) * dst_y + tl.load(copy + 1) + px
        dst = base + (tl.load(copy + 2) + py) * dst_y + tl.load(copy + 3) + px
        r = tl.load(src)
        g = tl.load(src + dst_c)
        b = tl.load(src + 2 * dst_c)
        tl.debug_barrier()
        tl.store(dst, r)
        tl.store(dst + dst_c, g)
        tl.store(dst + 2 * dst_c, b)
        tl.debug_barrier()


def non_eccentricity(group) -> None:
    max_copies = 100
    ry0, ry1, rx0, rx1 = _host_region(group)
    rnd = torch.round if group.preset == "arniqa" else torch.floor  # round: half to even, as Python's
    u = group.host_aux[:, :4 * max_copies].view(-1, max_copies, 4)
    xs = rx0[:, None] + rnd(u[..., 0] * (rx1 - rx0 - 48)[:, None].double()).long() + 16
    ys = ry0[:, None] + rnd(u[..., 1] * (ry1 - ry0 - 48)[:, None].double()).long() + 16
    xd = rnd((u[..., 2] - 0.5) * 16 + xs.double()).long()
    yd = rnd((u[..., 3] - 0.5) * 16 + ys.double()).long()
    counts = group.host_values.long().clamp(0, max_copies)
    table = torch.cat([torch.stack([ys, xs, yd, xd], -1).reshape(-1), counts])
    table = _upload(table, group.src.device)
    copies_d, counts_d = table[:-group.size], table[-group.size:]
    grid, tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _copy_kernel[grid](group.src, group.dst, group.entries, tiles_x, BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)
    _patch_copy_kernel[(group.size,)](group.dst, group.entries, copies_d, counts_d, MAX_COPIES=max_copies)




# ---------------------------------------------------------------------------------------------
# JPEG (§4.14): libjpeg-turbo's integer pipeline, emulated bit for bit: JFIF colour conversion
# (jccolor.c, 16-bit fixed point), edge replication to whole MCUs, 2×2 chroma downsampling with the
# alternating bias 1, 2 (jcsample.c), islow forward DCT (jfdctint.c), quantisation by libjpeg-turbo's
# reciprocal multiply (jcdctmgr.c, 16-bit DCTELEM), dequantisation and islow inverse DCT (jidctint.c),
# "fancy" triangular chroma upsampling (jdsample.c; plain replication when the chroma plane is at most
# 2 samples wide, as libjpeg-turbo), and ycc_rgb_convert (jdcolor.c). Entropy coding is lossless and
# skipped. Each islow pass is an integer-linear map followed by one rounding shift, so each is an 8×8
# integer matrix product (the matrices are derived from the butterflies below).
#
# Pass 1 (one program per 16×16 MCU of an entry, over the MCUs its out-region and the upsampler's
# one-sample context need): decoded Y and Cb/Cr planes into int32 temporaries. Pass 2 (one program
# per tile of the out-region): upsampling, colour conversion, ÷255.

_JPEG_MATRICES = jpeg_matrices()
_JPEG_MATRICES_SIZE = JPEG_MATRICES


@triton.jit
def _samples(v):
    """⌊255x + 0.5⌋ clamped to 0..255, NaN → 0, as int64 (codec.to_pil)."""
    t = tl.floor(v * 255.0 + 0.5)
    t = tl.where(t == t, t, 0.0)
    return tl.minimum(tl.maximum(t, 0.0), 255.0).to(tl.int64)


@triton.jit
def _fix_rgb_to_ycc(r, g, b):
    """jccolor.c rgb_ycc_convert (FIX(x) = ⌊x·2¹⁶ + 0.5⌋)."""
    y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + 8388608 + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + 8388608 + 32767) >> 16
    return y, cb, cr


@triton.jit
def _load_codec(mats_ptr, q_ptr):
    """The transform matrices and one component's quantisation table (see :func:`_block_codec`)."""
    r8 = tl.arange(0, 8)
    mi = r8[:, None] * 8 + r8[None, :]
    mats = (tl.load(mats_ptr + mi), tl.load(mats_ptr + 64 + mi), tl.load(mats_ptr + 128 + mi),
            tl.load(mats_ptr + 192 + r8), tl.load(mats_ptr + 200 + r8), tl.load(mats_ptr + 208 + r8),
            tl.load(mats_ptr + 216 + r8))
    quant = (tl.load(q_ptr + mi), tl.load(q_ptr + 64 + mi), tl.load(q_ptr + 128 + mi), tl.load(q_ptr + 192 + mi))
    return mats, quant


@triton.jit
def _block_codec(x, mats, quant):
    """Decoded samples of one 8×8 block of samples x (int64 [8, 8], 0..255): level shift, islow FDCT,
    quantise (quantval, reciprocal, correction, shift), dequantise, islow IDCT, range limit."""
    fa, fl, inv, a1, s1, a2, s2 = mats  # fa [u, x], fl [v, y], inv [y, v]
    qv, recip, corr, shift = quant
    x = x - 128
    t = tl.sum(x[:, None, :] * fa[None, :, :], axis=2)  # rows: [y, u]
    t = (t + a1[None, :]) >> s1[None, :]
    f = tl.sum(fl[:, :, None] * t[None, :, :], axis=1)  # columns: [v, u]
    f = (f + a2[:, None]) >> s2[:, None]
    a = ((tl.abs(f) + corr) * recip) >> shift
    coef = tl.where(f < 0, -a, a) * qv
    w = tl.sum(inv[:, :, None] * coef[None, :, :], axis=1)  # columns: [y, u]
    w = (w + 1024) >> 11
    o = tl.sum(w[:, None, :] * inv[None, :, :], axis=2)  # rows: [y, x]
    o = ((o + 131072) >> 18) + 128
    return tl.minimum(tl.maximum(o, 0), 255)


@triton.jit
def _mcu_range(entries_ptr, n):
    """MCU rows/columns [my0, my1) × [mx0, mx1) that entry n's out-region needs (luma and the
    upsampler's ±1 chroma sample context), and the chroma plane size."""
    h = field(entries_ptr, n, H)
    w = field(entries_ptr, n, W)
    ch = (h + 1) // 2
    cw = (w + 1) // 2
    cy_lo = tl.maximum(field(entries_ptr, n, OY0) // 2 - 1, 0)
    cy_hi = tl.minimum((field(entries_ptr, n, OY1) - 1) // 2 + 1, ch - 1)
    cx_lo = tl.maximum(field(entries_ptr, n, OX0) // 2 - 1, 0)
    cx_hi = tl.minimum((field(entries_ptr, n, OX1) - 1) // 2 + 1, cw - 1)
    return cy_lo // 8, cy_hi // 8 + 1, cx_lo // 8, cx_hi // 8 + 1


def _host_mcu_range(group):
    e = group.host_entries
    ch, cw = (e[:, H.value] + 1) // 2, (e[:, W.value] + 1) // 2
    cy_lo = (e[:, OY0.value] // 2 - 1).clamp(min=0)
    cy_hi = torch.minimum((e[:, OY1.value] - 1) // 2 + 1, ch - 1)
    cx_lo = (e[:, OX0.value] // 2 - 1).clamp(min=0)
    cx_hi = torch.minimum((e[:, OX1.value] - 1) // 2 + 1, cw - 1)
    return cy_lo // 8, cy_hi // 8 + 1, cx_lo // 8, cx_hi // 8 + 1


@triton.jit
def _jpeg_encode_kernel(src_ptr, entries_ptr, table_ptr, ytmp_ptr, ctmp_ptr, wp, plane, MATS: tl.constexpr):
    """Pass 1: one MCU of entry n → decoded Y (ytmp[n]: rows of wp) and Cb, Cr (ctmp[n, 0:2]: rows of
    wp/2); plane = the luma plane's size."""
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    my0, my1, mx0, mx1 = _mcu_range(entries_ptr, n)
    t = tl.program_id(0)
    nx = mx1 - mx0
    my = my0 + t // nx
    mx = mx0 + t % nx
    if my < my1:
        h = field(entries_ptr, n, H)
        w = field(entries_ptr, n, W)
        src = src_ptr + field(entries_ptr, n, SRC)
        src_c = field(entries_ptr, n, SRC_C)
        src_y = field(entries_ptr, n, SRC_Y)
        mats, luma_q = _load_codec(table_ptr, table_ptr + MATS + n * 512)
        _mats, chroma_q = _load_codec(table_ptr, table_ptr + MATS + n * 512 + 256)
        r8 = tl.arange(0, 8)
        # luma: four 8×8 blocks of the edge-replicated image
        for blk in tl.static_range(4):
            ys = my * 16 + (blk // 2) * 8 + r8[:, None]
            xs = mx * 16 + (blk % 2) * 8 + r8[None, :]
            p = src + tl.minimum(ys, h - 1) * src_y + tl.minimum(xs, w - 1)
            yv, _cb, _cr = _fix_rgb_to_ycc(_samples(tl.load(p)), _samples(tl.load(p + src_c)),
                                            _samples(tl.load(p + 2 * src_c)))
            dec = _block_codec(yv, mats, luma_q)
            tl.store(ytmp_ptr + n * plane + ys * wp + xs, dec.to(tl.int32))
        # chroma: 2×2 sums of the edge-replicated image, bias 1, 2, 1, 2, … along x; rows past
        # ⌈h/2⌉ replicate the last downsampled row
        cys = tl.minimum(my * 8 + r8[:, None], (h + 1) // 2 - 1)
        cxs = mx * 8 + r8[None, :]
        cb = tl.zeros([8, 8], dtype=tl.int64)
        cr = tl.zeros([8, 8], dtype=tl.int64)
        for d in tl.static_range(4):
            p = src + tl.minimum(2 * cys + d // 2, h - 1) * src_y + tl.minimum(2 * cxs + d % 2, w - 1)
            _y, cbv, crv = _fix_rgb_to_ycc(_samples(tl.load(p)), _samples(tl.load(p + src_c)),
                                            _samples(tl.load(p + 2 * src_c)))
            cb += cbv
            cr += crv
        bias = 1 + (cxs & 1)
        cys = my * 8 + r8[:, None]
        cplane = plane // 4
        ctmp = ctmp_ptr + n * 2 * cplane + cys * (wp // 2) + cxs
        tl.store(ctmp, _block_codec((cb + bias) >> 2, mats, chroma_q).to(tl.int32))
        tl.store(ctmp + cplane, _block_codec((cr + bias) >> 2, mats, chroma_q).to(tl.int32))


@triton.jit
def _upsample(ctmp, cy, cy_nb, cx, cw, odd_x, FANCY_OK):
    """jdsample.c h2v2_fancy_upsample at (cy, cx) (cy_nb: the row above or below, clamped), or plain
    replication where the plane is at most 2 samples wide (h2v2_upsample)."""
    mid = 3 * tl.load(ctmp + cy + cx) + tl.load(ctmp + cy_nb + cx)
    side_x = tl.minimum(tl.maximum(tl.where(odd_x, cx + 1, cx - 1), 0), cw - 1)
    side = 3 * tl.load(ctmp + cy + side_x) + tl.load(ctmp + cy_nb + side_x)
    fancy = (3 * mid + side + tl.where(odd_x, 7, 8)) >> 4
    return tl.where(FANCY_OK, fancy, tl.load(ctmp + cy + cx))


@triton.jit
def _jpeg_decode_kernel(dst_ptr, entries_ptr, ytmp_ptr, ctmp_ptr, wp, plane, tiles_x,
                        BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """Pass 2: one tile of entry n's out-region: chroma upsampling, ycc_rgb_convert, ÷255."""
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    h = field(entries_ptr, n, H)
    w = field(entries_ptr, n, W)
    ch = (h + 1) // 2
    cw = (w + 1) // 2
    ys = tl.minimum(ys, h - 1)  # masked lanes stay inside the planes
    xs = tl.minimum(xs, w - 1)
    yv = tl.load(ytmp_ptr + n * plane + ys * wp + xs).to(tl.int64)
    cy = ys // 2
    cy_nb = tl.minimum(tl.maximum(tl.where((ys & 1) == 1, cy + 1, cy - 1), 0), ch - 1)
    crow = wp // 2
    cplane = plane // 4
    ctmp = ctmp_ptr + n * 2 * cplane
    odd_x = (xs & 1) == 1
    cb = _upsample(ctmp, cy * crow, cy_nb * crow, xs // 2, cw, odd_x, cw > 2).to(tl.int64) - 128
    cr = _upsample(ctmp + cplane, cy * crow, cy_nb * crow, xs // 2, cw, odd_x, cw > 2).to(tl.int64) - 128
    r = yv + ((91881 * cr + 32768) >> 16)
    g = yv + ((-22554 * cb + 32768 - 46802 * cr) >> 16)
    b = yv + ((116130 * cb + 32768) >> 16)
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    dst_c = field(entries_ptr, n, DST_C)
    dtype = dst_ptr.dtype.element_ty
    r = tl.minimum(tl.maximum(r, 0), 255).to(dtype) / 255.0
    g = tl.minimum(tl.maximum(g, 0), 255).to(dtype) / 255.0
    b = tl.minimum(tl.maximum(b, 0), 255).to(dtype) / 255.0
    tl.store(dst, r.to(dtype), mask=mask)
    tl.store(dst + dst_c, g.to(dtype), mask=mask)
    tl.store(dst + 2 * dst_c, b.to(dtype), mask=mask)


def jpeg(group) -> None:
    e = group.host_entries
    quality = torch.round(group.host_values).long()
    table = _upload(torch.cat([_JPEG_MATRICES, jpeg_quant_tables(quality).reshape(-1)]), group.src.device)
    hp = int(cdiv(int(e[:, H.value].max()), 16)) * 16
    wp = int(cdiv(int(e[:, W.value].max()), 16)) * 16
    plane = hp * wp
    ytmp = torch.empty(group.size * plane, dtype=torch.int32, device=group.src.device)
    ctmp = torch.empty(group.size * plane // 2, dtype=torch.int32, device=group.src.device)
    my0, my1, mx0, mx1 = _host_mcu_range(group)
    mcus = int(((my1 - my0) * (mx1 - mx0)).max())
    _jpeg_encode_kernel[(mcus, group.size)](group.src, group.entries, table, ytmp, ctmp, wp, plane,
                                            MATS=_JPEG_MATRICES_SIZE)
    grid, tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _jpeg_decode_kernel[grid](group.dst, group.entries, ytmp, ctmp, wp, plane, tiles_x,
                              BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


# ---------------------------------------------------------------------------------------------
# Colour shift (§4.23). The edge mask's statistics domain is the whole image the entry sees.
# K1: grey → numpy.gradient magnitude (A); K2, K3: Gaussian σ = 4 (33 taps reiqa, 17 otherwise),
# replicate borders, vertical (A → B) then horizontal (B → A); a device sort of each entry's A (its
# padding is +inf, so an entry's n values come first) gives the 6 order statistics the mask needs:
# every later step (mapmm, clip(0.1, 1), mapmm, P1/P99 clip, mapmm) is a monotone map T of e, so
# the sorted values of T(e) are T of the sorted values of e (IEEE subtraction, division and clamps
# are monotone); K4 (tiles of the out-region): mask, shifted green, blend.

CS_BLOCK_Y, CS_BLOCK_X = 16, 32


@triton.jit
def _full_tile(entries_ptr, n, tile, tiles_x, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """Tile ``tile`` of the whole image entry n sees (not its out-region)."""
    h = field(entries_ptr, n, H)
    w = field(entries_ptr, n, W)
    ys = (tile // tiles_x) * BLOCK_Y + tl.arange(0, BLOCK_Y)[:, None]
    xs = (tile % tiles_x) * BLOCK_X + tl.arange(0, BLOCK_X)[None, :]
    return ys, xs, (ys < h) & (xs < w), h, w


@triton.jit
def _grey(src, src_c, src_y, ys, xs):
    p = src + ys * src_y + xs
    return 0.2989 * tl.load(p) + 0.5870 * tl.load(p + src_c) + 0.1140 * tl.load(p + 2 * src_c)


@triton.jit
def _gradient_kernel(src_ptr, entries_ptr, out_ptr, row, plane, tiles_x,
                     BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """K1: hypot of numpy.gradient of the grey image (central inside, one-sided at the ends, 0 along
    a length-1 axis)."""
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    ys, xs, mask, h, w = _full_tile(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    ys = tl.minimum(ys, h - 1)
    xs = tl.minimum(xs, w - 1)
    src = src_ptr + field(entries_ptr, n, SRC)
    src_c = field(entries_ptr, n, SRC_C)
    src_y = field(entries_ptr, n, SRC_Y)
    yp = tl.minimum(ys + 1, h - 1)
    ym = tl.maximum(ys - 1, 0)
    xp = tl.minimum(xs + 1, w - 1)
    xm = tl.maximum(xs - 1, 0)
    gy = _grey(src, src_c, src_y, yp, xs) - _grey(src, src_c, src_y, ym, xs)
    gx = _grey(src, src_c, src_y, ys, xp) - _grey(src, src_c, src_y, ys, xm)
    gy = tl.where((ys > 0) & (ys < h - 1), gy / 2, gy)
    gx = tl.where((xs > 0) & (xs < w - 1), gx / 2, gx)
    tl.store(out_ptr + n * plane + ys * row + xs, tl.sqrt(gy * gy + gx * gx), mask=mask)


@triton.jit
def _gauss_kernel(in_ptr, entries_ptr, taps_ptr, out_ptr, row, plane, tiles_x, VERTICAL: tl.constexpr,
                  RADIUS: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """K2 / K3: one pass of the sampled Gaussian, replicate borders."""
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    ys, xs, mask, h, w = _full_tile(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    ys = tl.minimum(ys, h - 1)
    xs = tl.minimum(xs, w - 1)
    base = in_ptr + n * plane
    acc = tl.zeros([BLOCK_Y, BLOCK_X], dtype=in_ptr.dtype.element_ty)
    for k in tl.static_range(2 * RADIUS + 1):
        if VERTICAL:
            p = base + tl.minimum(tl.maximum(ys + (k - RADIUS), 0), h - 1) * row + xs
        else:
            p = base + ys * row + tl.minimum(tl.maximum(xs + (k - RADIUS), 0), w - 1)
        acc += tl.load(taps_ptr + k) * tl.load(p)
    tl.store(out_ptr + n * plane + ys * row + xs, acc, mask=mask)


@triton.jit
def _mapmm(e, lo, hi):
    return tl.where(hi == lo, e, (e - lo) / tl.where(hi == lo, 1, hi - lo))


@triton.jit
def _clip_tenth(e):
    """clip(e, 0.1, 1) (tl.where keeps 0.1 in e's dtype; tl.maximum would round it to float32)."""
    return tl.where(e < 0.1, 0.1, tl.where(e > 1, 1.0, e))


@triton.jit
def _stretch(e, v0, v1):
    """mapmm → clip(0.1, 1) → mapmm, with the statistics of the sorted values' ends v0, v1."""
    lo = _clip_tenth(_mapmm(v0, v0, v1))
    hi = _clip_tenth(_mapmm(v1, v0, v1))
    return _mapmm(_clip_tenth(_mapmm(e, v0, v1)), lo, hi)


@triton.jit
def _percentile(a, b, t):
    """numpy.percentile's two-sided lerp between the order statistics a ≤ b."""
    diff = b - a
    return tl.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


@triton.jit
def _reflect(j, n):
    m = ((j % (2 * n)) + 2 * n) % (2 * n)  # non-negative remainder whatever the sign convention
    return tl.where(m < n, m, 2 * n - 1 - m)


@triton.jit
def _color_shift_kernel(src_ptr, dst_ptr, entries_ptr, edges_ptr, stats_ptr, ints_ptr, fracs_ptr, row, plane,
                        tiles_x, REFLECT: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """K4: the mask from the Gaussian-filtered edges and 6 order statistics, the shifted green, the
    blend; one tile of the out-region."""
    n = tl.program_id(1).to(tl.int64)  # n·plane overflows int32 for large batches
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    h = field(entries_ptr, n, H)
    w = field(entries_ptr, n, W)
    ys = tl.minimum(ys, h - 1)
    xs = tl.minimum(xs, w - 1)
    v0 = tl.load(stats_ptr + n * 6)
    v1 = tl.load(stats_ptr + n * 6 + 1)
    p1 = _percentile(_stretch(tl.load(stats_ptr + n * 6 + 2), v0, v1),
                     _stretch(tl.load(stats_ptr + n * 6 + 3), v0, v1), tl.load(fracs_ptr + n * 2).to(v0.dtype))
    p99 = _percentile(_stretch(tl.load(stats_ptr + n * 6 + 4), v0, v1),
                      _stretch(tl.load(stats_ptr + n * 6 + 5), v0, v1), tl.load(fracs_ptr + n * 2 + 1).to(v0.dtype))
    lo = tl.minimum(tl.maximum(_stretch(v0, v0, v1), p1), p99)
    hi = tl.minimum(tl.maximum(_stretch(v1, v0, v1), p1), p99)
    e = _stretch(tl.load(edges_ptr + n * plane + ys * row + xs), v0, v1)
    e = _mapmm(tl.minimum(tl.maximum(e, p1), p99), lo, hi)
    s0 = tl.load(ints_ptr + n * 8 + 6)
    s1 = tl.load(ints_ptr + n * 8 + 7)
    if REFLECT:
        sy = _reflect(ys - s0, h)
        sx = _reflect(xs - s1, w)
    else:
        sy = tl.minimum(tl.maximum(ys - s0, 0), h - 1)
        sx = tl.minimum(tl.maximum(xs - s1, 0), w - 1)
    src = src_ptr + field(entries_ptr, n, SRC)
    src_c = field(entries_ptr, n, SRC_C)
    src_y = field(entries_ptr, n, SRC_Y)
    green = tl.load(src + src_c + ys * src_y + xs)
    shifted = tl.load(src + src_c + sy * src_y + sx)
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    dst_c = field(entries_ptr, n, DST_C)
    tl.store(dst, clip01(tl.load(src + ys * src_y + xs)), mask=mask)
    tl.store(dst + dst_c, clip01(e * shifted + (1 - e) * green), mask=mask)
    tl.store(dst + 2 * dst_c, clip01(tl.load(src + 2 * src_c + ys * src_y + xs)), mask=mask)


def color_shift_vectors(aux: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """int64[N, 2]: ``filters.color_shift_vector`` of every row (u / ‖u‖ · amount, half to even)."""
    u = aux[:, :2]
    norm = torch.sqrt(u[:, 0] * u[:, 0] + u[:, 1] * u[:, 1])
    s = torch.round(u / norm[:, None] * amount[:, None]).long()
    return torch.where(norm[:, None] == 0, 0, s)


def color_shift(group) -> None:
    e = group.host_entries
    device, dtype = group.src.device, group.src.dtype
    radius = 16 if group.preset == "reiqa" else 8
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2 / (2 * 4.0 * 4.0))
    taps = taps / taps.sum()
    count = e[:, H.value] * e[:, W.value]
    pos = torch.stack([0.01 * (count - 1).double(), 0.99 * (count - 1).double()], 1)  # (p / 100)·(n − 1)
    k = torch.floor(pos).long()
    last = (count - 1)[:, None]
    ranks = torch.stack([torch.zeros_like(count), count - 1, k[:, 0], torch.minimum(k[:, 0] + 1, last[:, 0]),
                         k[:, 1], torch.minimum(k[:, 1] + 1, last[:, 0])], 1)
    ints = torch.cat([ranks, color_shift_vectors(group.host_aux, group.host_values)], 1)
    table = _upload(torch.cat([ints.reshape(-1), (pos - k).reshape(-1).view(torch.int64), taps.view(torch.int64)]),
                    device)
    n = group.size
    ints_d = table[:8 * n]
    fracs_d = table[8 * n:10 * n].view(torch.float64)
    taps_d = table[10 * n:].view(torch.float64).to(dtype)
    hmax, wmax = int(e[:, H.value].max()), int(e[:, W.value].max())
    plane = hmax * wmax
    edges = torch.full((n, plane), float("inf"), dtype=dtype, device=device)
    tmp = torch.empty((n, plane), dtype=dtype, device=device)
    tiles_x = cdiv(wmax, CS_BLOCK_X)
    grid = (cdiv(hmax, CS_BLOCK_Y) * tiles_x, n)
    meta = dict(BLOCK_Y=CS_BLOCK_Y, BLOCK_X=CS_BLOCK_X)
    _gradient_kernel[grid](group.src, group.entries, edges, wmax, plane, tiles_x, **meta)
    _gauss_kernel[grid](edges, group.entries, taps_d, tmp, wmax, plane, tiles_x, VERTICAL=True, RADIUS=radius,
                        **meta)
    _gauss_kernel[grid](tmp, group.entries, taps_d, edges, wmax, plane, tiles_x, VERTICAL=False, RADIUS=radius,
                        **meta)
    stats = torch.sort(edges, dim=1).values.gather(1, ints_d.view(n, 8)[:, :6]).contiguous()
    out_grid, out_tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _color_shift_kernel[out_grid](group.src, group.dst, group.entries, edges, stats, ints_d, fracs_d, wmax, plane,
                                  out_tiles_x, REFLECT=group.preset == "reiqa", BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


LAUNCHERS = {11: color_block, 12: non_eccentricity, 13: jpeg, 22: color_shift}
