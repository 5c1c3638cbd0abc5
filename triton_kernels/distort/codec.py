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

from triton_kernels.distort._common import (
    DST,
    DST_C,
    DST_Y,
    RX0,
    RX1,
    RY0,
    RY1,
    SRC,
    SRC_C,
    SRC_Y,
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
    n = tl.program_id(1)
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
    n = tl.program_id(1)
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


LAUNCHERS = {11: color_block, 12: non_eccentricity}
