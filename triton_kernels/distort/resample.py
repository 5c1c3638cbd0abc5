"""Resampling class of the distortion kernels (DISTORTIONS.md §6): the Pillow resize family
(bicubic, bilinear, Lanczos, nearest), pixelate and jitter.

Host-built tables (weights, index maps) are made once per distinct (H, W, value) of a group (a
handful: levels × block sizes), not per entry; ``key[n]`` names an entry's table row. Every pass
reads and writes through a per-launch *view table* (int64 [N, 10]: in offset, in channel stride,
in row stride, out offset, out channel stride, out row stride, then the half-open output range
y0, y1, x0, x1), so one kernel serves the first pass (``src``), the temporaries and the last pass
(``dst``, the entry's out-region, clipped).
"""

from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl

from pyiqa_fast.distortions.filters import matlab_nearest_map, pillow_nearest_map, pillow_weights, torch_nearest_map
from triton_kernels._common import cdiv
from triton_kernels.distort._common import (
    DST,
    DST_C,
    DST_Y,
    N_FIELDS,
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
    W,
    clip01,
    field,
    pixel_normals3,
    rect_tile,
)
from triton_kernels.distort._common import H as H_

N_VIEW = tl.constexpr(10)

# ---------------------------------------------------------------------------------------------
# Host helpers: views of the buffers, unique keys, uploads.


def _src_view(e: torch.Tensor) -> torch.Tensor:
    return e[:, [SRC.value, SRC_C.value, SRC_Y.value]]


def _dst_view(e: torch.Tensor) -> torch.Tensor:
    return e[:, [DST.value, DST_C.value, DST_Y.value]]


def _temp_view(n: int, h: int, w: int) -> torch.Tensor:
    """View of a temporary Tensor[n, 3, h, w]."""
    v = torch.empty(n, 3, dtype=torch.int64)
    v[:, 0] = torch.arange(n, dtype=torch.int64) * (3 * h * w)
    v[:, 1] = h * w
    v[:, 2] = w
    return v


def _range(y0, y1, x0, x1, n: int) -> torch.Tensor:
    """[n, 4] ranges from per-entry int64 tensors or ints."""
    cols = [torch.as_tensor(c, dtype=torch.int64).expand(n) for c in (y0, y1, x0, x1)]
    return torch.stack(cols, 1)


def _out_region(e: torch.Tensor) -> torch.Tensor:
    return e[:, [OY0.value, OY1.value, OX0.value, OX1.value]]


@triton.jit
def _view_tile(views_ptr, n, tile, tiles_x, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """Entry ``n``'s view row (in base/c/y strides, out base/c/y strides, range y0, y1, x0, x1):
    the six strides and :func:`rect_tile` of the range."""
    v = views_ptr + n * N_VIEW
    ys, xs, mask = rect_tile(v + 6, tile, tiles_x, BLOCK_Y, BLOCK_X)
    return (tl.load(v + 0), tl.load(v + 1), tl.load(v + 2), tl.load(v + 3), tl.load(v + 4), tl.load(v + 5),
            ys, xs, mask)


def _views(in_view, out_view, rng) -> torch.Tensor:
    return torch.cat([in_view, out_view, rng], 1).contiguous()


def _blocks(device: torch.device, views: torch.Tensor) -> tuple[int, int]:
    """Tile (rows, columns) of a launch over the ranges of ``views``: 16×32 on the GPU; under the
    Triton interpreter, whose cost is per operation, one tile up to 32×64 (the next powers of two
    of the largest range)."""
    if device.type == "cuda":
        return 16, 32
    return (min(32, triton.next_power_of_2(int((views[:, 7] - views[:, 6]).max()))),
            min(64, triton.next_power_of_2(int((views[:, 9] - views[:, 8]).max()))))


def _grid(views: torch.Tensor, block_y: int, block_x: int) -> tuple[tuple[int, int], int]:
    tiles_x = max(1, cdiv(int((views[:, 9] - views[:, 8]).max()), block_x))
    tiles_y = max(1, cdiv(int((views[:, 7] - views[:, 6]).max()), block_y))
    return (tiles_y * tiles_x, views.shape[0]), tiles_x


def _keys(group) -> tuple[list[tuple[int, int, float]], torch.Tensor]:
    """Distinct (H, W, value) of the group's entries and each entry's index into them."""
    e = group.host_entries
    hw = e[:, [H_.value, W.value]].tolist()
    values = group.host_values.tolist()
    index: dict[tuple[int, int, float], int] = {}
    key = [index.setdefault((h, w, v), len(index)) for (h, w), v in zip(hw, values, strict=True)]
    return list(index), torch.tensor(key, dtype=torch.int64)


def _device(group, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """One upload of several int64 host tensors (concatenated flat), split on the device."""
    flat = torch.cat([t.reshape(-1) for t in tensors]).to(group.src.device)
    return list(torch.split(flat, [t.numel() for t in tensors]))


# ---------------------------------------------------------------------------------------------
# Pillow convolution resampling (resize_bicubic / bilinear / lanczos): 4 gather passes.


@functools.lru_cache(maxsize=512)
def _sparse_weights(n_in: int, n_out: int, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first tap, tap count, weights[n_out, count_max]) of Pillow's pass n_in → n_out; the identity
    (count 1) when the size does not change (the reference skips that pass)."""
    if n_in == n_out:
        idx = torch.arange(n_out, dtype=torch.int64)
        return idx, torch.ones(n_out, dtype=torch.int64), torch.ones(n_out, 1, dtype=torch.float64)
    m = pillow_weights(n_in, n_out, name)
    nz = m != 0
    cols = torch.arange(n_in, dtype=torch.int64)
    first = torch.where(nz, cols, n_in).min(1).values
    last = torch.where(nz, cols, -1).max(1).values
    empty = last < first  # a row of zero weights (never in practice): one zero tap
    first = torch.where(empty, 0, first)
    count = torch.where(empty, 1, last - first + 1)
    taps = int(count.max())
    j = (first.view(-1, 1) + torch.arange(taps).view(1, -1)).clamp(max=n_in - 1)
    w = torch.gather(m, 1, j)
    w = torch.where(torch.arange(taps).view(1, -1) < count.view(-1, 1), w, 0.0)
    return first, count, w


@triton.jit
def _conv_pass_kernel(in_ptr, out_ptr, views_ptr, key_ptr, first_ptr, count_ptr, w_ptr, tiles_x, L, T,
                      HORIZONTAL: tl.constexpr, CLIP: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """One separable pass: out(y, x) = Σ_t w[i, t]·in(·, first[i] + t), i = x (horizontal) or y."""
    n = tl.program_id(1)
    in_base, in_c, in_y, out_base, out_c, out_y, ys, xs, mask = _view_tile(
        views_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    row = tl.load(key_ptr + n) * L
    if HORIZONTAL:
        i = xs
        imask = xs < tl.load(views_ptr + n * N_VIEW + 9)  # x1
    else:
        i = ys
        imask = ys < tl.load(views_ptr + n * N_VIEW + 7)  # y1
    first = tl.load(first_ptr + row + i, mask=imask, other=0)
    count = tl.load(count_ptr + row + i, mask=imask, other=0)
    wrow = w_ptr + (row + i) * T
    src = in_ptr + in_base
    dt = in_ptr.dtype.element_ty
    acc0 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    acc1 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    acc2 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    for t in range(0, T):
        tmask = imask & (t < count)
        wt = tl.load(wrow + t, mask=tmask, other=0.0)
        j = first + t
        if HORIZONTAL:
            off = ys * in_y + j
        else:
            off = j * in_y + xs
        m = mask & tmask
        acc0 += wt * tl.load(src + off, mask=m, other=0.0)
        acc1 += wt * tl.load(src + in_c + off, mask=m, other=0.0)
        acc2 += wt * tl.load(src + 2 * in_c + off, mask=m, other=0.0)
    dst = out_ptr + out_base + ys * out_y + xs
    if CLIP:
        acc0 = clip01(acc0)
        acc1 = clip01(acc1)
        acc2 = clip01(acc2)
    tl.store(dst, acc0, mask=mask)
    tl.store(dst + out_c, acc1, mask=mask)
    tl.store(dst + 2 * out_c, acc2, mask=mask)


def _pad_tables(tables: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Stack per-key sparse tables, padded to the longest output and the most taps."""
    length = max(t[0].numel() for t in tables)
    taps = max(t[2].shape[1] for t in tables)
    first = torch.zeros(len(tables), length, dtype=torch.int64)
    count = torch.zeros(len(tables), length, dtype=torch.int64)
    w = torch.zeros(len(tables), length, taps, dtype=torch.float64)
    for u, (f, c, ww) in enumerate(tables):
        first[u, :f.numel()] = f
        count[u, :c.numel()] = c
        w[u, :ww.shape[0], :ww.shape[1]] = ww
    return first, count, w, length, taps


def _pillow_launcher(name: str):
    def launch(group) -> None:
        keys, key = _keys(group)
        e = group.host_entries
        n = group.size
        small = [(max(1, int(h // k)), max(1, int(w // k))) for h, w, k in keys]
        # passes: (n_in, n_out) per key, horizontal?
        sizes = [
            ([(w, ws) for (h, w, _), (hs, ws) in zip(keys, small, strict=True)], True),
            ([(h, hs) for (h, w, _), (hs, ws) in zip(keys, small, strict=True)], False),
            ([(ws, w) for (h, w, _), (hs, ws) in zip(keys, small, strict=True)], True),
            ([(hs, h) for (h, w, _), (hs, ws) in zip(keys, small, strict=True)], False),
        ]
        hs_e = torch.tensor([s[0] for s in small], dtype=torch.int64)[key]
        ws_e = torch.tensor([s[1] for s in small], dtype=torch.int64)[key]
        h_e, w_e = e[:, H_.value], e[:, W.value]
        mh, mw, mhs, mws = int(h_e.max()), int(w_e.max()), int(hs_e.max()), int(ws_e.max())
        dtype, device = group.src.dtype, group.src.device
        t1 = torch.empty(n * 3 * mh * mws, dtype=dtype, device=device)
        t2 = torch.empty(n * 3 * mhs * mws, dtype=dtype, device=device)
        t3 = torch.empty(n * 3 * mhs * mw, dtype=dtype, device=device)
        v1, v2, v3 = _temp_view(n, mh, mws), _temp_view(n, mhs, mws), _temp_view(n, mhs, mw)
        out_region = _out_region(e)
        views = [
            _views(_src_view(e), v1, _range(0, h_e, 0, ws_e, n)),
            _views(v1, v2, _range(0, hs_e, 0, ws_e, n)),
            # the last (vertical) pass reads only the out-region's columns
            _views(v2, v3, _range(0, hs_e, out_region[:, 2], out_region[:, 3], n)),
            _views(v3, _dst_view(e), out_region),
        ]
        buffers = [(group.src, t1), (t1, t2), (t2, t3), (t3, group.dst)]
        host, meta, weights = [key], [], []
        for (pairs, horizontal), view in zip(sizes, views, strict=True):
            first, count, w, length, taps = _pad_tables([_sparse_weights(a, b, name) for a, b in pairs])
            host += [view, first, count]
            weights.append(w.reshape(-1))
            meta.append((horizontal, length, taps))
        dev = _device(group, *host)
        w_dev = torch.cat(weights).to(device=device, dtype=dtype)
        w_parts = torch.split(w_dev, [w.numel() for w in weights])
        key_dev = dev[0]
        for p in range(4):
            horizontal, length, taps = meta[p]
            view_dev, first_dev, count_dev = dev[1 + 3 * p:4 + 3 * p]
            block_y, block_x = _blocks(device, views[p])
            grid, tiles_x = _grid(views[p], block_y, block_x)
            src, dst = buffers[p]
            _conv_pass_kernel[grid](src, dst, view_dev, key_dev, first_dev, count_dev, w_parts[p], tiles_x,
                                    length, taps, HORIZONTAL=horizontal, CLIP=p == 3,
                                    BLOCK_Y=block_y, BLOCK_X=block_x)

    launch.__name__ = f"resize_{name}"
    return launch


# ---------------------------------------------------------------------------------------------
# Nearest down-then-up (resize_nearest, pixelate): one gather through composed index maps.


@functools.lru_cache(maxsize=512)
def _nearest_maps(h: int, w: int, value: float, kind: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(rows, cols): out(y, x) = in(rows[y], cols[x]) of the down-then-up map."""
    if kind == "resize_nearest":
        sh, sw = max(1, int(h // value)), max(1, int(w // value))
        down = up = pillow_nearest_map
    elif kind == "kadis":
        z = 0.95 - value ** 0.6
        sh, sw = max(1, math.ceil(z * h)), max(1, math.ceil(z * w))
        rows_d, cols_d = matlab_nearest_map(h, sh, z), matlab_nearest_map(w, sw, z)
        rows_u, cols_u = matlab_nearest_map(sh, h, h / sh), matlab_nearest_map(sw, w, w / sw)
        return tuple(rows_d[i] for i in rows_u), tuple(cols_d[i] for i in cols_u)
    else:
        z = 0.95 - value ** 0.6
        sh, sw = max(1, int(z * h)), max(1, int(z * w))
        down = up = torch_nearest_map if kind == "arniqa" else pillow_nearest_map
    rows_d, cols_d = down(h, sh), down(w, sw)
    return tuple(rows_d[i] for i in up(sh, h)), tuple(cols_d[i] for i in up(sw, w))


@triton.jit
def _gather_kernel(src_ptr, dst_ptr, entries_ptr, key_ptr, rows_ptr, cols_ptr, LH, LW, tiles_x,
                   BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    n = tl.program_id(1)
    tile = tl.program_id(0)
    oy1 = field(entries_ptr, n, OY1)
    ox1 = field(entries_ptr, n, OX1)
    ys = field(entries_ptr, n, OY0) + (tile // tiles_x) * BLOCK_Y + tl.arange(0, BLOCK_Y)[:, None]
    xs = field(entries_ptr, n, OX0) + (tile % tiles_x) * BLOCK_X + tl.arange(0, BLOCK_X)[None, :]
    ymask = ys < oy1
    xmask = xs < ox1
    mask = ymask & xmask
    u = tl.load(key_ptr + n)
    ry = tl.load(rows_ptr + u * LH + ys, mask=ymask, other=0)
    rx = tl.load(cols_ptr + u * LW + xs, mask=xmask, other=0)
    src = src_ptr + field(entries_ptr, n, SRC) + ry * field(entries_ptr, n, SRC_Y) + rx
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    src_c = field(entries_ptr, n, SRC_C)
    dst_c = field(entries_ptr, n, DST_C)
    for c in tl.static_range(3):
        val = tl.load(src + c * src_c, mask=mask)
        tl.store(dst + c * dst_c, clip01(val), mask=mask)


def _nearest_launcher(kind_of):
    def launch(group) -> None:
        keys, key = _keys(group)
        kind = kind_of(group.preset)
        maps = [_nearest_maps(h, w, v, kind) for h, w, v in keys]
        lh = max(len(r) for r, _ in maps)
        lw = max(len(c) for _, c in maps)
        rows = torch.zeros(len(maps), lh, dtype=torch.int64)
        cols = torch.zeros(len(maps), lw, dtype=torch.int64)
        for u, (r, c) in enumerate(maps):
            rows[u, :len(r)] = torch.tensor(r, dtype=torch.int64)
            cols[u, :len(c)] = torch.tensor(c, dtype=torch.int64)
        key_dev, rows_dev, cols_dev = _device(group, key, rows, cols)
        e = group.host_entries
        views = _views(_src_view(e), _dst_view(e), _out_region(e))
        block_y, block_x = _blocks(group.src.device, views)
        grid, tiles_x = _grid(views, block_y, block_x)
        _gather_kernel[grid](group.src, group.dst, group.entries, key_dev, rows_dev, cols_dev, lh, lw, tiles_x,
                             BLOCK_Y=block_y, BLOCK_X=block_x)

    return launch


resize_nearest = _nearest_launcher(lambda preset: "resize_nearest")
pixelate = _nearest_launcher(lambda preset: preset)


# ---------------------------------------------------------------------------------------------
# Jitter: 5 dependent iterations through full-size temporaries; reiqa prefilters each iterate.

POLE = math.sqrt(3.0) - 2.0
SQRT3 = math.sqrt(3.0)


@triton.jit
def _spline_fir_kernel(in_ptr, out_ptr, views_ptr, entries_ptr, tiles_x, ALONG_X: tl.constexpr, K: tl.constexpr,
                       CHUNK: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """scipy's cubic B-spline prefilter (``spline_filter1d(order=3, mode='reflect')``) along one axis.

    The recursive filter with scipy's half-sample-symmetric initial values is exactly the filter
    h[k] = √3·z^|k| (z = √3 − 2, the inverse of the sampled B-spline [1, 4, 1]/6) applied to the
    half-sample-symmetric extension of the line; here it is that filter truncated to |k| ≤ K, where
    |z|^(K+1)·2√3/(1 − |z|) is below the dtype's resolution (K = 31: 1.4e-18). Every output pixel
    is independent (no sequential recursion); taps are a third axis, CHUNK at a time."""
    n = tl.program_id(1)
    in_base, in_c, in_y, out_base, out_c, out_y, ys, xs, mask = _view_tile(
        views_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    m3 = mask[:, :, None]
    dt = in_ptr.dtype.element_ty
    # reflect index maths in int32 (int64 % is a long instruction sequence; images are < 2³¹ px)
    if ALONG_X:
        length = tl.load(entries_ptr + n * N_FIELDS + W).to(tl.int32)
        pos = xs.to(tl.int32)[:, :, None]
    else:
        length = tl.load(entries_ptr + n * N_FIELDS + H_).to(tl.int32)
        pos = ys.to(tl.int32)[:, :, None]
    acc0 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    acc1 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    acc2 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    for k0 in tl.static_range(-K, K + 1, CHUNK):
        k = k0 + tl.arange(0, CHUNK)[None, None, :]
        ak = tl.abs(k)
        mag = tl.exp2(ak.to(dt) * -1.8999686269529912)  # |z|^|k|: log2(2 − √3)
        wk = tl.where(ak % 2 == 1, -mag, mag) * 1.7320508075688772
        wk = tl.where(k <= K, wk, 0.0)
        j = (pos - k) % (2 * length)
        j = tl.where(j < 0, j + 2 * length, j)
        j = tl.where(j < length, j, 2 * length - 1 - j)
        if ALONG_X:
            off = in_base + ys[:, :, None] * in_y + j
        else:
            off = in_base + j * in_y + xs[:, :, None]
        acc0 += tl.sum(wk * tl.load(in_ptr + off, mask=m3, other=0.0), axis=2)
        acc1 += tl.sum(wk * tl.load(in_ptr + in_c + off, mask=m3, other=0.0), axis=2)
        acc2 += tl.sum(wk * tl.load(in_ptr + 2 * in_c + off, mask=m3, other=0.0), axis=2)
    dst = out_ptr + out_base + ys * out_y + xs
    tl.store(dst, acc0, mask=mask)
    tl.store(dst + out_c, acc1, mask=mask)
    tl.store(dst + 2 * out_c, acc2, mask=mask)


@triton.jit
def _cubic_weight(s, PRESET: tl.constexpr):
    """Weight of a tap at signed distance s: cubic B-spline (PRESET 0; the reference's polynomial
    forms), Keys a = −0.5 (1) or the triangle (2)."""
    s = tl.abs(s)
    if PRESET == 0:
        z = 2.0 - s
        return tl.where(s < 1, (s * s * (s - 2.0) * 3.0 + 4.0) / 6.0, tl.where(s < 2, z * z * z / 6.0, 0.0))
    elif PRESET == 1:
        return tl.where(s < 1, (1.5 * s - 2.5) * s * s + 1, tl.where(s < 2, ((-0.5 * s + 2.5) * s - 4) * s + 2, 0.0))
    else:
        return tl.where(s < 1, 1.0 - s, 0.0)


@triton.jit
def _jitter_kernel(in_ptr, out_ptr, views_ptr, entries_ptr, values_ptr, draw, tiles_x, PRESET: tl.constexpr,
                   SIDE: tl.constexpr, FIRST: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """One iteration: out(y, x) = clip(Σ w·in(taps around (y − n0·v, x − n1·v))), normals of draw
    ``draw`` at image coordinates. PRESET 0: B-spline on prefiltered coefficients, reflect; 1: Keys,
    clamp; 2: bilinear, clamp. The taps are a third tensor axis (row-major over the tap square)."""
    n = tl.program_id(1)
    in_base, in_c, in_y, out_base, out_c, out_y, ys, xs, mask = _view_tile(
        views_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    e = entries_ptr + n * N_FIELDS
    h = tl.load(e + H_)
    w = tl.load(e + W)
    dt = in_ptr.dtype.element_ty
    n0, n1, _ = pixel_normals3(tl.load(e + SEED), xs + tl.load(e + RNG_X0), ys + tl.load(e + RNG_Y0), draw, dt)
    value = tl.load(values_ptr + n).to(dt)
    yy = ys.to(dt) - n0 * value
    xx = xs.to(dt) - n1 * value
    fy = tl.floor(yy)
    fx = tl.floor(xx)
    ty = yy - fy
    tx = xx - fx
    iy = fy.to(tl.int32)
    ix = fx.to(tl.int32)
    h = h.to(tl.int32)
    w = w.to(tl.int32)
    acc0 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    acc1 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    acc2 = tl.zeros((BLOCK_Y, BLOCK_X), dtype=dt)
    # the SIDE × SIDE taps from (⌊y⌋ − FIRST, ⌊x⌋ − FIRST), one 2-D tile each (a tap axis spills)
    for dy in tl.static_range(SIDE):
        wy = _cubic_weight(ty - (dy - FIRST), PRESET)
        row = in_ptr + in_base + _tap_index(iy + (dy - FIRST), h, PRESET) * in_y
        for dx in tl.static_range(SIDE):
            wt = wy * _cubic_weight(tx - (dx - FIRST), PRESET)
            p = row + _tap_index(ix + (dx - FIRST), w, PRESET)
            acc0 += wt * tl.load(p, mask=mask, other=0.0)
            acc1 += wt * tl.load(p + in_c, mask=mask, other=0.0)
            acc2 += wt * tl.load(p + 2 * in_c, mask=mask, other=0.0)
    dst = out_ptr + out_base + ys * out_y + xs
    tl.store(dst, clip01(acc0), mask=mask)
    tl.store(dst + out_c, clip01(acc1), mask=mask)
    tl.store(dst + 2 * out_c, clip01(acc2), mask=mask)


@triton.jit
def _tap_index(j, n, PRESET: tl.constexpr):
    """Index j of a line of n samples: half-sample-symmetric reflection (PRESET 0), else clamped."""
    if PRESET == 0:
        j = j % (2 * n)
        j = tl.where(j < 0, j + 2 * n, j)
        return tl.where(j < n, j, 2 * n - 1 - j)
    else:
        return tl.minimum(tl.maximum(j, 0), n - 1)


JITTER_ITERATIONS = 5


def _chunk(device: torch.device) -> int:
    """Prefilter taps per step: all of them at once under the interpreter (its cost is per
    operation); one on the GPU, where a tap axis of the tile spills registers."""
    return 1 if device.type == "cuda" else 64


def jitter(group) -> None:
    e = group.host_entries
    n = group.size
    h_e, w_e = e[:, H_.value], e[:, W.value]
    mh, mw = int(h_e.max()), int(w_e.max())
    dtype, device = group.src.dtype, group.src.device
    chunk = _chunk(device)
    taps = 31 if dtype == torch.float64 else 15  # |z|^16·2√3/(1 − |z|) = 3.2e-9 relative in float32
    preset = {"reiqa": 0, "kadis": 1, "arniqa": 2}[group.preset]
    temps = [torch.empty(n * 3 * mh * mw, dtype=dtype, device=device) for _ in range(4 if preset == 0 else 2)]
    tv = _temp_view(n, mh, mw)
    full = _range(0, h_e, 0, w_e, n)
    host = []  # per iteration: [prefilter along x (in → coef), along y (coef → coef2)], sample
    plan = []  # per iteration: (input buffer, output buffer)
    for t in range(JITTER_ITERATIONS):
        src_buf, src_view = (group.src, _src_view(e)) if t == 0 else (temps[(t - 1) % 2], tv)
        last = t == JITTER_ITERATIONS - 1
        dst_buf, dst_view, rng = (group.dst, _dst_view(e), _out_region(e)) if last else (temps[t % 2], tv, full)
        if preset == 0:
            host += [_views(src_view, tv, full), _views(tv, tv, full), _views(tv, dst_view, rng)]
        else:
            host.append(_views(src_view, dst_view, rng))
        plan.append((src_buf, dst_buf))
    dev = _device(group, *host)
    per = 3 if preset == 0 else 1
    for t, (src_buf, dst_buf) in enumerate(plan):
        if preset == 0:
            block_y, block_x = _blocks(device, host[per * t])
            grid, tiles_x = _grid(host[per * t], block_y, block_x)
            _spline_fir_kernel[grid](src_buf, temps[2], dev[per * t], group.entries, tiles_x, ALONG_X=True, K=taps,
                                     CHUNK=chunk, BLOCK_Y=block_y, BLOCK_X=block_x)
            _spline_fir_kernel[grid](temps[2], temps[3], dev[per * t + 1], group.entries, tiles_x, ALONG_X=False,
                                     K=taps, CHUNK=chunk, BLOCK_Y=block_y, BLOCK_X=block_x)
            src_buf = temps[3]
        block_y, block_x = _blocks(device, host[per * t + per - 1])
        grid, tiles_x = _grid(host[per * t + per - 1], block_y, block_x)
        _jitter_kernel[grid](src_buf, dst_buf, dev[per * t + per - 1], group.entries, group.values, t, tiles_x,
                             PRESET=preset, SIDE=2 if preset == 2 else 4, FIRST=0 if preset == 2 else 1,
                             BLOCK_Y=block_y, BLOCK_X=block_x)


LAUNCHERS = {
    0: _pillow_launcher("bicubic"),
    1: _pillow_launcher("bilinear"),
    2: _pillow_launcher("lanczos"),
    3: pixelate,
    10: jitter,
    25: resize_nearest,
}
