"""Reference operators, elementwise and elementwise + RNG classes (DISTORTIONS.md §6), and the two
Lab stencils (unsharp_mask, color_diffuse) that share the colour code."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pyiqa_fast.distortions import philox
from pyiqa_fast.distortions.registry import TRUNC255_GUARD
from pyiqa_fast.ops.distort.impl.reference import OpContext, colour, np_gradient, register


def pixel_normals(img: Tensor, ctx: OpContext, draw: int = 0) -> Tensor:
    """Four standard normals per pixel, float64 Tensor[4, h, w]: Box–Muller on the Philox words
    of counter (x, y, draw, 0) in image coordinates (``philox.h``)."""
    xs, ys = philox.pixel_grid(img.shape[-2], img.shape[-1], *ctx.rng_origin, device=img.device)
    r0, r1, r2, r3 = philox.draw(ctx.seed, xs, ys, draw)
    n0, n1 = philox.box_muller(r0, r1)
    n2, n3 = philox.box_muller(r2, r3)
    return torch.stack([n0, n1, n2, n3])


@register("mean_shift")
def mean_shift(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.8: y = x + m per channel."""
    return img + ctx.value


@register("white_noise")
def white_noise(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.15: y = x + n, n ~ N(0, v) i.i.d. per pixel and channel (normals 0, 1, 2 → R, G, B)."""
    noise = pixel_normals(img, ctx)[:3]
    return (img.double() + math.sqrt(ctx.value) * noise).to(img.dtype)


def _uniforms(img: Tensor, ctx: OpContext, draw: int = 0) -> Tensor:
    """The four Philox words of counter (x, y, draw, 0) as uniforms in [0, 1), float64 Tensor[4, h, w]."""
    xs, ys = philox.pixel_grid(img.shape[-2], img.shape[-1], *ctx.rng_origin, device=img.device)
    return torch.stack([philox.uniform(r) for r in philox.draw(ctx.seed, xs, ys, draw)])


def _tone(x: Tensor, amount: float) -> Tensor:
    """g(x) = clip(x + 2A·x(1 − x)): the interpolating parabola through (0,0), (½, ½ + A/2), (1,1)."""
    return (x + 2 * amount * x * (1 - x)).clamp(0, 1)


def _trunc255(x: Tensor) -> Tensor:
    return torch.trunc(x * 255 + TRUNC255_GUARD) / 255  # exact-grid values stay on the grid


@register("contrast")
def contrast(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.9: f(x) = 0.5 + (1 − β/4)(x − 0.5) + β(x − 0.5)³, β = −(0.05 + 0.25p)/0.042 (all presets)."""
    beta = -(0.05 + 0.25 * ctx.value) / 0.042
    d = img.double() - 0.5
    return (0.5 + (1 - beta / 4) * d + beta * d**3).to(img.dtype)


@register("brighten")
def brighten(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.20: y = (2·g(x) + J₂)/3, J₂ = Lab with L/100 passed through g, back to RGB (all presets;
    ARNIQA's channel-order bug A1 fixed)."""
    x = img.double()
    lab = colour.rgb_to_lab(x)
    lab = torch.stack([100 * _tone(lab[0] / 100, ctx.value), lab[1], lab[2]])
    return ((2 * _tone(x, ctx.value) + colour.lab_to_rgb(lab)) / 3).to(img.dtype)


@register("darken")
def darken(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.21: g(x) = clip(x − 2A·x(1 − x)) per RGB channel (all presets)."""
    return _tone(img.double(), -ctx.value).to(img.dtype)


@register("saturate")
def saturate(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.24: a*, b* × S in Lab. arniqa quantises to trunc(255·y)/255 (ARNIQA ``color_saturation2``);
    bug A1 fixed."""
    lab = colour.rgb_to_lab(img.double())
    y = colour.lab_to_rgb(torch.stack([lab[0], lab[1] * ctx.value, lab[2] * ctx.value]))
    if ctx.preset == "arniqa":
        y = _trunc255(y)
    return y.to(img.dtype)


@register("saturate_hsv")
def saturate_hsv(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.25: S × f in HSV (scikit-image conventions), all presets."""
    hsv = colour.rgb_to_hsv(img.double())
    return colour.hsv_to_rgb(torch.stack([hsv[0], hsv[1] * ctx.value, hsv[2]])).to(img.dtype)


@register("nonlinear_contrast")
def nonlinear_contrast(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.25 (ARNIQA ``non_linear_contrast_change``): y = (0.5 − v) + 2v·clip(x, 0, 1)."""
    v = ctx.value
    return ((0.5 - v) + 2 * v * img.double().clamp(0, 1)).to(img.dtype)


@register("quantization")
def quantization(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.25 quantization, arniqa (equal-width bins, bug A7 kept as a preset property): bucket index
    #{e < 255·x} over the edges [0, ⌊255i/n⌋ (i = 1..n−1), 256] per element (``torch.bucketize``;
    255·x formed in the image's dtype), then a min-max stretch of the indices over the whole image
    given (all channels; left as is if constant).

    Raises:
        ValueError: preset is not arniqa (kadis' multi-level Otsu is not implemented).
    """
    if ctx.preset != "arniqa":
        raise ValueError(f"quantization: preset {ctx.preset!r} is not implemented (arniqa only)")
    n = int(ctx.value)
    edges = torch.tensor([0] + [255 * i // n for i in range(1, n)] + [256], dtype=img.dtype, device=img.device)
    idx = torch.bucketize(img.contiguous() * 255, edges).double()
    lo, hi = idx.min(), idx.max()
    if lo < hi:
        idx = (idx - lo) / (hi - lo)
    return idx.to(img.dtype)


@register("white_noise_ycbcr")
def white_noise_ycbcr(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.16: N(0, v) added to Y, Cb, Cr (normals 0, 1, 2). reiqa: studio range, not clipped;
    kadis: studio range, noisy YCbCr clipped to [0, 1] (MATLAB imnoise); arniqa: kornia full range
    (bug A9 is a preset property), exact inverse."""
    noise = math.sqrt(ctx.value) * pixel_normals(img, ctx)[:3]
    x = img.double()
    if ctx.preset == "arniqa":
        return colour.ycbcr_full_to_rgb(colour.rgb_to_ycbcr_full(x) + noise).to(img.dtype)
    ycc = colour.rgb_to_ycbcr_studio(x) + noise
    if ctx.preset == "kadis":
        ycc = ycc.clamp(0, 1)
    return colour.ycbcr_studio_to_rgb(ycc).to(img.dtype)


@register("impulse_noise")
def impulse_noise(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.17: u < d/2 → 0, u > 1 − d/2 → 1. reiqa: one uniform per pixel (word 0), grey impulses;
    kadis (MATLAB salt & pepper) and arniqa [PROPOSAL: per-element Bernoulli in place of ⌊d·C·H·W⌋
    coordinates drawn with replacement]: words 0, 1, 2 for R, G, B."""
    u = _uniforms(img, ctx)
    u = u[:1].expand(3, -1, -1) if ctx.preset == "reiqa" else u[:3]
    half = ctx.value / 2
    out = img.clone()
    out[u < half] = 0
    out[u > 1 - half] = 1
    return out


@register("multiplicative_noise")
def multiplicative_noise(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.18: y = x + x·n. reiqa/arniqa: n = √v·normal (normals 0, 1, 2); kadis (MATLAB speckle):
    n = (2u − 1)·√(3v), uniforms of words 0, 1, 2."""
    if ctx.preset == "kadis":
        n = math.sqrt(3 * ctx.value) * (2 * _uniforms(img, ctx)[:3] - 1)
    else:
        n = math.sqrt(ctx.value) * pixel_normals(img, ctx)[:3]
    x = img.double()
    return (x + x * n).to(img.dtype)


def _gaussian_taps(sigma: float, radius: int) -> Tensor:
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * k**2 / sigma**2)
    return w / w.sum()


def _blur_replicate(planes: Tensor, taps: Tensor) -> Tensor:
    """Separable correlation of Tensor[c, h, w] with the symmetric 1-D ``taps``, replicate borders."""
    r = (taps.numel() - 1) // 2
    x = planes.unsqueeze(1)  # (c, 1, h, w)
    kernel = taps.to(planes.dtype)
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (r, r, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 0, r, r), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x.squeeze(1)


@register("unsharp_mask")
def unsharp_mask(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.10. reiqa: L' = clip(L − a·(∂y∂y L + ∂x∂x L), 0, 100) with ``numpy.gradient`` passes, a*, b*
    kept; ``compat`` (bug R1): Lab of 255·x, as ReIQA's 0..255 floats into ``rgb2lab``. kadis, and
    arniqa with bug A4 fixed (σ = 3 instead of 6): MATLAB ``imsharpen`` on L, L' = clip(L + a·(L −
    G₃ * L), 0, 100), 13×13 Gaussian (σ 3), replicate borders. Length-1 axes have zero gradient
    [PROPOSAL; numpy raises]."""
    x = img.double()
    if ctx.preset == "reiqa" and ctx.compat:
        x = 255 * x
    lab = colour.rgb_to_lab(x)
    L = lab[0]
    if ctx.preset == "reiqa":
        lap = np_gradient(np_gradient(L, 1), 1) + np_gradient(np_gradient(L, 0), 0)
        L2 = L - ctx.value * lap
    else:
        L2 = L + ctx.value * (L - _blur_replicate(L.unsqueeze(0), _gaussian_taps(3.0, 6))[0])
    return colour.lab_to_rgb(torch.stack([L2.clamp(0, 100), lab[1], lab[2]])).to(img.dtype)


@register("color_diffuse")
def color_diffuse(img: Tensor, ctx: OpContext) -> Tensor:
    """§4.22: a*, b* blurred with a Gaussian of σ = 1.5a + 2 (replicate borders) and multiplied by a;
    L kept. reiqa: scikit-image window, radius ⌊4σ + 0.5⌋; kadis/arniqa: MATLAB window, radius
    ⌈2σ⌉; arniqa quantises to trunc(255·y)/255 (bug A1 fixed)."""
    sigma = 1.5 * ctx.value + 2
    radius = int(4 * sigma + 0.5) if ctx.preset == "reiqa" else math.ceil(2 * sigma)
    lab = colour.rgb_to_lab(img.double())
    ab = _blur_replicate(lab[1:], _gaussian_taps(sigma, radius)) * ctx.value
    y = colour.lab_to_rgb(torch.cat([lab[:1], ab]))
    if ctx.preset == "arniqa":
        y = _trunc255(y)
    return y.to(img.dtype)
