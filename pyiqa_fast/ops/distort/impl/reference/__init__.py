"""Reference backend of ``distort``: the specification, in plain PyTorch (DISTORTIONS.md).

Written for clarity, not speed: a Python loop over samples, blocks and chain slots; each
operator is a function ``op(img, ctx) -> img`` on one planar image Tensor[3, h, w] (float32, or
float64 for float64 inputs) in [0, 1], defined in one module per cost class. The block
semantics (§8.5) live here once:

- composite: each block's pixels come from the whole image distorted with that block's
  parameters: ``out[R_k] = T_k(x)[R_k]`` (positions of colour blocks and patch copies are drawn
  inside R_k, per-pixel random fields are keyed by image coordinates);
- crop: the block is cut out, distorted alone and pasted back (random fields still keyed by
  image coordinates).

Every operator's output is clipped to [0, 1]; uint8 inputs are read as value / 255 and written
back as ⌊255·y + 0.5⌋; float16/bfloat16 are computed in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from pyiqa_fast._backends import Backend
from pyiqa_fast.distortions.params import block_bounds
from pyiqa_fast.distortions.registry import PRESETS, SPECS

DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class OpContext:
    """What one operator call gets besides the image.

    Attributes:
        value: The level's parameter value (``registry.SPECS[type].levels``).
        preset: ``reiqa``, ``kadis`` or ``arniqa``.
        compat: Reproduce the reference implementations' bugs (DISTORTIONS.md §7).
        seed: The slot's Philox key (int64 tensor, 0-d, on the image's device).
        aux: float64 Tensor[AUX_SIZE], the per-call uniforms.
        region: (y0, y1, x0, x1) of the block inside the image the operator sees: positions are
            drawn inside it; the whole image in crop mode.
        rng_origin: (y0, x0), image coordinates of the operator's pixel (0, 0).
    """

    value: float
    preset: str
    compat: bool
    seed: Tensor
    aux: Tensor
    region: tuple[int, int, int, int]
    rng_origin: tuple[int, int]


Operator = Callable[[Tensor, OpContext], Tensor]
OPERATORS: dict[int, Operator] = {}


def register(name: str):
    """Decorator: registers a reference operator under the id of ``name``."""
    type_id = next(s.id for s in SPECS if s.name == name)

    def wrap(fn: Operator) -> Operator:
        OPERATORS[type_id] = fn
        return fn

    return wrap


def np_gradient(f: Tensor, dim: int) -> Tensor:
    """``numpy.gradient`` along ``dim``: central differences inside, one-sided at the two ends, 0 for
    a length-1 axis [PROPOSAL; numpy raises] (unsharp_mask's Laplacian, color_shift's edges)."""
    n = f.shape[dim]
    if n < 2:
        return torch.zeros_like(f)
    g = torch.empty_like(f)
    if n > 2:
        g.narrow(dim, 1, n - 2).copy_((f.narrow(dim, 2, n - 2) - f.narrow(dim, 0, n - 2)) / 2)
    g.narrow(dim, 0, 1).copy_(f.narrow(dim, 1, 1) - f.narrow(dim, 0, 1))
    g.narrow(dim, n - 1, 1).copy_(f.narrow(dim, n - 1, 1) - f.narrow(dim, n - 2, 1))
    return g


# Importing the cost-class modules fills OPERATORS.
from pyiqa_fast.ops.distort.impl.reference import codec as _codec  # noqa: E402,F401
from pyiqa_fast.ops.distort.impl.reference import pointwise as _pointwise  # noqa: E402,F401
from pyiqa_fast.ops.distort.impl.reference import resample as _resample  # noqa: E402,F401
from pyiqa_fast.ops.distort.impl.reference import stencil as _stencil  # noqa: E402,F401


def _apply_chain(image: Tensor, types: list[int], values: Tensor, seeds: Tensor, aux: Tensor, preset: str,
                 compat: bool, region: tuple[int, int, int, int], rng_origin: tuple[int, int]) -> Tensor:
    for slot, type_id in enumerate(types):
        if type_id < 0:
            continue
        ctx = OpContext(float(values[slot]), preset, compat, seeds[slot], aux[slot], region, rng_origin)
        image = OPERATORS[type_id](image, ctx).clamp(0, 1)
    return image


def distort(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
            preset: int, crop: bool, compat: bool) -> Tensor:
    """The op's schema, in PyTorch (see ``pyiqa_fast.ops.distort.api.distort``)."""
    preset_name = PRESETS[preset]
    work = x.to(torch.float32) / 255 if x.dtype == torch.uint8 else x.to(
        torch.float64 if x.dtype == torch.float64 else torch.float32)
    out = torch.empty_like(work, memory_format=torch.contiguous_format)
    height, width = work.shape[-2:]
    types_list = types.tolist()
    seeds = seeds.to(work.device)
    for b in range(work.shape[0]):
        for k, (y0, y1, x0, x1) in enumerate(block_bounds(height, width, (rows, cols))):
            if y1 == y0 or x1 == x0:
                continue
            chain = types_list[b][k]
            if crop:
                block = work[b, :, y0:y1, x0:x1].contiguous()
                result = _apply_chain(block, chain, values[b, k], seeds[b, k], aux[b, k], preset_name, compat,
                                      (0, y1 - y0, 0, x1 - x0), (y0, x0))
                out[b, :, y0:y1, x0:x1] = result
            else:
                result = _apply_chain(work[b].contiguous(), chain, values[b, k], seeds[b, k], aux[b, k],
                                      preset_name, compat, (y0, y1, x0, x1), (0, 0))
                out[b, :, y0:y1, x0:x1] = result[:, y0:y1, x0:x1]
    if x.dtype == torch.uint8:
        return torch.floor(out * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    return out.to(x.dtype)


def _limits(types: Tensor | None = None, **_) -> list[str]:
    if types is None:
        return []
    missing = sorted({t for t in types.unique().tolist() if t >= 0 and t not in OPERATORS})
    return [f"has no operator for {', '.join(SPECS[t].name for t in missing)}"] if missing else []


BACKEND = Backend(
    name="reference",
    run=distort,
    devices=("cpu", "cuda"),
    dtypes=DTYPES,
    supports_backward=False,
    deterministic=True,
    tolerances={torch.float64: (0.0, 0.0)},
    availability=lambda: (True, ""),
    limits=_limits,
)
