"""The CUDA kernels of the resample class (``csrc/kernels/distort/distort_resample_cuda.cu``) on the CPU
through the host emulator, against the float64 reference: resize bicubic/bilinear/lanczos (0, 1, 2),
pixelate (3), jitter (10), resize_nearest (25). Every level, both compute dtypes, every preset a type
has, grid2x2 in both block modes, chains, odd and degenerate sizes. Small images: the emulator is slow."""

from __future__ import annotations

import pytest
import torch

from tests.distortions.gpu_cases import check_against_reference

RESIZE_BICUBIC, RESIZE_BILINEAR, RESIZE_LANCZOS, PIXELATE, JITTER, RESIZE_NEAREST = 0, 1, 2, 3, 10, 25
CASES = [  # (type, presets with levels)
    (RESIZE_BICUBIC, ["reiqa"]),
    (RESIZE_BILINEAR, ["reiqa"]),
    (RESIZE_LANCZOS, ["reiqa"]),
    (RESIZE_NEAREST, ["reiqa"]),
    (PIXELATE, ["reiqa", "kadis", "arniqa"]),
    (JITTER, ["reiqa", "kadis", "arniqa"]),
]
TYPE_PRESETS = [pytest.param(t, p, id=f"{t}-{p}") for t, presets in CASES for p in presets]
TYPES = [pytest.param(t, presets[-1], id=str(t)) for t, presets in CASES]


def check(**kwargs):
    check_against_reference("cuda-emu", "cpu", **kwargs)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize(("type_id", "preset"), TYPE_PRESETS)
def test_every_level(type_id, preset, dtype):
    check(types=[type_id] * 5, levels=list(range(5)), preset=preset, dtype=dtype, size=(21, 34))


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize(("type_id", "preset"), TYPE_PRESETS)
def test_grid2x2(type_id, preset, block_mode):
    check(types=torch.full((2, 4), type_id), levels=torch.arange(8).view(2, 4) % 5, preset=preset,
          partition="grid2x2", block_mode=block_mode, size=(23, 31))


@pytest.mark.parametrize("size", [(3, 5), (1, 17), (37, 19)], ids=["3x5", "1x17", "37x19"])
@pytest.mark.parametrize(("type_id", "preset"), TYPES)
def test_odd_sizes(type_id, preset, size):
    check(types=[type_id] * 2, levels=[1, 4], preset=preset, size=size, dtype=torch.float32)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("type_id", [RESIZE_LANCZOS, PIXELATE, JITTER])
def test_chain(type_id, block_mode):
    # a non-last step in composite mode writes the whole image into the pool's scratch
    types = torch.tensor([[[type_id, type_id]] * 4])
    levels = torch.tensor([[[4, 3], [0, 1], [2, 2], [1, 4]]])
    check(types=types, levels=levels, partition="grid2x2", block_mode=block_mode, size=(22, 26))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
def test_mixed_table(dtype):
    types = torch.tensor([[RESIZE_BICUBIC, RESIZE_BILINEAR, RESIZE_LANCZOS, PIXELATE],
                          [RESIZE_NEAREST, JITTER, PIXELATE, RESIZE_BICUBIC]])
    levels = torch.tensor([[0, 1, 2, 3], [4, 0, 1, 2]])
    check(types=types, levels=levels, partition="grid2x2", block_mode="crop", size=(30, 33), dtype=dtype)


@pytest.mark.parametrize("preset", ["reiqa", "kadis", "arniqa"])
def test_jitter_fp32_larger(preset):
    # five dependent float32 iterations stay within the fp32 tolerance on a larger image
    check(types=[JITTER] * 2, levels=[3, 4], preset=preset, size=(48, 56), dtype=torch.float32)
