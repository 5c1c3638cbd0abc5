"""Reference operators, elementwise and elementwise + RNG classes (DISTORTIONS.md §6)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pyiqa_fast.distortions import philox
from pyiqa_fast.ops.distort.impl.reference import OpContext, register


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
