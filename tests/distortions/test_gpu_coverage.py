"""Both GPU backends of ``distort`` have a kernel for every type the CPU backend has, except the
reference-only JPEG 2000 (DISTORTIONS.md §6: a codec outside the GPU classes), and refuse what
they do not compute with a reason (compat, kadis denoise and quantization)."""

from __future__ import annotations

import pytest

from pyiqa_fast.distortions.registry import N_SHDIQA, SPECS
from tests.distortions import cuda_emu

JPEG2000 = next(s.id for s in SPECS if s.name == "jpeg2000")
EXPECTED = frozenset(s.id for s in SPECS) - {JPEG2000}


def _names(ids) -> list[str]:
    return sorted(SPECS[t].name for t in ids)


def test_expected_covers_the_24_shdiqa_types_and_the_extras():
    assert set(range(N_SHDIQA)) <= EXPECTED and len(EXPECTED) == len(SPECS) - 1


def test_triton_has_every_type():
    from triton_kernels.distort import LAUNCHERS

    assert not EXPECTED - set(LAUNCHERS), f"no Triton kernel for {_names(EXPECTED - set(LAUNCHERS))}"


def test_cuda_sources_have_every_type():
    lib, why = cuda_emu.library()
    if lib is None:
        pytest.skip(f"the CUDA host emulator cannot be built: {why}")
    missing = EXPECTED - cuda_emu.emulated_types()
    assert not missing, f"no CUDA kernel for {_names(missing)}"
