"""CUDA kernel of the statistics class (``csrc/kernels/distort/distort_statistics_cuda.cu``): colour
shift (id 22) against the float64 reference — every level per preset and dtype, block semantics,
a constant image (mapmm's unchanged branch), odd sizes (DISTORTIONS.md §4.23, §10.5). Runs on the
CPU through the CUDA host emulator (``cuda-emulated``) and on a GPU (``cuda``)."""

from __future__ import annotations

import pytest
import torch

from tests.distortions.gpu_cases import FP32_ATOL, GPU_BACKENDS, check_against_reference, sample_image

pytestmark = pytest.mark.parametrize(
    ("backend", "device"), [p for p in GPU_BACKENDS if p.id not in ("triton-interpreter", "triton-cuda")])

COLOR_SHIFT = 22
SIZE = (16, 20)  # the emulator runs one std::thread per CUDA thread: small images


def _atol(dtype: torch.dtype) -> float | None:
    # The mask is computed in float64 for both dtypes (exact order statistics), so float32 only
    # rounds the input and the output: the default FP32_ATOL.
    return FP32_ATOL if dtype == torch.float32 else None


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("level", range(5))
def test_every_level_reiqa(backend, device, level, dtype):
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [level, level], preset="reiqa", dtype=dtype,
                            size=SIZE, atol=_atol(dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("level", [0, 4])
@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
def test_levels_kadis_arniqa(backend, device, preset, level, dtype):
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [level, level], preset=preset, dtype=dtype,
                            size=SIZE, seed=1, atol=_atol(dtype))


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("preset", ["reiqa", "kadis", "arniqa"])
def test_blocks_grid2x2(backend, device, preset, block_mode):
    # Per-block levels; in crop mode every block has its own statistics domain and size.
    types = torch.full((2, 4), COLOR_SHIFT)
    levels = torch.arange(8).remainder(5).view(2, 4)
    check_against_reference(backend, device, types, levels, preset=preset, partition="grid2x2",
                            block_mode=block_mode, size=(23, 31), seed=2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("preset", ["reiqa", "arniqa"])
def test_constant_image(backend, device, preset, dtype):
    # Zero gradient: every mapmm takes its unchanged branch and the mask is the 0.1 floor.
    image = torch.full((2, 3, 15, 18), 0.37, dtype=torch.float64)
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [2, 4], preset=preset, dtype=dtype,
                            image=image, atol=_atol(dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("size", [(1, 1), (1, 9), (7, 5), (23, 31)])
def test_odd_sizes(backend, device, size, dtype):
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [1, 4], preset="reiqa", dtype=dtype, size=size,
                            seed=3, atol=_atol(dtype))


def test_duplicate_values(backend, device):
    # Many ties among the order statistics (a quantised image: flat areas, repeated gradients).
    image = (sample_image(2, (19, 27), seed=4) * 4).round() / 4
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [3, 4], preset="reiqa", image=image)
