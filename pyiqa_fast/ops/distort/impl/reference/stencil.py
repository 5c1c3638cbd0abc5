"""Reference operators, stencil class (DISTORTIONS.md §6): motion blur (§4.5), Gaussian blur (§4.6),
lens blur (§4.7), denoise (§4.19).

Every filter here uses replicate borders (clamped coordinates), applied before each 1-D pass, and
computes in float64. Kernels are built in plain Python floats (float64).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pyiqa_fast.ops.distort.impl.reference import OpContext, register
from pyiqa_fast.ops.distort.impl.reference.pointwise import pixel_normals

EPS = 2.0 ** -52  # MATLAB eps


# ---------------------------------------------------------------------------------------------
# Kernels.


def pillow_gaussian_radius(sigma: float, passes: int = 3) -> float:
    """Per-pass radius of Pillow's extended box for ``GaussianBlur(sigma)`` (``BoxBlur.c``, §4.6):
    s² = σ²/passes, L = √(12s² + 1), n = ⌊(L − 1)/2⌋, a = (2n + 1)(n(n + 1) − 3s²)/(6(s² − (n + 1)²)),
    radius n + a."""
    s2 = sigma * sigma / passes
    big_l = math.sqrt(12.0 * s2 + 1.0)
    n = math.floor((big_l - 1.0) / 2.0)
    a = (2 * n + 1) * (n * (n + 1) - 3 * s2) / (6 * (s2 - (n + 1) ** 2))
    return n + a


def pillow_box_taps(radius: float) -> list[float]:
    """One Pillow box pass of (float) radius r as 1-D taps: weight 1 on |d| ≤ ⌊r⌋, r − ⌊r⌋ on
    |d| = ⌊r⌋ + 1, normalised by 2r + 1."""
    whole = int(radius)
    a = radius - whole
    taps = [a] + [1.0] * (2 * whole + 1) + [a]
    return [t / (2 * radius + 1) for t in taps]


def matlab_gaussian_taps(sigma: float) -> list[float]:
    """MATLAB window (§2.3): 2⌈2σ⌉ + 1 samples of exp(−d²/2σ²), normalised."""
    r = math.ceil(2 * sigma)
    g = [math.exp(-(d * d) / (2 * sigma * sigma)) for d in range(-r, r + 1)]
    s = sum(g)
    return [v / s for v in g]


def _segment_area(x0: float, x1: float, y0: float, y1: float, r: float) -> float:
    """Area of {(x, y): x0 ≤ x ≤ x1, y0 ≤ y ≤ y1, x² + y² ≤ r²} for 0 ≤ x0 < x1, 0 ≤ y0 < y1."""

    def prim(x: float) -> float:  # ∫ √(r² − x²) dx
        x = min(x, r)
        return 0.5 * (x * math.sqrt(max(r * r - x * x, 0.0)) + r * r * math.asin(x / r))

    xa = 0.0 if y1 >= r else math.sqrt(r * r - y1 * y1)  # the circle is above y1 for x ≤ xa
    xb = 0.0 if y0 >= r else math.sqrt(r * r - y0 * y0)  # ... above y0 for x ≤ xb
    area = 0.0
    if min(x1, xa) > x0:
        area += (y1 - y0) * (min(x1, xa) - x0)
    lo, hi = max(x0, xa), min(x1, xb)
    if hi > lo:
        area += prim(hi) - prim(lo) - y0 * (hi - lo)
    return area


def _pixel_pieces(c: int) -> list[tuple[float, float]]:
    a = abs(c)
    return [(0.0, 0.5), (0.0, 0.5)] if a == 0 else [(a - 0.5, a + 0.5)]


def disk_kernel(radius: float) -> Tensor:
    """MATLAB ``fspecial('disk', r)`` (§2.3, §4.7): size 2⌈r − 0.5⌉ + 1, each weight the exact area
    of the unit pixel square covered by the disc of radius r centred on the kernel centre,
    normalised. float64 Tensor[n, n]."""
    c = math.ceil(radius - 0.5)
    k = torch.zeros(2 * c + 1, 2 * c + 1, dtype=torch.float64)
    for i in range(-c, c + 1):
        for j in range(-c, c + 1):
            k[i + c, j + c] = sum(_segment_area(x0, x1, y0, y1, radius)
                                  for x0, x1 in _pixel_pieces(j) for y0, y1 in _pixel_pieces(i))
    return k / k.sum()


def motion_kernel(length: float, theta: int) -> Tensor:
    """MATLAB ``fspecial('motion', len, θ)`` (§2.3, §4.5): anti-aliased line of width 1, length
    len, angle θ degrees counter-clockwise, normalised; ported from MATLAB's documented
    algorithm (half-matrix distances to the line, end-point distances, unfold, flip up-down when
    cos θ > 0). float64 Tensor[(2·ny − 1), (2·nx − 1)]."""
    length = max(1.0, float(length))
    half = (length - 1) / 2
    phi = (theta % 180) / 180 * math.pi
    cosphi, sinphi = math.cos(phi), math.sin(phi)
    xsign = float((cosphi > 0) - (cosphi < 0))
    linewdt = 1.0
    sx = math.trunc(half * cosphi + linewdt * xsign - length * EPS)
    sy = math.trunc(half * sinphi + linewdt - length * EPS)
    nx, ny = abs(sx) + 1, sy + 1
    dist = torch.zeros(ny, nx, dtype=torch.float64)
    for iy in range(ny):
        for ix in range(nx):
            x, y = ix * xsign, float(iy)
            d = y * cosphi - x * sinphi
            if math.sqrt(x * x + y * y) >= half and abs(d) <= linewdt:
                x2 = half - abs((x + d * sinphi) / cosphi)
                d = math.sqrt(d * d + x2 * x2)
            dist[iy, ix] = max(linewdt + EPS - abs(d), 0.0)
    full = torch.zeros(2 * ny - 1, 2 * nx - 1, dtype=torch.float64)
    full[:ny, :nx] = torch.rot90(dist, 2)
    full[ny - 1:, nx - 1:] = dist
    total = 0.0
    for v in full.t().reshape(-1).tolist():  # MATLAB's column-major sum(h(:))
        total += v
    full = full / (total + EPS * length * length)
    return full.flip(0) if cosphi > 0 else full


@functools.lru_cache(maxsize=256)
def _cached_kernel(kind: str, size: float, theta: int = 0) -> Tensor:
    """disk_kernel / motion_kernel, built once per parameter set (read-only)."""
    return disk_kernel(size) if kind == "disk" else motion_kernel(size, theta)


# ---------------------------------------------------------------------------------------------
# Filters (float64, replicate borders).


def _pass(img: Tensor, taps: list[float], dim: int, lo: int | None = None) -> Tensor:
    """1-D correlation along ``dim`` (-1: x, -2: y) with taps at offsets lo, lo + 1, …
    (centred when lo is None), replicate border."""
    n = len(taps)
    lo = -(n // 2) if lo is None else lo
    hi = lo + n - 1
    left, right = max(0, -lo), max(0, hi)
    pad = (left, right, 0, 0) if dim == -1 else (0, 0, left, right)
    padded = F.pad(img.unsqueeze(0), pad, mode="replicate")[0]
    size = img.shape[dim]
    out = torch.zeros_like(img)
    for i, t in enumerate(taps):
        if t != 0.0:
            out = out + t * padded.narrow(dim, left + lo + i, size)
    return out


def _separable(img: Tensor, taps_x: list[list[float]], taps_y: list[list[float]]) -> Tensor:
    out = img
    for t in taps_x:
        out = _pass(out, t, -1)
    for t in taps_y:
        out = _pass(out, t, -2)
    return out


def _correlate2d(img: Tensor, kernel: Tensor) -> Tensor:
    """2-D correlation with an odd-sized kernel centred at its middle, replicate border."""
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = F.pad(img.unsqueeze(0), (rx, rx, ry, ry), mode="replicate")
    weight = kernel.to(img).expand(3, 1, *kernel.shape)
    return F.conv2d(padded, weight, groups=3)[0]


def pillow_gaussian_blur(img: Tensor, sigma: float) -> Tensor:
    """Pillow ``GaussianBlur(radius=σ)`` in float: three extended-box passes per axis (§4.6)."""
    taps = pillow_box_taps(pillow_gaussian_radius(sigma, 3))
    return _separable(img, [taps] * 3, [taps] * 3)


def pillow_box_blur(img: Tensor, radius: float) -> Tensor:
    """Pillow ``BoxBlur(radius)`` in float: one extended-box pass per axis."""
    taps = pillow_box_taps(radius)
    return _separable(img, [taps], [taps])


# ---------------------------------------------------------------------------------------------
# Operators.


@register("motion_blur")
def motion_blur(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.5 motion blur, line length k = ctx.value.

    reiqa: aux[0] < 0.5 → horizontal, else vertical; the centred axis-aligned
    ``fspecial('motion', k, 0|90)`` line: even k → k + 1 taps, interior 1/k, ends 1/(2k); odd k →
    k taps of 1/k. ``compat=True`` (bug R3): ReIQA's k×k kernel with the line at index ⌊(k−1)/2⌋
    under ``scipy.ndimage.convolve`` (centre ⌊k/2⌋): k taps of 1/k at offsets ⌊k/2⌋ − k + 1 … ⌊k/2⌋
    along the blur, and a shift by ⌊k/2⌋ − ⌊(k−1)/2⌋ pixels across it.
    kadis/arniqa: ``fspecial('motion', k, θ)``, θ = ⌊aux[0]·181⌋ degrees, correlation.
    """
    x = img.double()
    k = int(ctx.value)
    if ctx.preset != "reiqa":
        theta = math.floor(float(ctx.aux[0]) * 181)
        return _correlate2d(x, _cached_kernel("motion", ctx.value, theta)).to(img.dtype)
    dim = -1 if float(ctx.aux[0]) < 0.5 else -2
    across = -2 if dim == -1 else -1
    if ctx.compat:
        c, cc = k // 2, (k - 1) // 2
        out = _pass(x, [1.0 / k] * k, dim, lo=c - k + 1)
        if c != cc:
            out = _pass(out, [1.0], across, lo=c - cc)
    elif k % 2 == 0:
        out = _pass(x, [0.5 / k] + [1.0 / k] * (k - 1) + [0.5 / k], dim)
    else:
        out = _pass(x, [1.0 / k] * k, dim)
    return out.to(img.dtype)


@register("gaussian_blur")
def gaussian_blur(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.6 Gaussian blur, σ = ctx.value.

    reiqa: Pillow ``GaussianBlur(σ)`` semantics computed in float (3 extended-box passes per axis,
    no uint8 rounding; ``compat`` changes nothing: Pillow's per-pass rounding is R4, ≤ ~1 LSB).
    kadis/arniqa: sampled Gaussian, MATLAB window 2⌈2σ⌉ + 1, separable.
    """
    x = img.double()
    if ctx.preset == "reiqa":
        return pillow_gaussian_blur(x, ctx.value).to(img.dtype)
    taps = matlab_gaussian_taps(ctx.value)
    return _separable(x, [taps], [taps]).to(img.dtype)


@register("lens_blur")
def lens_blur(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.7 lens blur (all presets): the exact ``fspecial('disk', r)`` kernel, r = ctx.value."""
    return _correlate2d(img.double(), _cached_kernel("disk", ctx.value)).to(img.dtype)


@register("denoise")
def denoise(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.19 denoise (reiqa): y = clip(x + n), n ~ N(0, v) (normals n0, n1, n2 of draw 0 for R, G, B),
    then Pillow ``GaussianBlur(3)`` if aux[0] < 0.5 else Pillow ``BoxBlur(2)`` (float, no uint8
    truncation between the steps: R4 dropped).

    Raises:
        ValueError: preset kadis (DnCNN denoising needs a network checkpoint; not implemented) or
            arniqa (excluded from that preset).
    """
    if ctx.preset != "reiqa":
        raise ValueError(f"denoise: preset {ctx.preset!r} is not implemented (kadis denoises with MATLAB's "
                         "pretrained DnCNN, a network this package does not ship; arniqa excludes denoise)")
    noise = pixel_normals(img, ctx)[:3]
    x = (img.double() + math.sqrt(ctx.value) * noise).clamp(0, 1)
    if float(ctx.aux[0]) < 0.5:
        return pillow_gaussian_blur(x, 3.0).to(img.dtype)
    return pillow_box_blur(x, 2.0).to(img.dtype)
