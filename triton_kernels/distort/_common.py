"""Device helpers shared by the distortion kernels (``triton_kernels/distort/*.py``).

Conventions (``pyiqa_fast/ops/distort/impl/schedule.py``): a launch covers the entries of one
group; program axis 1 is the entry, axis 0 a tile of its out-region (``tile_coords``). Entry
fields are read with :func:`field`. Every store is clipped with :func:`clip01` (NaN passes, as the
reference's ``clamp``). Colour formulas are those of DISTORTIONS.md §2.2 / ``colour.py``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from pyiqa_fast.distortions.registry import TRUNC255_GUARD as _TRUNC255_GUARD
from triton_kernels._common import cdiv

# Entry fields (schedule.py); module-level constexprs so that kernels can use them.
# trunc(255·y + guard) of ARNIQA's Lab operators: the registry's constant (registry.TRUNC255_GUARD).
TRUNC255_GUARD = tl.constexpr(_TRUNC255_GUARD)
SRC = tl.constexpr(0)
SRC_C = tl.constexpr(1)
SRC_Y = tl.constexpr(2)
DST = tl.constexpr(3)
DST_C = tl.constexpr(4)
DST_Y = tl.constexpr(5)
H = tl.constexpr(6)
W = tl.constexpr(7)
RY0 = tl.constexpr(8)
RY1 = tl.constexpr(9)
RX0 = tl.constexpr(10)
RX1 = tl.constexpr(11)
OY0 = tl.constexpr(12)
OY1 = tl.constexpr(13)
OX0 = tl.constexpr(14)
OX1 = tl.constexpr(15)
RNG_Y0 = tl.constexpr(16)
RNG_X0 = tl.constexpr(17)
SEED = tl.constexpr(18)
N_FIELDS = tl.constexpr(19)
AUX_SIZE = tl.constexpr(400)


@triton.jit
def field(entries_ptr, n, f: tl.constexpr):
    """Field ``f`` (int64) of entry ``n``."""
    return tl.load(entries_ptr + n * N_FIELDS + f)


@triton.jit
def rect_tile(rect_ptr, tile, tiles_x, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """(ys[BLOCK_Y, 1], xs[1, BLOCK_X], mask) of tile ``tile`` (row-major, ``tiles_x`` per row) of
    the half-open rectangle (y0, y1, x0, x1) stored as four int64 at ``rect_ptr``."""
    ys = tl.load(rect_ptr) + (tile // tiles_x) * BLOCK_Y + tl.arange(0, BLOCK_Y)[:, None]
    xs = tl.load(rect_ptr + 2) + (tile % tiles_x) * BLOCK_X + tl.arange(0, BLOCK_X)[None, :]
    return ys, xs, (ys < tl.load(rect_ptr + 1)) & (xs < tl.load(rect_ptr + 3))


@triton.jit
def tile_coords(entries_ptr, n, tile, tiles_x, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr):
    """:func:`rect_tile` of entry ``n``'s out-region (tiles of the group's widest out-region), in
    operator coordinates."""
    return rect_tile(entries_ptr + n * N_FIELDS + OY0, tile, tiles_x, BLOCK_Y, BLOCK_X)


def tile_grid(group, block_y: int, block_x: int) -> tuple[tuple[int, int], int]:
    """Launch grid (tiles of the group's largest out-region, entries) and the tiles per row, for
    :func:`tile_coords`."""
    tiles_x = cdiv(group.max_extent(OX0.value, OX1.value), block_x)
    tiles_y = cdiv(group.max_extent(OY0.value, OY1.value), block_y)
    return (tiles_y * tiles_x, group.size), tiles_x


@triton.jit
def clip01(v):
    """clip to [0, 1]; NaN passes through (as torch.clamp)."""
    return tl.where(v < 0, 0.0, tl.where(v > 1, 1.0, v)).to(v.dtype)


@triton.jit
def philox_words(seed, xs, ys, draw, domain: tl.constexpr = 0):
    """Philox4x32-10 words of counter (x, y, draw, domain) under the 64-bit key ``seed``
    (``csrc/common/philox.h``; Triton's ``tl.philox`` has the same rounds and key split)."""
    c0 = xs.to(tl.uint32)
    c1 = ys.to(tl.uint32)
    zero = (xs * 0 + ys * 0).to(tl.uint32)
    c2 = zero + draw
    c3 = zero + domain
    return tl.philox(seed, c0, c1, c2, c3, 10)


@triton.jit
def uniform(r, dtype: tl.constexpr):
    """(r >> 8)·2⁻²⁴ ∈ [0, 1) (exact in float32 and float64)."""
    return (r >> 8).to(dtype) * (1.0 / 16777216.0)


@triton.jit
def box_muller(r0, r1, dtype: tl.constexpr):
    """Two standard normals from two words (philox.h's formula, in ``dtype``)."""
    a = ((r0 >> 8).to(dtype) + 1.0) * (1.0 / 16777216.0)
    b = (r1 >> 8).to(dtype) * (1.0 / 16777216.0)
    radius = tl.sqrt(-2.0 * tl.log(a))
    angle = 6.283185307179586 * b
    return radius * tl.cos(angle), radius * tl.sin(angle)


@triton.jit
def pixel_normals3(seed, xs, ys, draw, dtype: tl.constexpr):
    """Normals n0, n1, n2 of draw ``draw`` at image coordinates (xs, ys) (the reference's
    ``pixel_normals(...)[:3]``: the pair of words 0, 1 and the cos branch of words 2, 3)."""
    r0, r1, r2, r3 = philox_words(seed, xs, ys, draw)
    n0, n1 = box_muller(r0, r1, dtype)
    n2, _ = box_muller(r2, r3, dtype)
    return n0, n1, n2


# ---------------------------------------------------------------------------------------------
# Colour (DISTORTIONS.md §2.2; scikit-image conventions).


@triton.jit
def _pow(x, p):
    """x^p for x > 0 (exp2/log2: the interpreter and the GPU both have them)."""
    return tl.exp2(tl.log2(x) * p)


@triton.jit
def srgb_to_linear(c):
    lin = _pow(tl.maximum((c + 0.055) / 1.055, 1e-30), 2.4)
    return tl.where(c > 0.04045, lin, c / 12.92)


@triton.jit
def linear_to_srgb(c):
    # tl.where, not tl.maximum: tl.maximum rounds a float constant to fp32 even for fp64 c
    g = 1.055 * _pow(tl.where(c > 0.0031308, c, 0.0031308), 1.0 / 2.4) - 0.055
    return tl.where(c > 0.0031308, g, c * 12.92)


@triton.jit
def _lab_f(t):
    d3 = 0.008856451679035631  # (6/29)^3
    return tl.where(t > d3, _pow(tl.where(t > d3, t, d3), 1.0 / 3.0), t / 0.12841854934601665 + 4.0 / 29.0)


@triton.jit
def _lab_finv(u):
    return tl.where(u > 6.0 / 29.0, u * u * u, 0.12841854934601665 * (u - 4.0 / 29.0))


@triton.jit
def rgb_to_lab(r, g, b):
    """sRGB [0, 1] → (L, a, b), L ∈ [0, 100] (D65)."""
    rl = srgb_to_linear(r)
    gl = srgb_to_linear(g)
    bl = srgb_to_linear(b)
    x = (0.412453 * rl + 0.357580 * gl + 0.180423 * bl) / 0.95047
    y = 0.212671 * rl + 0.715160 * gl + 0.072169 * bl
    z = (0.019334 * rl + 0.119193 * gl + 0.950227 * bl) / 1.08883
    fx = _lab_f(x)
    fy = _lab_f(y)
    fz = _lab_f(z)
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


@triton.jit
def lab_to_rgb(L, a, b):
    """(L, a, b) → sRGB clipped to [0, 1]; f-domain z clamped at 0 (scikit-image)."""
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = tl.maximum(fy - b / 200.0, 0.0)
    x = _lab_finv(fx) * 0.95047
    y = _lab_finv(fy)
    z = _lab_finv(fz) * 1.08883
    # inverse of XYZ_FROM_RGB (colour.py), to double precision
    rl = 3.2404813432005266 * x - 1.5371515162713185 * y - 0.4985363261688878 * z
    gl = -0.9692549499965682 * x + 1.8759900014898907 * y + 0.0415559265582928 * z
    bl = 0.0556466391351772 * x - 0.2040413383665112 * y + 1.0573110696453443 * z
    r = tl.minimum(tl.maximum(linear_to_srgb(rl), 0.0), 1.0)
    g = tl.minimum(tl.maximum(linear_to_srgb(gl), 0.0), 1.0)
    bb = tl.minimum(tl.maximum(linear_to_srgb(bl), 0.0), 1.0)
    return r, g, bb
