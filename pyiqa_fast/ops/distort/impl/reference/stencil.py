"""Reference operators, stencil class (DISTORTIONS.md §6): motion blur (§4.5), Gaussian blur (§4.6),
lens blur (§4.7), denoise (§4.19).

Every filter here uses replicate borders (clamped coordinates), applied before each 1-D pass, and
computes in float64. Kernels are built in plain Python floats (float64).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pyiqa_fast.distortions.filters import (  # noqa: F401  (re-exported: the tests read them here)
    EPS,
    cached_kernel,
    disk_kernel,
    matlab_gaussian_taps,
    motion_kernel,
    pillow_box_taps,
    pillow_gaussian_radius,
)
from pyiqa_fast.ops.distort.impl.reference import OpContext, register
from pyiqa_fast.ops.distort.impl.reference.pointwise import pixel_normals

# ---------------------------------------------------------------------------------------------
# Kernels.


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
        return _correlate2d(x, cached_kernel("motion", ctx.value, theta)).to(img.dtype)
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
    return _correlate2d(img.double(), cached_kernel("disk", ctx.value)).to(img.dtype)


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
