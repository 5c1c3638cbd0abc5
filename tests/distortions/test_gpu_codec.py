"""GPU kernels of the codec / fill / global-statistics types assigned to ``triton_kernels/distort/codec.py``:
color_block (11), non_eccentricity (12), jpeg (13), color_shift (22), against the reference backend."""

from __future__ import annotations

import pytest
import torch

from tests.distortions.gpu_cases import FP32_ATOL, FP64_ATOL, GPU_BACKENDS, check_against_reference, sample_image

pytestmark = pytest.mark.parametrize(("backend", "device"), GPU_BACKENDS)

COLOR_BLOCK, NON_ECCENTRICITY, JPEG, COLOR_SHIFT = 11, 12, 13, 22
LEVELS = list(range(5))


# ---------------------------------------------------------------------------------------------
# Fill / copy: exact (atol 0 in float64; fp32 only rounds the colours).


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_color_block_every_level(backend, device, dtype):
    check_against_reference(backend, device, [COLOR_BLOCK] * 5, LEVELS, dtype=dtype, size=(37, 41),
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


# ---------------------------------------------------------------------------------------------
# JPEG: the kernels emulate libjpeg-turbo's integer pipeline bit for bit, so they equal Pillow's
# decoded samples exactly (float64: FP64_ATOL; float32: only the ÷255 rounds), which is stronger than
# the spec's acceptance (mean |diff| ≤ 1/255, PSNR ≥ 40 dB), checked too on the photos.


def _photo(batch: int, y: int, x: int, h: int, w: int) -> torch.Tensor:
    skimage_data = pytest.importorskip("skimage.data")
    crops = [skimage_data.astronaut(), skimage_data.chelsea()]
    imgs = [torch.from_numpy(crops[i % 2][y + 7 * i:y + 7 * i + h, x:x + w].copy()) for i in range(batch)]
    return torch.stack(imgs).permute(0, 3, 1, 2).double() / 255


def _assert_jpeg_acceptance(actual: torch.Tensor, image: torch.Tensor, types, levels, preset: str) -> None:
    from pyiqa_fast.distortions import sample_params
    from pyiqa_fast.ops import distort
    pillow = distort(image, sample_params(types, levels, preset=preset, seed=0), backend="reference")
    diff = (actual.double() - pillow).abs()
    assert float(diff.mean()) <= 1 / 255
    psnr = 10 * torch.log10(1 / (diff ** 2).mean().clamp(min=1e-20))
    assert float(psnr) >= 40


@pytest.mark.parametrize(("dtype", "size"), [(torch.float64, (32, 32)), (torch.float64, (19, 27)),
                                           (torch.float32, (19, 27))])
def test_jpeg_every_level_on_photos(backend, device, dtype, size):
    image = _photo(5, 100, 200, *size)
    actual = check_against_reference(backend, device, [JPEG] * 5, LEVELS, dtype=dtype, image=image)
    _assert_jpeg_acceptance(actual, image, [JPEG] * 5, LEVELS, "reiqa")


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
def test_jpeg_presets(backend, device, preset):
    image = _photo(2, 60, 150, 24, 21)
    actual = check_against_reference(backend, device, [JPEG] * 2, [0, 4], preset=preset, image=image)
    _assert_jpeg_acceptance(actual, image, [JPEG] * 2, [0, 4], preset)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_jpeg_blocks(backend, device, block_mode):
    # grid2x2 over 37×45: crop mode anchors the 8×8 grid at each block; composite at the image
    check_against_reference(backend, device, torch.full((1, 4), JPEG), torch.tensor([[0, 4, 2, 3]]),
                            partition="grid2x2", block_mode=block_mode, size=(37, 45))


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (3, 9), (17, 4), (2, 6)])
def test_jpeg_tiny_and_odd_sizes(backend, device, size):
    # chroma planes of 1 or 2 samples: libjpeg-turbo replicates instead of the fancy upsampler
    check_against_reference(backend, device, [JPEG] * 2, [1, 4], size=size)


def test_jpeg_unclipped_input_and_chain(backend, device):
    # the codec rounds ⌊255x + 0.5⌋ and clamps (out-of-range inputs); a chain JPEG → JPEG
    image = sample_image(1, (20, 23)) * 1.4 - 0.2
    check_against_reference(backend, device, torch.tensor([[[JPEG, JPEG]]]), torch.tensor([[[4, 1]]]), image=image,
                            atol=FP64_ATOL)


# ---------------------------------------------------------------------------------------------
# Colour shift: float64 to FP64_ATOL; float32 (mask statistics, percentiles and all, in float32)
# to FP32_ATOL.


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_color_shift_every_level(backend, device, dtype):
    check_against_reference(backend, device, [COLOR_SHIFT] * 5, LEVELS, dtype=dtype, size=(21, 34))


@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_color_shift_presets(backend, device, preset, dtype):
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [0, 4], preset=preset, dtype=dtype, size=(19, 26))


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_color_shift_blocks(backend, device, block_mode):
    # composite: statistics over the whole image, written in the block; crop: over the block
    check_against_reference(backend, device, torch.full((1, 4), COLOR_SHIFT), torch.tensor([[4, 1, 3, 2]]),
                            partition="grid2x2", block_mode=block_mode, size=(23, 29))


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (6, 1), (2, 3)])
def test_color_shift_tiny_images(backend, device, size):
    # reflection of a 12 px shift over 1–3 pixels; constant masks (mapmm leaves them unchanged)
    check_against_reference(backend, device, [COLOR_SHIFT] * 2, [2, 4], size=size)


def test_color_shift_mixed_sizes_and_chain(backend, device):
    # crop mode with blocks of different sizes in one launch (padding of the sorted statistics),
    # then a second color_shift on the result
    types = torch.tensor([[[COLOR_SHIFT, COLOR_SHIFT]] * 6])
    levels = torch.tensor([[[4, 0], [1, 2], [3, 3], [0, 4], [2, 1], [4, 4]]])
    check_against_reference(backend, device, types, levels, partition=(3, 2), block_mode="crop", size=(25, 31))


def test_color_shift_vectors_match_filters(backend, device):  # host-side: backend-independent
    from pyiqa_fast.distortions.filters import color_shift_vector
    from triton_kernels.distort.codec import color_shift_vectors
    aux = torch.rand(64, 400, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    aux[0, :2] = 0
    amount = torch.tensor([1.0, 3.0, 6.0, 8.0, 12.0] * 13, dtype=torch.float64)[:64]
    got = color_shift_vectors(aux, amount).tolist()
    assert got == [list(color_shift_vector(aux[i], float(amount[i]))) for i in range(64)]
