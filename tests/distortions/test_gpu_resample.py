"""GPU backends of ``distort``, resampling class (``triton_kernels/distort/resample.py``): Pillow
resize (bicubic, bilinear, Lanczos, nearest), pixelate and jitter against the float64 reference,
every level, the three presets, both block modes, odd and tiny sizes, chains, multi-tile launches.

Images are small (the Triton interpreter's cost is per operation); jitter's reiqa prefilter is a
63-tap FIR in float64 (31 taps in float32) that equals the reference's recursive filter to ~1e-15.
"""

from __future__ import annotations

import pytest
import torch

from tests.distortions.gpu_cases import GPU_BACKENDS, check_against_reference

pytestmark = pytest.mark.parametrize(("backend", "device"), GPU_BACKENDS)

BICUBIC, BILINEAR, LANCZOS, PIXELATE, JITTER, NEAREST = 0, 1, 2, 3, 10, 25
RESIZE = [BICUBIC, BILINEAR, LANCZOS, NEAREST]
LEVELS = [0, 1, 2, 3, 4]
# Small enough for the interpreter; jitter (5 dependent passes) gets the smallest.
SIZES = {BICUBIC: (21, 34), BILINEAR: (21, 34), LANCZOS: (21, 34), NEAREST: (21, 34), PIXELATE: (21, 34),
         JITTER: (13, 22)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("type_id", [BICUBIC, BILINEAR, LANCZOS, NEAREST, PIXELATE, JITTER])
def test_reiqa_every_level(backend, device, type_id, dtype):
    # All five levels in one launch group (per-entry tables padded to the group's maxima).
    # resize level 4 (k = 16) on 21×34 shrinks to 1×2 (Pillow's max(1, ⌊n/k⌋)).
    check_against_reference(backend, device, [type_id] * 5, LEVELS, dtype=dtype, size=SIZES[type_id])


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
@pytest.mark.parametrize("type_id", [PIXELATE, JITTER])
def test_other_presets_every_level(backend, device, type_id, preset):
    check_against_reference(backend, device, [type_id] * 5, LEVELS, preset=preset, size=SIZES[type_id])


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
@pytest.mark.parametrize("type_id", [PIXELATE, JITTER])
def test_other_presets_float32(backend, device, type_id, preset):
    check_against_reference(backend, device, [type_id] * 2, [0, 4], preset=preset, dtype=torch.float32,
                            size=SIZES[type_id])


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_grid2x2_mixed_types(backend, device, block_mode):
    # One entry per block; every type of the class with different levels in one table, so launch
    # groups mix levels and (in crop mode) block sizes (23×37: blocks 12×19, 12×18, 11×19, 11×18).
    types = torch.tensor([[BICUBIC, BILINEAR, LANCZOS, NEAREST], [PIXELATE, JITTER, BICUBIC, LANCZOS],
                          [JITTER, PIXELATE, NEAREST, BILINEAR]])
    levels = torch.tensor([[4, 1, 3, 2], [0, 4, 1, 4], [2, 3, 4, 0]])
    check_against_reference(backend, device, types, levels, partition="grid2x2", block_mode=block_mode,
                            size=(23, 37))


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_grid2x2_other_presets(backend, device, preset, block_mode):
    types = torch.tensor([[PIXELATE, JITTER, JITTER, PIXELATE]])
    levels = torch.tensor([[4, 3, 4, 1]])
    check_against_reference(backend, device, types, levels, preset=preset, partition="grid2x2",
                            block_mode=block_mode, size=(15, 21))


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (1, 9), (9, 1), (2, 3)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_odd_and_tiny_sizes(backend, device, size):
    # Sizes the factor clamps to 1 (passes skipped by the reference = identity here), single
    # rows/columns (jitter's reflect and FIR wrap over many periods of a 1- or 2-pixel line).
    types = [BICUBIC, BILINEAR, LANCZOS, NEAREST, PIXELATE, JITTER]
    check_against_reference(backend, device, types, [4, 2, 3, 1, 4, 4], size=size)


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
def test_odd_sizes_other_presets(backend, device, preset):
    for size in [(1, 1), (7, 5)]:
        check_against_reference(backend, device, [PIXELATE, JITTER], [4, 4], preset=preset, size=size)


def test_odd_size_23x37(backend, device):
    types = [BICUBIC, BILINEAR, LANCZOS, NEAREST, PIXELATE, JITTER]
    check_against_reference(backend, device, types, [1, 3, 2, 4, 2, 3], size=(23, 37))


def test_jitter_lines_longer_than_the_prefilter(backend, device):
    # 3×80 (float64): rows longer than the FIR's 63 taps, so its truncation (not the reflection)
    # decides; float32 on the same image (31 taps).
    check_against_reference(backend, device, [JITTER] * 2, [3, 4], size=(3, 80))
    check_against_reference(backend, device, [JITTER], [4], size=(3, 80), dtype=torch.float32)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_chains_through_scratch_images(backend, device, block_mode):
    # (B=2, K=2, S=3): chains read and write the schedule's scratch images between steps.
    types = torch.tensor([[[LANCZOS, JITTER, PIXELATE], [NEAREST, -1, BICUBIC]],
                          [[JITTER, BILINEAR, -1], [PIXELATE, JITTER, NEAREST]]])
    levels = torch.tensor([[[2, 3, 1], [1, -1, 3]], [[4, 0, -1], [2, 1, 4]]])
    check_against_reference(backend, device, types, levels, partition="vertical", block_mode=block_mode,
                            size=(11, 18))


def test_many_tiles_and_prefilter_chunks(backend, device, monkeypatch):
    # The GPU's multi-tile launches and chunked prefilter taps, forced under the interpreter.
    from triton_kernels.distort import resample

    if device == "cpu":
        monkeypatch.setattr(resample, "_blocks", lambda dev, views: (8, 16))  # 2×2 tiles of 9×19
        monkeypatch.setattr(resample, "_chunk", lambda dev: 1)  # as on the GPU
    types = torch.tensor([[BICUBIC, LANCZOS], [JITTER, PIXELATE], [NEAREST, BILINEAR]])
    levels = torch.tensor([[1, 2], [3, 4], [1, 2]])
    check_against_reference(backend, device, types, levels, partition="vertical", size=(9, 19))
