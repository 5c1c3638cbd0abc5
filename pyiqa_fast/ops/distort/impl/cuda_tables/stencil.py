"""Host-built tables of the stencil class CUDA kernels (``csrc/kernels/distort/distort_stencil_cuda.cu``).

Separable types (gaussian_blur, reiqa motion_blur, denoise, color_diffuse, kadis/arniqa
unsharp_mask): a chain of centred 1-D FIR passes along x, then along y, each with replicate
borders before it. Per entry:

- itable int64 [N, 2 + 3·MAX_PASSES]: ``nx, ny``, then ``(lo, n, off)`` per pass (the nx x passes,
  then the ny y passes): taps ``ftable[off:off + n]`` at offsets ``lo, lo + 1, …``;
- ftable float64 [N, F]: the taps of every pass, concatenated (F ≤ MAX_TAPS).

2-D types (lens_blur, kadis/arniqa motion_blur): itable ``[ry, rx]``; ftable the (2ry + 1) ×
(2rx + 1) correlation kernel, row-major (ry, rx ≤ MAX_2D_RADIUS).

reiqa unsharp_mask (numpy.gradient Laplacian) needs no table.
"""

from __future__ import annotations

import functools
import math

import torch

from pyiqa_fast.distortions.filters import (
    cached_kernel,
    matlab_gaussian_taps,
    pillow_box_taps,
    pillow_gaussian_radius,
)
from pyiqa_fast.distortions.registry import BY_NAME

MAX_PASSES = 6
MAX_TAPS = 512
MAX_2D_RADIUS = 8
# The kernels' largest total halo per axis: the rows kernel, and the cols kernel's variants.
MAX_ROW_HALO = 96
MAX_COL_HALO = {"color_diffuse": 80}
DEFAULT_COL_HALO = 16

Taps = tuple[float, ...]


@functools.lru_cache(maxsize=256)
def _pillow_gaussian(sigma: float) -> Taps:
    return tuple(pillow_box_taps(pillow_gaussian_radius(sigma, 3)))


@functools.lru_cache(maxsize=256)
def _matlab_gaussian(sigma: float) -> Taps:
    return tuple(matlab_gaussian_taps(sigma))


@functools.lru_cache(maxsize=256)
def _lab_gaussian(sigma: float, radius: int) -> Taps:
    """The Lab stencils' normalised sampled Gaussian (reference ``pointwise._gaussian_taps``)."""
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * k**2 / sigma**2)
    return tuple((w / w.sum()).tolist())


def _motion_line(k: int) -> Taps:
    """reiqa's centred axis-aligned line: even k → k + 1 taps (ends 1/(2k)), odd k → k taps of 1/k."""
    if k < 1:
        raise ValueError(f"motion_blur: line length {k} < 1")
    if k % 2 == 0:
        return (0.5 / k,) + (1.0 / k,) * (k - 1) + (0.5 / k,)
    return (1.0 / k,) * k


def _halo(taps: Taps) -> int:
    return len(taps) // 2


def _separable_tables(chains: list[tuple[list[Taps], list[Taps]]], col_halo: int,
                      name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(ftable, itable) of per-entry (x passes, y passes), every pass centred (odd length)."""
    n = len(chains)
    itable = torch.zeros(n, 2 + 3 * MAX_PASSES, dtype=torch.int64)
    rows = []
    for i, (xs, ys) in enumerate(chains):
        passes = list(xs) + list(ys)
        if len(passes) > MAX_PASSES:
            raise ValueError(f"{name}: {len(passes)} passes > {MAX_PASSES}")
        if sum(map(_halo, xs)) > MAX_ROW_HALO or sum(map(_halo, ys)) > col_halo:
            raise ValueError(f"{name}: filter halo beyond the CUDA kernel's tile")
        itable[i, 0], itable[i, 1] = len(xs), len(ys)
        flat: list[float] = []
        for k, taps in enumerate(passes):
            assert len(taps) % 2 == 1
            itable[i, 2 + 3 * k: 5 + 3 * k] = torch.tensor([-(len(taps) // 2), len(taps), len(flat)])
            flat.extend(taps)
        rows.append(flat)
    width = max(1, max(len(r) for r in rows))
    if width > MAX_TAPS:
        raise ValueError(f"{name}: {width} taps > {MAX_TAPS}")
    ftable = torch.zeros(n, width, dtype=torch.float64)
    for i, r in enumerate(rows):
        if r:
            ftable[i, : len(r)] = torch.tensor(r, dtype=torch.float64)
    return ftable, itable


def _kernel2d_tables(kernels: list[torch.Tensor], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(kernels)
    itable = torch.zeros(n, 2, dtype=torch.int64)
    width = max(k.numel() for k in kernels)
    ftable = torch.zeros(n, width, dtype=torch.float64)
    for i, k in enumerate(kernels):
        ry, rx = k.shape[0] // 2, k.shape[1] // 2
        if ry > MAX_2D_RADIUS or rx > MAX_2D_RADIUS:
            raise ValueError(f"{name}: a {k.shape[0]}×{k.shape[1]} kernel is beyond the CUDA kernel's tile")
        itable[i, 0], itable[i, 1] = ry, rx
        ftable[i, : k.numel()] = k.reshape(-1)
    return ftable, itable


def motion_blur(group) -> tuple[torch.Tensor, torch.Tensor]:
    values = group.host_values.tolist()
    aux0 = group.host_aux[:, 0].tolist()
    if group.preset != "reiqa":
        kernels = [cached_kernel("motion", v, math.floor(a * 181)) for v, a in zip(values, aux0, strict=True)]
        return _kernel2d_tables(kernels, "motion_blur")
    chains = []
    for v, a in zip(values, aux0, strict=True):
        line = _motion_line(int(v))
        chains.append(([line], []) if a < 0.5 else ([], [line]))
    return _separable_tables(chains, DEFAULT_COL_HALO, "motion_blur")


def gaussian_blur(group) -> tuple[torch.Tensor, torch.Tensor]:
    chains = []
    for v in group.host_values.tolist():
        if not v > 0:
            raise ValueError(f"gaussian_blur: sigma {v} must be positive")
        if group.preset == "reiqa":
            taps = _pillow_gaussian(v)
            chains.append(([taps] * 3, [taps] * 3))
        else:
            taps = _matlab_gaussian(v)
            chains.append(([taps], [taps]))
    return _separable_tables(chains, DEFAULT_COL_HALO, "gaussian_blur")


def lens_blur(group) -> tuple[torch.Tensor, torch.Tensor]:
    return _kernel2d_tables([cached_kernel("disk", v) for v in group.host_values.tolist()], "lens_blur")


def unsharp_mask(group) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if group.preset == "reiqa":
        return None, None  # numpy.gradient Laplacian: no taps
    taps = _lab_gaussian(3.0, 6)
    return _separable_tables([([taps], [taps])] * group.size, DEFAULT_COL_HALO, "unsharp_mask")


def denoise(group) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if group.preset != "reiqa":
        return None, None  # no kernel (the launcher refuses the group)
    gauss = _pillow_gaussian(3.0)
    box = tuple(pillow_box_taps(2.0))
    chains = [([gauss] * 3, [gauss] * 3) if a < 0.5 else ([box], [box]) for a in group.host_aux[:, 0].tolist()]
    return _separable_tables(chains, DEFAULT_COL_HALO, "denoise")


def color_diffuse(group) -> tuple[torch.Tensor, torch.Tensor]:
    chains = []
    for v in group.host_values.tolist():
        sigma = 1.5 * v + 2
        radius = int(4 * sigma + 0.5) if group.preset == "reiqa" else math.ceil(2 * sigma)
        taps = _lab_gaussian(sigma, radius)
        chains.append(([taps], [taps]))
    return _separable_tables(chains, MAX_COL_HALO["color_diffuse"], "color_diffuse")


TABLES: dict = {BY_NAME[name].id: fn for name, fn in (
    ("motion_blur", motion_blur), ("gaussian_blur", gaussian_blur), ("lens_blur", lens_blur),
    ("unsharp_mask", unsharp_mask), ("denoise", denoise), ("color_diffuse", color_diffuse))}
