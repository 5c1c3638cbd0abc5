"""Colour conversions of the reference operators (DISTORTIONS.md §2.2), on planar Tensor[3, h, w].

The same formulas as ``csrc/common/color.h``: sRGB ↔ CIELAB (D65, scikit-image conventions,
f-domain z clamped at 0, RGB clipped), BT.601 studio and full-range YCbCr, HSV hexcone.
Computed in the input's dtype (the operators pass float64).
"""

from __future__ import annotations

import torch
from torch import Tensor

DELTA = 6.0 / 29.0
WHITE = (0.95047, 1.0, 1.08883)
XYZ_FROM_RGB = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
STUDIO = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
STUDIO_OFFSET = (16.0, 128.0, 128.0)


def _matmul(m, img: Tensor) -> Tensor:
    mat = torch.as_tensor(m, dtype=img.dtype, device=img.device)
    return torch.einsum("ij,jhw->ihw", mat, img)


def srgb_to_linear(c: Tensor) -> Tensor:
    return torch.where(c > 0.04045, ((c + 0.055) / 1.055).clamp_min(0) ** 2.4, c / 12.92)


def linear_to_srgb(c: Tensor) -> Tensor:
    return torch.where(c > 0.0031308, 1.055 * c.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, c * 12.92)


def _f(t: Tensor) -> Tensor:
    return torch.where(t > DELTA**3, t.clamp_min(DELTA**3).pow(1 / 3), t / (3 * DELTA**2) + 4 / 29)


def _finv(u: Tensor) -> Tensor:
    return torch.where(u > DELTA, u**3, 3 * DELTA**2 * (u - 4 / 29))


def rgb_to_lab(img: Tensor) -> Tensor:
    """sRGB [0, 1] → Lab (L ∈ [0, 100]), Tensor[3, h, w]."""
    xyz = _matmul(XYZ_FROM_RGB, srgb_to_linear(img))
    white = torch.tensor(WHITE, dtype=img.dtype, device=img.device).view(3, 1, 1)
    fx, fy, fz = _f(xyz / white)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)])


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Lab → sRGB clipped to [0, 1]; the f-domain z is clamped at 0 (scikit-image)."""
    L, a, b = lab
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = (fy - b / 200).clamp_min(0)
    white = torch.tensor(WHITE, dtype=lab.dtype, device=lab.device).view(3, 1, 1)
    xyz = _finv(torch.stack([fx, fy, fz])) * white
    inv = torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, dtype=torch.float64)).to(lab.dtype)
    return linear_to_srgb(_matmul(inv, xyz)).clamp(0, 1)


def rgb_to_ycbcr_studio(img: Tensor) -> Tensor:
    """BT.601 studio swing on [0, 1]: (offset + M·rgb)/255."""
    off = torch.tensor(STUDIO_OFFSET, dtype=img.dtype, device=img.device).view(3, 1, 1)
    return (off + _matmul(STUDIO, img)) / 255


def ycbcr_studio_to_rgb(ycc: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr_studio` (matrix inverse, not clipped)."""
    off = torch.tensor(STUDIO_OFFSET, dtype=ycc.dtype, device=ycc.device).view(3, 1, 1) / 255
    inv = torch.linalg.inv(torch.tensor(STUDIO, dtype=torch.float64) / 255).to(ycc.dtype)
    return _matmul(inv, ycc - off)


def rgb_to_ycbcr_full(img: Tensor) -> Tensor:
    """kornia's full-range YCbCr."""
    r, g, b = img
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, 0.564 * (b - y) + 0.5, 0.713 * (r - y) + 0.5])


def ycbcr_full_to_rgb(ycc: Tensor) -> Tensor:
    """Exact algebraic inverse of :func:`rgb_to_ycbcr_full` (not clipped)."""
    y, cb, cr = ycc
    r = y + (cr - 0.5) / 0.713
    b = y + (cb - 0.5) / 0.564
    return torch.stack([r, (y - 0.299 * r - 0.114 * b) / 0.587, b])


def rgb_to_hsv(img: Tensor) -> Tensor:
    """scikit-image rgb2hsv: h ∈ [0, 1), s = Δ/max (0 for black), v = max."""
    r, g, b = img
    v = img.amax(0)
    delta = v - img.amin(0)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(v > 0, delta / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    h = torch.where(b == v, 4 + (r - g) / safe, torch.where(g == v, 2 + (b - r) / safe, (g - b) / safe))
    h = h / 6
    h = torch.where(delta > 0, h - torch.floor(h), torch.zeros_like(h))
    return torch.stack([h, s, v])


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """scikit-image hsv2rgb (s may be negative or above 1: the formulas are applied as they are)."""
    h, s, v = hsv
    h6 = h * 6
    hi = torch.floor(h6)
    f = h6 - hi
    hi = torch.remainder(hi, 6).long()
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = torch.stack([torch.stack(c) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return torch.gather(table, 0, hi.expand(1, 3, *hi.shape)).squeeze(0)
