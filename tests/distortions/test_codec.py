"""The codec operators (DISTORTIONS.md §4.14 jpeg, §4.25 jpeg2000): the cpu backend (libjpeg) and
the reference (Pillow) against Pillow's own round trip on real photos, both block modes, odd and
tiny sizes, uint8 inputs, flat images; jpeg2000 (reference only) against ARNIQA's Pillow call."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image, features

import pyiqa_fast
from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.distortions import sample_params
from pyiqa_fast.distortions.registry import spec
from pyiqa_fast.ops import distort
from pyiqa_fast.ops.distort.impl.cpu import cpu_types

skimage_data = pytest.importorskip("skimage.data")

JPEG = spec("jpeg").id
JPEG2000 = spec("jpeg2000").id
JPEG_PRESETS = ("reiqa", "kadis", "arniqa")
needs_libjpeg = pytest.mark.skipif(JPEG not in cpu_types(), reason="this build has no libjpeg: jpeg is reference-only")
needs_openjpeg = pytest.mark.skipif(not features.check("jpg_2000"), reason="Pillow lacks OpenJPEG")


def photos(height: int, width: int) -> torch.Tensor:
    """Tensor[3, 3, h, w] float64: astronaut, chelsea and coffee, centre-cropped and resized."""
    out = []
    for name in ("astronaut", "chelsea", "coffee"):
        array = getattr(skimage_data, name)()
        image = Image.fromarray(array).resize((width * 2, height * 2), Image.BICUBIC)
        array = np.asarray(image)[height // 2:height // 2 + height, width // 2:width // 2 + width]
        out.append(torch.from_numpy(array.copy()).permute(2, 0, 1).double() / 255)
    return torch.stack(out)


def pillow_round_trip(img: torch.Tensor, **save_args) -> torch.Tensor:
    """Independent of the reference module: Tensor[3, h, w] in [0, 1] → Pillow save/open → ÷255."""
    samples = np.floor(img.double().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(samples.transpose(1, 2, 0), "RGB").save(buffer, **save_args)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1).double() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def jpeg_params(batch: int, level: int, preset: str, partition=None, seed: int = 0):
    blocks = 1 if partition is None else {"vertical": 2, "grid2x2": 4}[partition]
    types = torch.full((batch, blocks), JPEG)
    levels = (torch.arange(batch * blocks).reshape(batch, blocks) + level) % 5
    return sample_params(types, levels, preset=preset, partition=partition, seed=seed)


MEASURED: dict[tuple[str, float], tuple[float, float, int]] = {}


@needs_libjpeg
@pytest.mark.parametrize("preset", JPEG_PRESETS)
def test_jpeg_cpu_matches_pillow_at_every_quality(preset):
    x = photos(64, 80).float()
    for level, quality in enumerate(spec("jpeg").values(preset)):
        params = sample_params(torch.full((3,), JPEG), level, preset=preset, seed=level)
        y = distort(x, params, backend="cpu")
        expected = torch.stack([pillow_round_trip(img, format="JPEG", quality=int(quality)) for img in x])
        diff = (y.double() - expected).abs()
        mean_abs, db = float(diff.mean()), psnr(y, expected)
        MEASURED[(preset, quality)] = (mean_abs * 255, db, int(torch.round(diff.max() * 255)))
        assert mean_abs <= 1 / 255, (preset, quality, mean_abs * 255)
        assert db >= 40, (preset, quality, db)
        # Not the identity: the codec changes the photo, more at lower quality.
        assert float((y.double() - x.double()).abs().mean()) > 0.5 / 255


@needs_libjpeg
def test_jpeg_cpu_is_bit_exact_with_pillow():
    # Pillow bundles libjpeg-turbo and makes the same calls: expect equality on every sample
    # (reported measurement; the acceptance of §4.14 is the looser bound above).
    x = photos(48, 56)
    for quality in sorted({q for p in JPEG_PRESETS for q in spec("jpeg").values(p)}):
        preset = "reiqa" if quality in spec("jpeg").values("reiqa") else "kadis"
        level = spec("jpeg").values(preset).index(quality)
        y = distort(x, sample_params(torch.full((3,), JPEG), level, preset=preset, seed=1), backend="cpu")
        for b in range(3):
            expected = pillow_round_trip(x[b], format="JPEG", quality=int(quality))
            assert torch.equal(torch.round(y[b] * 255), torch.round(expected * 255)), quality


@pytest.mark.parametrize("preset", JPEG_PRESETS)
def test_jpeg_reference_is_pillow(preset):
    x = photos(24, 40)
    for level, quality in enumerate(spec("jpeg").values(preset)):
        y = distort(x, sample_params(torch.full((3,), JPEG), level, preset=preset, seed=3), backend="reference")
        for b in range(3):
            assert torch.equal(y[b], pillow_round_trip(x[b], format="JPEG", quality=int(quality)))


@needs_libjpeg
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("preset", JPEG_PRESETS)
def test_jpeg_cpu_matches_reference(preset, dtype):
    x = photos(40, 48).to(dtype)
    for level in range(5):
        params = jpeg_params(3, level, preset)
        cpu = distort(x, params, backend="cpu")
        ref = distort(x, params, backend="reference")
        assert cpu.dtype == dtype
        torch.testing.assert_close(cpu, ref, atol=1e-12 if dtype == torch.float64 else 1e-6, rtol=0)


@needs_libjpeg
@pytest.mark.parametrize("partition", ["vertical", "grid2x2"])
@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_jpeg_block_modes(block_mode, partition):
    x = photos(37, 53)
    params = jpeg_params(3, 0, "reiqa", partition=partition, seed=5)
    cpu = distort(x, params, backend="cpu", block_mode=block_mode)
    ref = distort(x, params, backend="reference", block_mode=block_mode)
    torch.testing.assert_close(cpu, ref, atol=1e-12, rtol=0)
    rows, cols = params.partition
    height, width = x.shape[-2:]
    for b in range(3):
        for k in range(rows * cols):
            i, j = divmod(k, cols)
            y0, y1, x0, x1 = i * height // rows, (i + 1) * height // rows, j * width // cols, (j + 1) * width // cols
            quality = int(params.values[b, k, 0])
            if block_mode == "composite":  # the whole image coded, grid at the image origin
                expected = pillow_round_trip(x[b], format="JPEG", quality=quality)[:, y0:y1, x0:x1]
            else:  # the block coded alone, grid at the block origin
                expected = pillow_round_trip(x[b, :, y0:y1, x0:x1], format="JPEG", quality=quality)
            assert torch.equal(cpu[b, :, y0:y1, x0:x1], expected), (block_mode, b, k)
    # The two modes differ (the grids are anchored differently; the vertical split at x = 26 is not
    # a multiple of 8 or 16).
    other = distort(x, params, backend="cpu", block_mode="crop" if block_mode == "composite" else "composite")
    assert not torch.equal(cpu, other)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("size", [(1, 1), (7, 9), (37, 53), (16, 1)])
def test_jpeg_odd_and_tiny_sizes(backend, size):
    if backend == "cpu" and JPEG not in cpu_types():
        pytest.skip("no libjpeg in this build")
    x = photos(40, 56)[:, :, : size[0], : size[1]].contiguous()
    for level in (0, 4):
        params = sample_params(torch.full((3,), JPEG), level, preset="kadis", seed=level)
        y = distort(x, params, backend=backend)
        assert y.shape == x.shape
        for b in range(3):
            expected = pillow_round_trip(x[b], format="JPEG", quality=int(params.values[b, 0, 0]))
            assert torch.equal(y[b], expected), (size, level, b)


@needs_libjpeg
def test_jpeg_uint8_input():
    x = (photos(33, 41) * 255).round().to(torch.uint8)
    params = jpeg_params(3, 1, "arniqa")
    cpu = distort(x, params, backend="cpu")
    ref = distort(x, params, backend="reference")
    assert cpu.dtype == torch.uint8 and torch.equal(cpu, ref)
    for b in range(3):  # uint8 in: Pillow sees exactly these bytes
        expected = pillow_round_trip(x[b].double() / 255, format="JPEG", quality=int(params.values[b, 0, 0]))
        assert torch.equal(cpu[b], (expected * 255).round().to(torch.uint8))


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_jpeg_flat_images(backend, fill):
    if backend == "cpu" and JPEG not in cpu_types():
        pytest.skip("no libjpeg in this build")
    x = torch.full((2, 3, 19, 21), fill)
    for level in range(5):
        y = distort(x, sample_params(torch.full((2,), JPEG), level, seed=level), backend=backend)
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
        assert (y - fill).abs().max() <= 2 / 255  # flat black/white survives up to rounding


def test_jpeg_quantises_round_half_up():
    # 0.5/255 sits on a tie: ⌊255x + 0.5⌋ = 1 (torch.round would give 0). Flat 1/255 decodes to 1/255
    # (flat 0 to 0), so the tie's direction is visible in the output.
    x = torch.full((1, 3, 8, 8), 0.5 / 255, dtype=torch.float64)
    backends = ["reference"] + (["cpu"] if JPEG in cpu_types() else [])
    for backend in backends:
        y = distort(x, sample_params(torch.full((1,), JPEG), 0, seed=0), backend=backend)
        flat_one = pillow_round_trip(torch.full((3, 8, 8), 1 / 255, dtype=torch.float64), format="JPEG", quality=70)
        assert torch.equal(y[0], flat_one), backend


def test_jpeg2000_is_reference_only():
    assert JPEG2000 not in cpu_types()
    x = photos(16, 16).float()
    params = sample_params(torch.full((3,), JPEG2000), 0, preset="arniqa", seed=0)
    with pytest.raises(BackendUnavailableError):
        distort(x, params, backend="cpu")
    if features.check("jpg_2000"):  # auto falls back to the reference
        torch.testing.assert_close(distort(x, params), distort(x, params, backend="reference"), atol=0, rtol=0)


def test_jpeg2000_not_in_reiqa():
    with pytest.raises(ValueError, match="jpeg2000"):
        sample_params(torch.full((1,), JPEG2000), 0, preset="reiqa", seed=0)


@needs_openjpeg
@pytest.mark.parametrize("preset", ["kadis", "arniqa"])
def test_jpeg2000_reference_is_arniqas_pillow_call(preset):
    x = photos(128, 136)[:2]  # 128 px: the smallest side OpenJPEG codes with 8 resolutions
    errors = []
    for level, ratio in enumerate(spec("jpeg2000").values(preset)):
        params = sample_params(torch.full((2,), JPEG2000), level, preset=preset, seed=level)
        y = distort(x, params, backend="reference")
        for b in range(2):
            expected = pillow_round_trip(x[b], format="JPEG2000", quality_mode="rates", quality_layers=[int(ratio)],
                                         num_resolutions=8)
            assert torch.equal(y[b], expected), (preset, ratio, b)
        errors.append(float((y - x).abs().mean()))
    assert errors == sorted(errors) and errors[0] > 0  # stronger compression, larger error


@needs_openjpeg
@pytest.mark.parametrize("size", [(1, 1), (7, 9), (37, 53)])
def test_jpeg2000_small_images(size):
    x = photos(40, 56)[:, :, : size[0], : size[1]].contiguous().float()
    params = sample_params(torch.full((3,), JPEG2000), 4, preset="arniqa", seed=0)
    for block_mode in ("composite", "crop"):
        y = distort(x, params, backend="reference", block_mode=block_mode)
        assert y.shape == x.shape and torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_measured_numbers_are_reported(capsys):
    # Prints what test_jpeg_cpu_matches_pillow_at_every_quality measured (run with -s to see).
    if MEASURED:
        with capsys.disabled():
            for (preset, quality), (mean_lsb, db, max_lsb) in sorted(MEASURED.items()):
                print(f"\njpeg {preset} q={quality:g}: mean |cpu - Pillow| = {mean_lsb:.4f} LSB, "
                      f"PSNR = {db:.1f} dB, max = {max_lsb} LSB", end="")
    assert pyiqa_fast.__version__
