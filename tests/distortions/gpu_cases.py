"""Shared checks of the GPU backends of ``distort`` (cuda, triton) against the reference.

``GPU_BACKENDS`` parametrises a test over (backend, device): triton on CPU tensors under the
Triton interpreter and ``cuda-emu`` (the CUDA kernel sources on the CPU, ``cuda_emu.py``) here,
triton and cuda on a CUDA device (marked, run on the GPU machine).
:func:`check_against_reference` runs one table through a backend and the float64 reference on
identical params and keys (DISTORTIONS.md §10.5).
"""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast.distortions import sample_params
from pyiqa_fast.ops import distort
from tests._utils import assert_close

GPU_BACKENDS = [
    pytest.param("triton", "cpu", id="triton-interpreter"),
    pytest.param("cuda-emu", "cpu", id="cuda-emulated"),
    pytest.param("triton", "cuda", id="triton-cuda", marks=pytest.mark.needs_triton_gpu),
    pytest.param("cuda", "cuda", id="cuda", marks=pytest.mark.needs_cuda),
]
# Default fp32 tolerance (§10.5); Lab round trips get 1e-4 (pass atol=LAB_ATOL).
FP32_ATOL = 1e-5
LAB_ATOL = 1e-4
FP64_ATOL = 1e-10


def sample_image(batch: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A float64 Tensor[batch, 3, h, w] in [0, 1] with edges, flat patches and both extremes: a smooth
    gradient, uniform noise, saturated squares (so tone curves, clips and stencils are exercised)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    ys = torch.linspace(0, 1, h, dtype=torch.float64).view(-1, 1)
    xs = torch.linspace(0, 1, w, dtype=torch.float64).view(1, -1)
    base = torch.stack([ys * xs, 1 - xs * 0.8 + 0 * ys, (ys + xs) / 2])
    img = 0.6 * base.expand(batch, 3, h, w) + 0.4 * torch.rand(batch, 3, h, w, generator=g, dtype=torch.float64)
    img[:, :, : h // 4, : w // 4] = 1.0
    img[:, :, h - h // 4 :, w - w // 4 :] = 0.0
    return img.clamp(0, 1)


def check_against_reference(backend: str, device: str, types, levels, *, preset: str = "reiqa",
                            dtype: torch.dtype = torch.float64, size: tuple[int, int] = (21, 34),
                            partition=None, block_mode: str = "composite", seed: int = 0,
                            atol: float | None = None, image: torch.Tensor | None = None) -> torch.Tensor:
    """Asserts ``distort(backend=backend)`` on ``device`` equals the float64 reference.

    Args:
        types, levels: As :func:`sample_params` (a list of one type per sample, or a table).
        dtype: The backend's input dtype; the reference always runs in float64 on the same values.
        atol: Defaults to FP64_ATOL for float64 and FP32_ATOL otherwise.
        image: The float64 input (default: :func:`sample_image` of the table's batch size).

    Returns:
        The backend's output (on the CPU, its dtype).
    """
    params = sample_params(types, levels, preset=preset, partition=partition, seed=seed)
    x64 = sample_image(params.batch_size, size, seed) if image is None else image
    x = x64.to(dtype)
    expected = distort(x.to(torch.float64), params, block_mode=block_mode, backend="reference")
    actual = run_backend(backend, device, x, params, block_mode)
    assert actual.dtype == dtype and actual.shape == x.shape and actual.is_contiguous()
    if atol is None:
        atol = FP64_ATOL if dtype == torch.float64 else FP32_ATOL
    assert_close(actual, expected, atol=atol, rtol=0.0,
                 what=f"{backend} vs reference ({types}, levels {levels}, {preset}, {dtype}, {block_mode})")
    return actual


def run_backend(backend: str, device: str, x: torch.Tensor, params, block_mode: str = "composite") -> torch.Tensor:
    """``distort`` through ``backend`` on ``device``, returned on the CPU. ``cuda-emu`` skips the test
    when the emulator cannot be built here or has no kernel yet for a type of the table."""
    if backend != "cuda-emu":
        return distort(x.to(device), params, block_mode=block_mode, backend=backend).cpu()
    from tests.distortions import cuda_emu

    lib, why = cuda_emu.library()
    if lib is None:
        pytest.skip(f"the CUDA host emulator cannot be built: {why}")
    missing = {t for t in params.types.unique().tolist() if t >= 0} - cuda_emu.emulated_types()
    if missing:
        pytest.skip(f"no CUDA kernel for type(s) {sorted(missing)} (the coverage test names what is missing)")
    return cuda_emu.distort_emulated(x, params, block_mode)
