"""Elementwise, elementwise + RNG and pointwise colour distortions (DISTORTIONS.md §6).

One kernel per type family; a program is one tile of one entry's out-region (``_common``).
"""

from __future__ import annotations

import triton
import triton.language as tl

from triton_kernels.distort._common import DST, DST_C, DST_Y, SRC, SRC_C, SRC_Y, clip01, field, tile_coords, tile_grid

BLOCK_Y, BLOCK_X = 16, 32


@triton.jit
def _mean_shift_kernel(src_ptr, dst_ptr, entries_ptr, values_ptr, tiles_x,
                       BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    n = tl.program_id(1)
    ys, xs, mask = tile_coords(entries_ptr, n, tl.program_id(0), tiles_x, BLOCK_Y, BLOCK_X)
    src = src_ptr + field(entries_ptr, n, SRC) + ys * field(entries_ptr, n, SRC_Y) + xs
    dst = dst_ptr + field(entries_ptr, n, DST) + ys * field(entries_ptr, n, DST_Y) + xs
    src_c = field(entries_ptr, n, SRC_C)
    dst_c = field(entries_ptr, n, DST_C)
    value = tl.load(values_ptr + n)
    for c in tl.static_range(3):
        v = tl.load(src + c * src_c, mask=mask)
        tl.store(dst + c * dst_c, clip01(v + value.to(v.dtype)), mask=mask)


def mean_shift(group) -> None:
    grid, tiles_x = tile_grid(group, BLOCK_Y, BLOCK_X)
    _mean_shift_kernel[grid](group.src, group.dst, group.entries, group.values, tiles_x,
                             BLOCK_Y=BLOCK_Y, BLOCK_X=BLOCK_X)


LAUNCHERS = {7: mean_shift}
