"""GPU backends of ``distort``, pointwise class (``triton_kernels/distort/pointwise.py``): every level of
every elementwise, elementwise + RNG and pointwise colour type against the float64 reference, per
preset and dtype, block semantics, odd sizes (DISTORTIONS.md §4, §10.5). The schedule itself is
tested in test_gpu_schedule.py."""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast.distortions import sample_params
from pyiqa_fast.distortions.registry import BY_NAME, SPECS
from pyiqa_fast.ops import distort
from tests.distortions.gpu_cases import GPU_BACKENDS, LAB_ATOL, check_against_reference, run_backend, sample_image

pytestmark = pytest.mark.parametrize(("backend", "device"), GPU_BACKENDS)

NAMES = ("mean_shift", "contrast", "white_noise", "white_noise_ycbcr", "impulse_noise", "multiplicative_noise",
         "brighten", "darken", "saturate", "saturate_hsv", "nonlinear_contrast", "quantization")
LAB = {"brighten", "saturate"}  # Lab round trips: LAB_ATOL in float32 (§10.5)
LEVELS = list(range(5))
SIZE = (13, 29)  # one 16×32 tile per entry: the interpreter's cost is per program


def _ids(name: str) -> int:
    return BY_NAME[name].id


def _presets(name: str) -> tuple[str, ...]:
    # quantization: reiqa is undefined and kadis' Otsu is reference-only (gpu_limits.PRESET_GAPS)
    return ("arniqa",) if name == "quantization" else tuple(BY_NAME[name].levels)


def _atol(name: str, dtype: torch.dtype) -> float | None:
    return LAB_ATOL if dtype == torch.float32 and name in LAB else None


def _types(preset: str) -> list[str]:
    return [n for n in NAMES if preset in _presets(n)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", [n for n in NAMES if "reiqa" in _presets(n)])
def test_every_level_reiqa(backend, device, name, dtype):
    check_against_reference(backend, device, [_ids(name)] * 5, LEVELS, preset="reiqa", dtype=dtype,
                            atol=_atol(name, dtype), size=SIZE)


# float32 of the other presets where they take their own code path (noise models, colour spaces,
# the arniqa truncation); float64 for every type they define.
OWN_PATH = {("white_noise_ycbcr", "kadis"), ("white_noise_ycbcr", "arniqa"), ("impulse_noise", "kadis"),
            ("impulse_noise", "arniqa"), ("multiplicative_noise", "kadis"), ("saturate", "arniqa"),
            ("nonlinear_contrast", "arniqa"), ("quantization", "arniqa")}
OTHER = [pytest.param(n, p, d, id=f"{n}-{p}-{str(d).removeprefix('torch.')}")
         for p in ("kadis", "arniqa") for n in NAMES if p in _presets(n)
         for d in (torch.float64, torch.float32) if d == torch.float64 or (n, p) in OWN_PATH]


@pytest.mark.parametrize(("name", "preset", "dtype"), OTHER)
def test_every_level_kadis_arniqa(backend, device, name, preset, dtype):
    check_against_reference(backend, device, [_ids(name)] * 5, LEVELS, preset=preset, dtype=dtype,
                            atol=_atol(name, dtype), size=SIZE, seed=1)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("preset", ["reiqa", "arniqa"])
def test_blocks_grid2x2(backend, device, preset, block_mode):
    # One type per block (every type of the preset across 3 samples × 4 blocks), levels cycling:
    # positions, random fields at image coordinates, and quantization's per-block min/max in crop mode.
    names = _types(preset)
    names = (names * 2)[:12]
    types = torch.tensor([_ids(n) for n in names]).view(3, 4)
    levels = torch.arange(12).remainder(5).view(3, 4)
    check_against_reference(backend, device, types, levels, preset=preset, partition="grid2x2",
                            block_mode=block_mode, size=(23, 37), seed=2, atol=1e-10)


@pytest.mark.parametrize(("size", "dtype"), [((1, 1), torch.float64), ((1, 1), torch.float32), ((7, 5), torch.float64),
                                             ((7, 5), torch.float32), ((23, 37), torch.float64)])
def test_odd_sizes(backend, device, size, dtype):
    # Every arniqa type (all twelve), one per sample, levels cycling.
    names = _types("arniqa")
    atol = LAB_ATOL if dtype == torch.float32 else None  # the table holds the Lab types
    check_against_reference(backend, device, [_ids(n) for n in names], [i % 5 for i in range(len(names))],
                            preset="arniqa", dtype=dtype, size=size, seed=3, atol=atol)


def test_chains_of_pointwise_types(backend, device):
    # Chains through the scratch buffers: noise after a colour type, quantization after noise.
    types = torch.tensor([[[_ids("saturate"), _ids("white_noise"), _ids("quantization")]],
                          [[_ids("impulse_noise"), _ids("brighten"), -1]]])
    levels = torch.tensor([[[4, 4, 0]], [[4, 2, -1]]])
    check_against_reference(backend, device, types, levels, preset="arniqa", size=(9, 14), seed=4)


def test_saturate_arniqa_truncation_on_uint8_grid(backend, device):
    # trunc(255·y): float32 inputs on the k/255 grid (uint8 images), and white, at S = 1 sit within
    # float32 rounding of the truncation edges; the kernel's float64 round trip truncates where the
    # reference does. (float64 inputs exactly on the grid sit within an ulp of the edges, where even
    # two float64 Lab round trips (pow vs exp2/log2) disagree: left out, as the reference is ulp-chaotic there.)
    grid = (torch.arange(3 * 16 * 16, dtype=torch.float64).view(1, 3, 16, 16) % 256) / 255
    image = torch.cat([grid, grid.roll(1, 1), grid.roll(2, 1), torch.ones_like(grid), grid.flip(-1)])
    check_against_reference(backend, device, [_ids("saturate")] * 5, LEVELS, preset="arniqa", dtype=torch.float32,
                            size=(16, 16), image=image, atol=LAB_ATOL)
    params = sample_params([_ids("saturate")] * 5, LEVELS, preset="arniqa", seed=0)
    x8 = (image * 255).round().to(torch.uint8)
    expected = distort(x8, params, backend="reference")
    assert torch.equal(run_backend(backend, device, x8, params), expected)


def test_extreme_inputs_stay_in_range(backend, device):
    for fill in (0.0, 1.0):
        image = torch.full((12, 3, 3, 4), fill, dtype=torch.float64)
        names = _types("arniqa")
        check_against_reference(backend, device, [_ids(n) for n in names], [4] * len(names), preset="arniqa",
                                size=(3, 4), image=image, atol=1e-10)


@pytest.mark.parametrize("preset", ["reiqa", "kadis"])
def test_quantization_outside_arniqa_is_refused(backend, device, preset):
    if backend == "cuda-emu":
        pytest.skip("the emulator is not a registered backend (no refusals)")
    params = sample_params([BY_NAME["mean_shift"].id], [0], preset=preset, seed=0)
    params.types[..., 0] = _ids("quantization")
    # The record is refused before any backend runs (params.validate_params), naming the preset.
    with pytest.raises(ValueError, match=r"27 \(quantization\) is not defined in preset"):
        distort(sample_image(1, (4, 4)).to(device), params, backend=backend)


def test_every_pointwise_type_has_a_launcher(backend, device):
    if backend != "triton":
        pytest.skip("the Triton launchers")
    from triton_kernels.distort.pointwise import LAUNCHERS

    assert set(LAUNCHERS) == {_ids(n) for n in NAMES}
    assert all(SPECS[t].cost_class in ("elementwise", "elementwise + RNG", "global statistics") for t in LAUNCHERS)
