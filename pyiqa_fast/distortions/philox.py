"""Philox4x32-10 in plain PyTorch int64 arithmetic: the reference of ``csrc/common/philox.h``.

Every backend draws the same random field for the same key (DISTORTIONS.md §5.2 [PROPOSAL]):
key = a 64-bit seed, counter = (x, y, draw, domain) with (x, y) image coordinates. Products of
two 32-bit words are formed from 16-bit limbs so that nothing overflows int64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_MASK32 = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
DOMAIN_PIXEL = 0
DOMAIN_CALL = 1
DOMAIN_SEED = 2


def _mulhilo(m: int, b: Tensor) -> tuple[Tensor, Tensor]:
    """(high, low) 32-bit words of m·b for a constant m < 2³² and int64 b < 2³²."""
    b_hi, b_lo = b >> 16, b & 0xFFFF
    lo_part = m * b_lo  # < 2⁴⁸
    t = m * b_hi + (lo_part >> 16)  # < 2⁴⁹
    return t >> 16, ((t & 0xFFFF) << 16) | (lo_part & 0xFFFF)


def philox4x32_10(c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor, k1: Tensor) -> tuple[Tensor, ...]:
    """Ten Philox rounds on broadcastable int64 tensors holding uint32 values.

    Returns:
        Four int64 tensors of uint32 values (r0, r1, r2, r3).
    """
    k0 = torch.as_tensor(k0, dtype=torch.int64) & _MASK32
    k1 = torch.as_tensor(k1, dtype=torch.int64) & _MASK32
    for _ in range(10):
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


def split_seed(seed: Tensor) -> tuple[Tensor, Tensor]:
    """(low, high) 32-bit words of int64 seeds (read as unsigned 64-bit)."""
    return seed & _MASK32, (seed >> 32) & _MASK32


def draw(seed: Tensor, x: Tensor, y: Tensor, d: Tensor | int, domain: int = DOMAIN_PIXEL) -> tuple[Tensor, ...]:
    """Philox words for counters (x, y, d, domain) under the key ``seed`` (all broadcast)."""
    k0, k1 = split_seed(torch.as_tensor(seed, dtype=torch.int64))
    x = torch.as_tensor(x, dtype=torch.int64)
    c1 = torch.as_tensor(y, dtype=torch.int64, device=x.device)
    c2 = torch.as_tensor(d, dtype=torch.int64, device=x.device)
    c0, c1, c2 = torch.broadcast_tensors(x, c1, c2)
    c3 = torch.full_like(c0, domain)
    return philox4x32_10(c0, c1, c2, c3, k0.to(x.device), k1.to(x.device))


def uniform(r: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """(r >> 8)·2⁻²⁴ ∈ [0, 1), exact in float32 and float64."""
    return (r >> 8).to(dtype) * (1.0 / 16777216.0)


def box_muller(r0: Tensor, r1: Tensor) -> tuple[Tensor, Tensor]:
    """Two standard normals (float64) per pair of words, as ``philox::box_muller``."""
    a = ((r0 >> 8).double() + 1.0) * (1.0 / 16777216.0)
    b = (r1 >> 8).double() * (1.0 / 16777216.0)
    radius = torch.sqrt(-2.0 * torch.log(a))
    angle = 2.0 * math.pi * b
    return radius * torch.cos(angle), radius * torch.sin(angle)


def pixel_grid(height: int, width: int, y0: int = 0, x0: int = 0, device=None) -> tuple[Tensor, Tensor]:
    """Image coordinates (x, y) of an (height, width) region whose top-left pixel is (y0, x0)."""
    ys = torch.arange(y0, y0 + height, dtype=torch.int64, device=device)
    xs = torch.arange(x0, x0 + width, dtype=torch.int64, device=device)
    return xs.view(1, -1).expand(height, width), ys.view(-1, 1).expand(height, width)
