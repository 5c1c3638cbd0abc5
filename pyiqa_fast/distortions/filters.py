"""Filter taps, resampling weights and index maps of the distortion operators, built on the host.

The specification's host-side pieces (DISTORTIONS.md §2.3, §4): every backend that needs a
kernel or a weight matrix (the reference, the GPU launchers) builds it here, in float64, so the
backends never import each other.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

EPS = 2.0 ** -52  # MATLAB eps


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
def cached_kernel(kind: str, size: float, theta: int = 0) -> Tensor:
    """disk_kernel / motion_kernel, built once per parameter set (read-only)."""
    return disk_kernel(size) if kind == "disk" else motion_kernel(size, theta)


def _bilinear(t: float) -> float:
    t = abs(t)
    return 1.0 - t if t < 1.0 else 0.0


def _bicubic(t: float) -> float:
    a = -0.5
    t = abs(t)
    if t < 1.0:
        return ((a + 2.0) * t - (a + 3.0)) * t * t + 1
    if t < 2.0:
        return (((t - 5) * t + 8) * t - 4) * a
    return 0.0


def _sinc(t: float) -> float:
    if t == 0.0:
        return 1.0
    t = t * math.pi
    return math.sin(t) / t


def _lanczos(t: float) -> float:
    return _sinc(t) * _sinc(t / 3) if -3.0 <= t < 3.0 else 0.0


FILTERS = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0), "lanczos": (_lanczos, 3.0)}


def pillow_weights(n_in: int, n_out: int, name: str) -> Tensor:
    """Dense float64 (n_out, n_in) matrix of Pillow's normalised convolution weights (§4.1):
    centre (i + 0.5)·scale, support S·max(scale, 1), taps clipped to the image, renormalised."""
    kernel, base = FILTERS[name]
    scale = n_in / n_out
    fs = max(scale, 1.0)
    support = base * fs
    ss = 1.0 / fs
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        w = [kernel((j - centre + 0.5) * ss) for j in range(lo, hi)]
        total = sum(w)
        if total != 0.0:
            w = [v / total for v in w]
        m[i, lo:hi] = torch.tensor(w, dtype=torch.float64)
    return m


PRECISION_BITS = 22  # Pillow Resample.c: 32 − 8 − 2


def pillow_weights_fixed(n_in: int, n_out: int, name: str) -> Tensor:
    """Pillow's 8-bit weights (normalize_coeffs_8bpc): round half away from zero of w·2²²."""
    w = pillow_weights(n_in, n_out, name) * (1 << PRECISION_BITS)
    return torch.where(w < 0, torch.trunc(w - 0.5), torch.trunc(w + 0.5)).long()


def pillow_nearest_map(n_in: int, n_out: int) -> list[int]:
    """Pillow NEAREST (``ImagingScaleAffine``): source ⌊(i + 0.5)·n_in/n_out⌋, with the position
    accumulated in double as Pillow does (xo = scale/2; xo += scale)."""
    scale = n_in / n_out
    xo = 0.0 + scale * 0.5
    out = []
    for _ in range(n_out):
        out.append(min(int(xo), n_in - 1))
        xo += scale
    return out


def matlab_nearest_map(n_in: int, n_out: int, scale: float) -> list[int]:
    """MATLAB ``imresize(..., 'nearest')`` contributions [PROPOSAL, from MATLAB's documented
    algorithm]: u = x/scale + 0.5·(1 − 1/scale) (1-based x), the tap j with −0.5 ≤ u − j < 0.5,
    out-of-range taps mirrored (aux = [1..n, n..1])."""
    out = []
    for x in range(1, n_out + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - 0.5)
        j = next(c for c in (left, left + 1, left + 2) if -0.5 <= u - c < 0.5)
        m = (j - 1) % (2 * n_in)
        out.append(m if m < n_in else 2 * n_in - 1 - m)
    return out


def torch_nearest_map(n_in: int, n_out: int) -> list[int]:
    """PyTorch legacy ``nearest`` (kornia ``resize``): min(⌊float32(i)·float32(n_in/n_out)⌋,
    n_in − 1), shortcuts for equal and doubled sizes."""
    if n_out == n_in:
        return list(range(n_out))
    if n_out == 2 * n_in:
        return [i >> 1 for i in range(n_out)]
    scale = torch.tensor(n_in, dtype=torch.float32) / torch.tensor(n_out, dtype=torch.float32)
    idx = torch.floor(torch.arange(n_out, dtype=torch.float32) * scale).long().clamp(max=n_in - 1)
    return idx.tolist()


def color_shift_vector(aux: Tensor, amount: float) -> tuple[int, int]:
    """Step 5: u = aux[0:2] / ‖u‖ · amount, rounded half to even (numpy.round) ⇒ (s₀, s₁) ≥ 0."""
    u0, u1 = float(aux[0]), float(aux[1])
    norm = math.sqrt(u0 * u0 + u1 * u1)
    if norm == 0.0:
        return 0, 0
    return round(u0 / norm * amount), round(u1 / norm * amount)
