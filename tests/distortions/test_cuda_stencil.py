"""The stencil class CUDA kernels (``distort_stencil_cuda.cu``) through the host emulator (and on a
CUDA device when there is one): every level of every type per preset, float64 and float32, grid2x2
composite and crop blocks, against the float64 reference (DISTORTIONS.md §10.5)."""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast.distortions.registry import BY_NAME
from tests.distortions.gpu_cases import LAB_ATOL, check_against_reference

pytestmark = pytest.mark.parametrize(("backend", "device"), [
    pytest.param("cuda-emu", "cpu", id="cuda-emulated"),
    pytest.param("cuda", "cuda", id="cuda", marks=pytest.mark.needs_cuda),
])

NAMES = ("gaussian_blur", "lens_blur", "motion_blur", "denoise", "unsharp_mask", "color_diffuse")
LAB = {"unsharp_mask", "color_diffuse"}
LEVELS = list(range(5))
CASES = [pytest.param(n, p, d, id=f"{n}-{p}-{str(d).removeprefix('torch.')}")
         for n in NAMES for p in ("reiqa", "kadis", "arniqa") if p in BY_NAME[n].levels
         if not (n == "denoise" and p != "reiqa")
         for d in (torch.float64, torch.float32)]


def _atol(name: str, dtype: torch.dtype) -> float | None:
    return LAB_ATOL if dtype == torch.float32 and name in LAB else None


@pytest.mark.parametrize(("name", "preset", "dtype"), CASES)
def test_every_level(backend, device, name, preset, dtype):
    check_against_reference(backend, device, [BY_NAME[name].id] * 5, LEVELS, preset=preset, dtype=dtype,
                            atol=_atol(name, dtype), seed=1)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("preset", ["reiqa", "arniqa"])
def test_blocks_grid2x2(backend, device, preset, block_mode):
    names = [n for n in NAMES if preset in BY_NAME[n].levels and not (n == "denoise" and preset != "reiqa")]
    names = (names * 3)[:8]
    types = torch.tensor([BY_NAME[n].id for n in names]).view(2, 4)
    levels = torch.arange(8).remainder(5).view(2, 4)
    check_against_reference(backend, device, types, levels, preset=preset, partition="grid2x2",
                            block_mode=block_mode, size=(23, 37), seed=2)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 5)])
def test_small_sizes(backend, device, size):
    names = [n for n in NAMES if n != "denoise"]
    check_against_reference(backend, device, [BY_NAME[n].id for n in names], [4] * len(names), preset="kadis",
                            size=size, seed=3)
    check_against_reference(backend, device, [BY_NAME[n].id for n in NAMES], [4] * len(NAMES), preset="reiqa",
                            size=size, seed=3)


@pytest.mark.parametrize("preset", ["reiqa", "kadis"])
def test_several_tiles(backend, device, preset):
    # Images larger than one tile of the rows kernel (128 columns) and of the column / 2-D kernels
    # (16–32 rows): halos across tile edges, in composite blocks and the whole image.
    names = [n for n in NAMES if not (n == "denoise" and preset != "reiqa")]
    types = [BY_NAME[n].id for n in names]
    check_against_reference(backend, device, types, [4] * len(types), preset=preset, size=(70, 150), seed=5,
                            dtype=torch.float64)
    table = torch.tensor(types[:4]).view(1, 4)
    check_against_reference(backend, device, table, torch.tensor([[4, 3, 2, 4]]), preset=preset,
                            partition="grid2x2", size=(70, 150), seed=6)
