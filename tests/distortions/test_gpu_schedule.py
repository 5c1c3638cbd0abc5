"""The GPU backends' shared schedule (``impl/schedule.py``), driven through mean_shift (the
simplest operator): chains, block modes, partitions, dtypes, strides, batch invariance, refusals,
opcheck and torch.compile of the Triton custom op. Per-type maths: test_gpu_<class>.py."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.distortions import SPECS, sample_params
from pyiqa_fast.ops import distort
from pyiqa_fast.ops.distort.impl.gpu_limits import PRESET_GAPS
from tests._utils import assert_close
from tests.distortions.gpu_cases import GPU_BACKENDS, check_against_reference, run_backend, sample_image

MEAN_SHIFT = 7
# Every reiqa type but non-eccentricity (regions of ≥ 49 px) and JPEG 2000 (reference only).
SMALL_IMAGE_TYPES = [t for t in range(24) if t != 12]
pytestmark = pytest.mark.parametrize(("backend", "device"), GPU_BACKENDS)


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
@pytest.mark.parametrize("partition", [None, "vertical", "grid2x2", (3, 2)])
def test_one_operator_per_block(backend, device, partition, block_mode):
    rows, cols = {None: (1, 1), "vertical": (1, 2), "grid2x2": (2, 2), (3, 2): (3, 2)}[partition]
    k = rows * cols
    levels = torch.arange(3 * k).remainder(5).view(3, k)
    check_against_reference(backend, device, torch.full((3, k), MEAN_SHIFT), levels, partition=partition,
                            block_mode=block_mode, size=(23, 31))


@pytest.mark.parametrize("block_mode", ["composite", "crop"])
def test_chains_empty_slots_and_empty_blocks(backend, device, block_mode):
    # (B=2, K=4, S=3): chains of 3, 2 (with a hole), 1 and 0 operators.
    types = torch.tensor([[[7, 7, 7], [7, -1, 7], [-1, -1, 7], [-1, -1, -1]],
                          [[-1, -1, -1], [7, 7, -1], [7, -1, -1], [7, 7, 7]]])
    levels = torch.where(types >= 0, torch.arange(24).view(2, 4, 3) % 5, -1)
    check_against_reference(backend, device, types, levels, partition="grid2x2", block_mode=block_mode)


def test_blocks_thinner_than_a_pixel_pass_through(backend, device):
    # 5 rows over a 1-pixel-high image: four blocks are empty.
    check_against_reference(backend, device, torch.full((2, 5), MEAN_SHIFT), torch.full((2, 5), 4),
                            partition=(5, 1), size=(1, 9))


@pytest.mark.parametrize("limit", ["MAX_LAUNCH_ENTRIES", "LAUNCH_TEMP_BYTES"])
def test_large_groups_launch_in_slices(backend, device, monkeypatch, limit):
    # Launches are capped at 65535 entries (grid axis) and at LAUNCH_TEMP_BYTES of one image per
    # entry; with either cap at 2 entries, the groups of a 3 × grid2x2 table (mixed types, a chain)
    # launch in slices and give the same result.
    from pyiqa_fast.ops.distort.impl import schedule

    monkeypatch.setattr(schedule, limit, 2 if limit == "MAX_LAUNCH_ENTRIES" else 2 * 3 * 14 * 17 * 8)
    types = torch.tensor([[[MEAN_SHIFT, 0]], [[MEAN_SHIFT, -1]], [[0, MEAN_SHIFT]]]).expand(3, 4, 2)
    levels = torch.where(types >= 0, torch.arange(24).view(3, 4, 2) % 5, -1)
    check_against_reference(backend, device, types, levels, partition="grid2x2", size=(14, 17))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.uint8])
def test_dtypes_round_like_the_reference(backend, device, dtype):
    params = sample_params([MEAN_SHIFT] * 2, [0, 4], seed=3)
    x = sample_image(2, (9, 13))
    x = (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)
    expected = distort(x, params, backend="reference")
    actual = run_backend(backend, device, x, params)
    assert actual.dtype == dtype
    if dtype == torch.uint8:
        assert torch.equal(actual, expected)
    else:
        assert_close(actual, expected, atol=1e-3 if dtype == torch.float16 else 1e-6, rtol=0, what=str(dtype))


def test_non_contiguous_inputs(backend, device):
    params = sample_params(torch.full((2, 2), MEAN_SHIFT), torch.tensor([[1, 3], [0, 2]]), partition="vertical",
                           seed=4)
    base = sample_image(2, (17, 24))
    for x in (base.transpose(2, 3).contiguous().transpose(2, 3),  # column-major planes
              base.contiguous(memory_format=torch.channels_last),
              base[..., ::2]):  # every other column
        expected = distort(x, params, backend="reference")
        actual = run_backend(backend, device, x, params)
        assert_close(actual, expected, atol=1e-12, rtol=0, what=f"strides {x.stride()}")


def test_batch_position_does_not_matter(backend, device):
    params = sample_params(torch.full((3, 4), MEAN_SHIFT), torch.arange(12).view(3, 4) % 5, partition="grid2x2",
                           seed=5)
    x = sample_image(3, (16, 16))
    full = run_backend(backend, device, x, params)
    alone = run_backend(backend, device, x[1:2], params.select([1]))
    assert torch.equal(full[1:2], alone)
    assert torch.equal(full, run_backend(backend, device, x, params))


def test_refusals_name_the_reason(backend, device):
    if backend == "cuda-emu":
        pytest.skip("the emulator runs kernels below the API; the cuda backend's refusals run on the GPU")
    params = sample_params([MEAN_SHIFT], [0], seed=0)
    x = sample_image(1, (8, 8)).to(device)
    with pytest.raises(BackendUnavailableError, match="compat"):
        distort(x, params, backend=backend, compat=True)
    kadis_denoise = sample_params([18], [0], preset="kadis", seed=0)
    with pytest.raises(BackendUnavailableError, match="kadis"):
        distort(x, kadis_denoise, backend=backend)


def test_custom_op_contract_and_compile(backend, device):
    """The Triton path's custom op (and on a GPU the CUDA kernel of pyiqa_fast::distort) under
    opcheck and torch.compile(fullgraph=True) (the op: the public function reads the host table)."""
    if backend == "cuda-emu":
        pytest.skip("the emulator runs kernels below the op; the cuda op is checked on the GPU")
    from pyiqa_fast.ops.distort import ops  # noqa: F401  (defines distort_triton)

    op = torch.ops.pyiqa_fast.distort_triton if backend == "triton" else torch.ops.pyiqa_fast.distort

    params = sample_params(torch.tensor([[MEAN_SHIFT, MEAN_SHIFT], [MEAN_SHIFT, -1]]), torch.tensor([[1, 3], [0, -1]]),
                           partition="vertical", seed=6)
    x = sample_image(2, (12, 10)).to(torch.float32).to(device)
    args = (x, params.types, params.values, params.seeds, params.aux, 1, 2, 0, False, False)
    torch.library.opcheck(op.default, args)

    @torch.compile(fullgraph=True, backend="aot_eager")
    def compiled(img, types, values, seeds, aux):
        return op(img * 1.0, types, values, seeds, aux, 1, 2, 0, False, False)

    assert torch.equal(compiled(*args[:5]), distort(x, params, backend=backend))


@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_random_tables_match_the_reference(backend, device, data):
    """Hypothesis: random sizes, layouts, block modes, presets and mixed tables of every type."""
    height = data.draw(st.integers(1, 40), label="height")
    width = data.draw(st.integers(1, 40), label="width")
    batch = data.draw(st.integers(1, 3), label="batch")
    partition = data.draw(st.sampled_from([None, "vertical", "horizontal", "grid2x2"]), label="partition")
    k = {None: 1, "vertical": 2, "horizontal": 2, "grid2x2": 4}[partition]
    preset = data.draw(st.sampled_from(["reiqa", "kadis", "arniqa"]), label="preset")
    allowed = [t for t in SMALL_IMAGE_TYPES + [24, 25, 27, 28]
               if preset in SPECS[t].levels and (t, preset) not in PRESET_GAPS]
    types = data.draw(st.lists(st.sampled_from(allowed), min_size=batch * k, max_size=batch * k))
    levels = data.draw(st.lists(st.integers(0, 4), min_size=batch * k, max_size=batch * k))
    block_mode = data.draw(st.sampled_from(["composite", "crop"]), label="block_mode")
    check_against_reference(backend, device, torch.tensor(types).view(batch, k), torch.tensor(levels).view(batch, k),
                            preset=preset, partition=partition, block_mode=block_mode, size=(height, width))
