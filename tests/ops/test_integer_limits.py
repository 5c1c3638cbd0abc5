"""Integer arguments at the edges of their types, on every backend: never truncated, never an
overflow in the size arithmetic (reproducers of the reliability issue: dsm_pool pool=2**62 raised
SIGFPE and pool=2**63-1 gave an empty map; block_attention's cpu kernel truncated int64 group ids,
so 0 and 2**32 became one group)."""

from __future__ import annotations

import pytest
import torch

from pyiqa_fast import BackendUnavailableError, _native
from pyiqa_fast.ops import block_attention, dsm_pool

TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: the interpreter
DEVICE_OF = {"reference": "cpu", "auto": "cpu", "cpu": "cpu", "triton": TRITON_DEVICE, "cuda": "cuda"}
ALL = ["reference", "cpu", "triton", pytest.param("cuda", marks=pytest.mark.needs_cuda)]


def pooled(backend, pool, ceil_mode=True, shape=(2, 3, 7, 5)):
    """(map, grad ref, grad dist) of dsm_pool on ``backend``."""
    g = torch.Generator().manual_seed(0)
    ref, dist = (torch.rand(shape, generator=g, dtype=torch.float64).to(DEVICE_OF[backend]).requires_grad_(True)
                 for _ in range(2))
    out = dsm_pool(ref, dist, pool=pool, ceil_mode=ceil_mode, backend=backend)
    (out * torch.arange(1, out.numel() + 1, dtype=out.dtype, device=out.device).view(out.shape)).sum().backward()
    return out.detach().cpu(), ref.grad.cpu(), dist.grad.cpu()


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("pool", [8, 2**31, 2**62, 2**63 - 1])
def test_dsm_pool_cell_larger_than_the_image_is_the_image(backend, pool):
    got = pooled(backend, pool)
    expected = pooled("reference", 7)  # max(H, W): one cell over the whole image
    assert got[0].shape == (2, 1, 1, 1)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("backend", ALL)
def test_dsm_pool_huge_pool_without_ceil_mode_is_refused(backend):
    with pytest.raises(ValueError, match=r"H = 7 is not divisible by pool = 4611686018427387904"):
        pooled(backend, 2**62, ceil_mode=False)


def attend(backend, ids):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, len(ids), 8, generator=g, dtype=torch.float32).to(DEVICE_OF[backend])
               for _ in range(3))
    groups = torch.tensor(ids, dtype=torch.int64, device=q.device)
    return block_attention(q, k, v, groups, groups, backend=backend).cpu()


@pytest.mark.parametrize("backend", ["cpu", "triton"])
@pytest.mark.parametrize("big", [2**31, 2**32])
def test_block_attention_host_ids_beyond_int32_make_the_kernels_unavailable(backend, big):
    with pytest.raises(BackendUnavailableError, match=rf"compares group ids as int32, got id {big} >= 2\^31"):
        attend(backend, [0, big, 1, 0])


def test_block_attention_auto_takes_the_reference_for_ids_beyond_int32():
    assert torch.equal(attend("auto", [0, 2**32, 1, 0]), attend("reference", [0, 2**32, 1, 0]))


@pytest.mark.parametrize("big", [2**31, 2**32])
def test_block_attention_compiled_op_refuses_ids_beyond_int32_itself(big):
    # A direct call of the compiled op (no backend selection) must not truncate either.
    _native.load_native()
    q = torch.randn(1, 1, 4, 8)
    groups = torch.tensor([0, big, 1, 0])
    with pytest.raises(ValueError, match=rf"q_groups must be ids below 2\^31 .*got {big}"):
        torch.ops.pyiqa_fast.block_attention(q, q, q, groups, groups, 1.0)


def test_block_attention_reference_keeps_int64_ids_apart():
    # The specification compares the ids as given: 0 and 2**32 are two groups.
    wide, narrow = attend("reference", [0, 2**32, 1, 0]), attend("reference", [0, 2, 1, 0])
    assert torch.equal(wide, narrow)


@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
def test_block_attention_any_negative_int64_id_is_global(backend):
    torch.testing.assert_close(attend(backend, [-2**40, 0, 1, 0]), attend(backend, [-1, 0, 1, 0]),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("pool", [2**31, 2**62, 2**63 - 1])
def test_dsm_pool_compiled_op_clamps_huge_pools_itself(pool):
    # The public function passes max(H, W) on; a direct call of the compiled op must be safe too
    # (it raised SIGFPE at 2**62 and returned an empty map at 2**63 - 1).
    _native.load_native()
    ref, dist = torch.rand(2, 3, 7, 5, dtype=torch.float64), torch.rand(2, 3, 7, 5, dtype=torch.float64)
    out = torch.ops.pyiqa_fast.dsm_pool(ref, dist, pool, True)
    torch.testing.assert_close(out, torch.ops.pyiqa_fast.dsm_pool(ref, dist, 7, True), atol=0, rtol=0)
    grad = torch.ones_like(out)
    for a, b in zip(torch.ops.pyiqa_fast._dsm_pool_backward(grad, ref, dist, pool, True),
                    torch.ops.pyiqa_fast._dsm_pool_backward(grad, ref, dist, 7, True), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
