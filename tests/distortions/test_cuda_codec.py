"""CUDA kernel of jpeg (13, ``csrc/kernels/distort/distort_codec_cuda.cu``) against the reference
(Pillow / libjpeg-turbo): the kernel emulates libjpeg-turbo's integer pipeline, so the decoded
samples are expected bit for bit (atol 0 in float64; float32 only rounds k/255)."""

from __future__ import annotations

import pytest
import torch

from tests.distortions.gpu_cases import FP32_ATOL, check_against_reference

BACKENDS = [pytest.param("cuda-emu", "cpu", id="cuda-emulated"),
            pytest.param("cuda", "cuda", id="cuda", marks=pytest.mark.needs_cuda)]
pytestmark = pytest.mark.parametrize(("backend", "device"), BACKENDS)

JPEG = 13
LEVELS = list(range(5))


def _noisy(batch: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("preset", ["reiqa", "kadis", "arniqa"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_jpeg_every_level(backend, device, preset, dtype):
    check_against_reference(backend, device, [JPEG] * 5, LEVELS, preset=preset, dtype=dtype, size=(37, 50),
                            atol=0.0 if dtype == torch.float64 else FP32_ATOL)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 7), (9, 4), (16, 16), (17, 33), (33, 18)])
def test_jpeg_odd_sizes(backend, device, size):
    # partial MCUs, chroma planes of 1–2 samples (plain replication), odd heights and widths
    check_against_reference(backend, device, [JPEG] * 5, LEVELS, size=size, atol=0.0, seed=1)


def test_jpeg_noise_image(backend, device):
    check_against_reference(backend, device, [JPEG] * 5, LEVELS, preset="kadis", size=(40, 56), atol=0.0,
                            image=_noisy(5, (40, 56)))


def test_jpeg_out_of_range_and_nan_inputs(backend, device):
    image = _noisy(2, (12, 20), seed=2) * 1.4 - 0.2
    image[0, 1, 3, 4] = float("nan")
    image[1, :, 5:9, 2:6] = 0.5 / 255  # ⌊255x + 0.5⌋ ties round up
    check_against_reference(backend, device, [JPEG] * 2, [4, 0], size=(12, 20), atol=0.0, image=image)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_jpeg_blocks_grid2x2(backend, device, block_mode):
    # crop mode: the 8×8 grid is anchored at each block's origin; composite: at the image's
    check_against_reference(backend, device, torch.full((2, 4), JPEG), torch.arange(8).view(2, 4) % 5,
                            partition="grid2x2", block_mode=block_mode, size=(45, 27), atol=0.0, seed=3)


def test_jpeg_in_a_chain(backend, device):
    # a non-last step in composite mode writes the whole image; then a second jpeg of it
    types = torch.tensor([[[JPEG, JPEG]] * 4])
    levels = torch.tensor([[[4, 3], [0, 1], [2, 2], [1, 4]]])
    check_against_reference(backend, device, types, levels, partition="grid2x2", size=(38, 41), atol=0.0, seed=4)
