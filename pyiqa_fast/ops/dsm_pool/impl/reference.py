"""Reference backend of ``dsm_pool``: the specification, in plain PyTorch.

DSMix's ground-truth distortion-sensitivity map (METHODS.md §4.1): the absolute difference of
reference and distorted image, averaged over the 3 channels, then p×p average pooling with
stride p. Three passes over full-size intermediates (|diff|, the channel mean) — the eager
baseline of PERFORMANCE.md §2.3. Autograd-native (``abs`` has subgradient 0 at 0),
float64-capable, any device.

uint8 images are read as value / 255, i.e. in [0, 1] (METHODS.md §4.1 [PROPOSAL] pixel scale),
and give a float32 map. With ``ceil_mode`` the partial cells at the bottom and right edges are
averaged over their real pixel count (``avg_pool2d`` with no padding does exactly that).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pyiqa_fast._backends import Backend

DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)


def dsm_pool(ref: Tensor, dist: Tensor, pool: int = 8, ceil_mode: bool = False) -> Tensor:
    """Channel-mean |ref − dist| pooled over p×p cells.

    Args:
        ref: Tensor[B, 3, H, W], uint8 or floating.
        dist: Tensor[B, 3, H, W] of ``ref``'s dtype and device.
        pool: Cell size p (kernel and stride).
        ceil_mode: Keep partial edge cells (averaged over their real pixel count).

    Returns:
        Tensor[B, 1, ⌊H/p⌋ or ⌈H/p⌉, ⌊W/p⌋ or ⌈W/p⌉]: ``ref``'s dtype (float32 for uint8).
    """
    if ref.dtype == torch.uint8:
        ref, dist = ref.float() / 255, dist.float() / 255
    diff = (ref - dist).abs().mean(dim=1, keepdim=True)
    if diff.numel() == 0:  # avg_pool2d refuses empty inputs; keep the result in the graph
        batch, _, height, width = diff.shape
        rounding = pool - 1 if ceil_mode else 0
        size = ((height + rounding) // pool, (width + rounding) // pool)
        return diff.new_zeros((batch, 1, *size)) + diff.sum()
    return F.avg_pool2d(diff, pool, stride=pool, ceil_mode=ceil_mode)


BACKEND = Backend(
    name="reference",
    run=dsm_pool,
    devices=("cpu", "cuda"),
    dtypes=DTYPES,
    supports_backward=True,
    deterministic=True,
    tolerances={torch.float64: (0.0, 0.0)},
    availability=lambda: (True, ""),
)
