"""GPU backends of ``distort``, stencil class (``triton_kernels/distort/stencil.py``): motion blur,
Gaussian blur, lens blur, unsharp masking, denoise and colour diffusion against the float64
reference, every level, every preset, both block modes, odd sizes and chains."""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast.distortions import sample_params
from tests.distortions.gpu_cases import FP32_ATOL, GPU_BACKENDS, LAB_ATOL, check_against_reference

MOTION, GAUSSIAN, LENS, UNSHARP, DENOISE, DIFFUSE = 4, 5, 6, 9, 18, 21
ALL = [MOTION, GAUSSIAN, LENS, UNSHARP, DENOISE, DIFFUSE]
NOT_DENOISE = [MOTION, GAUSSIAN, LENS, UNSHARP, DIFFUSE]  # kadis denoise is refused, arniqa has none
LAB = {UNSHARP, DIFFUSE}
SIZE = (17, 22)

pytestmark = pytest.mark.parametrize(("backend", "device"), GPU_BACKENDS)


def _atol(type_ids, dtype):
    if dtype == torch.float64:
        return None
    return LAB_ATOL if LAB & set(type_ids) else FP32_ATOL


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("type_id", ALL)
def test_reiqa_every_level(backend, device, type_id, dtype):
    check_against_reference(backend, device, [type_id] * 5, [0, 1, 2, 3, 4], dtype=dtype, size=SIZE,
                            atol=_atol([type_id], dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
@pytest.mark.parametrize("type_id", NOT_DENOISE)
def test_other_presets(backend, device, type_id, preset, dtype):
    # float64: every level; float32: the two ends.
    levels = [0, 1, 2, 3, 4] if dtype == torch.float64 else [0, 4]
    check_against_reference(backend, device, [type_id] * len(levels), levels, preset=preset, dtype=dtype,
                            size=SIZE, seed=1, atol=_atol([type_id], dtype))


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("preset", ["reiqa", "arniqa"])
def test_grid2x2_blocks(backend, device, preset, block_mode):
    # One sample per type, a different level per block: composite blocks read their neighbours.
    types = ALL if preset == "reiqa" else NOT_DENOISE
    table = torch.tensor(types).view(-1, 1).expand(-1, 4)
    levels = (torch.arange(len(types) * 4).view(-1, 4) + torch.arange(len(types)).view(-1, 1)) % 5
    check_against_reference(backend, device, table, levels, preset=preset, partition="grid2x2",
                            block_mode=block_mode, size=(21, 27), seed=2)


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (2, 9)], ids=str)
def test_odd_sizes(backend, device, size):
    # 1×1: every stencil clamps to the one pixel (unsharp's numpy.gradient is 0 on a length-1 axis).
    check_against_reference(backend, device, ALL, [4, 3, 4, 4, 2, 4], size=size, seed=3)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_chains_of_stencils(backend, device, block_mode):
    # Two operators per block: the first step writes the whole image (composite) into scratch.
    types = torch.tensor([[[GAUSSIAN, UNSHARP], [DIFFUSE, LENS], [MOTION, -1], [DENOISE, GAUSSIAN]]])
    levels = torch.tensor([[[4, 2], [1, 3], [4, -1], [3, 0]]])
    check_against_reference(backend, device, types, levels, partition="grid2x2", block_mode=block_mode,
                            size=(19, 26), seed=4)


def test_per_call_decisions_take_both_branches(backend, device):
    # reiqa motion blur (x or y line) and denoise (GaussianBlur(3) or BoxBlur(2)) choose by aux[0].
    types, levels = [MOTION] * 3 + [DENOISE] * 3, [4, 0, 1, 4, 0, 2]
    seed = next(s for s in range(100)
                if all(len({bool(a < 0.5) for a in sample_params(types, levels, seed=s).aux[i:i + 3, 0, 0, 0]}) == 2
                       for i in (0, 3)))
    check_against_reference(backend, device, types, levels, size=(13, 16), seed=seed)
    check_against_reference(backend, device, types, levels, size=(13, 16), seed=seed, dtype=torch.float32)


def test_kadis_motion_angles(backend, device):
    # fspecial('motion') at several angles (θ = ⌊aux[0]·181⌋ per entry), kernels of different sizes.
    check_against_reference(backend, device, [MOTION] * 6, [4, 4, 3, 3, 2, 1], preset="kadis", size=(15, 18),
                            seed=5)


def test_one_tap_per_step(backend, device, monkeypatch):
    # Compiled kernels loop over one tap per step (TAP_CHUNK = 1); the interpreter gathers chunks.
    # Here the one-tap path runs under the interpreter too.
    from triton_kernels.distort import stencil

    monkeypatch.setattr(stencil, "TAP_CHUNK", 1)
    types = torch.tensor([MOTION, GAUSSIAN, LENS, UNSHARP, DIFFUSE]).view(-1, 1).expand(-1, 2)
    levels = torch.tensor([[1, 4], [2, 3], [0, 1], [3, 4], [0, 1]])
    check_against_reference(backend, device, types, levels, preset="kadis", size=(9, 12), partition="vertical",
                            seed=6)
