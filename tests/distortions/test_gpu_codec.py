"""GPU kernels of the codec / fill / global-statistics types assigned to ``triton_kernels/distort/codec.py``:
color_block (11), non_eccentricity (12), jpeg (13), color_shift (22), against the reference backend."""

from __future__ import annotations

import pytest
import torch

from tests.distortions.gpu_cases import FP32_ATOL, GPU_BACKENDS, check_against_reference

pytestmark = pytest.mark.parametrize(("backend", "device"), GPU_BACKENDS)

COLOR_BLOCK, NON_ECCENTRICITY, JPEG, COLOR_SHIFT = 11, 12, 13, 22
LEVELS = list(range(5))


# ---------------------------------------------------------------------------------------------
# Fill / copy: exact (atol 0 in float64; fp32 only rounds the colours).


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_color_block_every_level(backend, device, dtype):
    check_against_reference(backend, device, [COLOR_BLOCK] * 5, LEVELS, dtype=dtype, size=(45, 52),
                            atol=0.0 if dtype == torch.float64 else FP32_ATOL)


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
def test_color_block_presets(backend, device, preset):
    check_against_reference(backend, device, [COLOR_BLOCK] * 2, [0, 4], preset=preset, size=(40, 37), atol=0.0)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_color_block_blocks(backend, device, block_mode):
    # grid2x2 over 45×27: regions of 22/23 × 13/14 px, smaller than a 32 px square
    check_against_reference(backend, device, torch.full((2, 4), COLOR_BLOCK), torch.arange(8).view(2, 4) % 5,
                            partition="grid2x2", block_mode=block_mode, size=(45, 27), atol=0.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_non_eccentricity_every_level(backend, device, dtype):
    check_against_reference(backend, device, [NON_ECCENTRICITY] * 5, LEVELS, dtype=dtype, size=(49, 53), atol=0.0)


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
def test_non_eccentricity_presets(backend, device, preset):
    check_against_reference(backend, device, [NON_ECCENTRICITY] * 2, [0, 4], preset=preset, size=(50, 61),
                            atol=0.0)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_non_eccentricity_blocks(backend, device, block_mode):
    check_against_reference(backend, device, torch.full((2, 4), NON_ECCENTRICITY),
                            torch.tensor([[4, 3, 2, 1], [0, 4, 1, 3]]), partition="grid2x2", block_mode=block_mode,
                            size=(99, 101), atol=0.0)


def test_non_eccentricity_in_a_chain(backend, device):
    # a non-last step in composite mode writes the whole image (copies inside the block only)
    types = torch.tensor([[[NON_ECCENTRICITY, NON_ECCENTRICITY]] * 4])
    levels = torch.tensor([[[4, 3], [0, 1], [2, 2], [1, 4]]])
    check_against_reference(backend, device, types, levels, partition="grid2x2", size=(98, 100), atol=0.0)


def test_non_eccentricity_needs_49_pixels(backend, device):
    with pytest.raises(ValueError, match="49"):
        check_against_reference(backend, device, [NON_ECCENTRICITY], [0], size=(48, 60))
