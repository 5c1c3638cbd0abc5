"""dsm_pool: every backend against the reference, a hand-computed map and the operator contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyiqa_fast import BackendUnavailableError, set_default_backend
from pyiqa_fast.ops import DSMPool, dsm_pool
from pyiqa_fast.ops.dsm_pool.api import BACKENDS
from pyiqa_fast.ops.dsm_pool.impl.reference import dsm_pool as reference_dsm
from tests._utils import assert_close, assert_low_precision_close

TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: the interpreter
DEVICE_OF = {"reference": "cpu", "cpu": "cpu", "triton": TRITON_DEVICE, "cuda": "cuda"}
KERNELS = ["cpu", "triton", pytest.param("cuda", marks=pytest.mark.needs_cuda)]
ALL = ["reference", *KERNELS]
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def make_images(shape, dtype=torch.float64, seed=0, device="cpu", ties=0.0):
    """A reference in [0, 1] and a distorted copy; a fraction ``ties`` of pixels left equal."""
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        ref = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        dist = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        keep = torch.rand(shape, generator=g) < ties
        return ref.to(device), torch.where(keep, ref, dist).to(device)
    ref = torch.rand(shape, generator=g, dtype=torch.float64)
    dist = (ref + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    dist = torch.where(torch.rand(shape, generator=g) < ties, ref, dist)
    return ref.to(device, dtype), dist.to(device, dtype)


def run(backend, ref, dist, grad_seed=None, **options):
    """The map, and (with grad_seed) the gradients of a random weighting of it."""
    device = DEVICE_OF[backend]
    ref, dist = ref.to(device), dist.to(device)
    if grad_seed is None:
        return dsm_pool(ref, dist, backend=backend, **options).cpu(), None, None
    ref, dist = ref.detach().requires_grad_(True), dist.detach().requires_grad_(True)
    out = dsm_pool(ref, dist, backend=backend, **options)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=torch.float64)
    grad_ref, grad_dist = torch.autograd.grad(out, (ref, dist), weight.to(device, out.dtype))
    return out.detach().cpu(), grad_ref.cpu(), grad_dist.cpu()


def oracle(ref, dist, grad_seed=None, **options):
    """The reference in float64 on the same (rounded) inputs; uint8 read as value / 255."""
    if ref.dtype == torch.uint8:
        ref, dist = ref.double() / 255, dist.double() / 255
    return run("reference", ref.double(), dist.double(), grad_seed, **options)


# ---- golden case --------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ALL)
def test_golden_16x16_pool_8(backend):
    # Hand-computed: dist differs from ref by a constant per channel and quadrant, so each cell's
    # value is the mean of three known constants; one cell also holds exact ties.
    ref = np.zeros((1, 3, 16, 16))
    ref[0, 0] = np.arange(256).reshape(16, 16) / 256  # content does not matter, only differences
    offsets = {  # (quadrant) -> per-channel |difference|
        (0, 0): (0.5, 0.25, 0.0),  # cell (0, 0): channel 2 is tied
        (0, 1): (0.125, 0.125, 0.125),
        (1, 0): (1.0, 0.0, 0.5),
        (1, 1): (0.75, 0.5, 0.25),
    }
    dist = ref.copy()
    signs = (1, -1, 1)
    for (u, v), diffs in offsets.items():
        for c, d in enumerate(diffs):
            dist[0, c, 8 * u : 8 * u + 8, 8 * v : 8 * v + 8] += signs[c] * d
    expected = np.array([[[[0.25, 0.125], [0.5, 0.5]]]])  # (0.5+0.25+0)/3, 0.375/3, 1.5/3, 1.5/3
    ref_t, dist_t = torch.from_numpy(ref), torch.from_numpy(dist)
    out, grad_ref, grad_dist = run(backend, ref_t, dist_t, grad_seed=None)
    assert out.shape == (1, 1, 2, 2)
    assert_close(out, torch.from_numpy(expected), atol=1e-15, rtol=0, what=backend)
    # Gradient of out.sum(): 1/(3·64) · sign(ref − dist) per pixel; 0 on the tied channel.
    device = DEVICE_OF[backend]
    r, d = ref_t.to(device).requires_grad_(True), dist_t.to(device).requires_grad_(True)
    dsm_pool(r, d, pool=8, backend=backend).sum().backward()
    expected_grad = np.sign(ref - dist) / 192
    assert_close(r.grad.cpu(), torch.from_numpy(expected_grad), atol=0, rtol=0, what="grad ref")
    assert_close(d.grad.cpu(), torch.from_numpy(-expected_grad), atol=0, rtol=0, what="grad dist")
    assert (r.grad[0, 2, :8, :8] == 0).all()


@pytest.mark.parametrize("backend", ALL)
def test_ceil_mode_partial_cells_use_the_real_pixel_count(backend):
    # 5×7 image, pool 4: cells of 4×4, 4×3, 1×4 and 1×3 pixels; |diff| = 1 on channel 0 only,
    # so every cell is exactly 1/3 whatever its size.
    ref = torch.zeros(1, 3, 5, 7, dtype=torch.float64)
    dist = ref.clone()
    dist[:, 0] = 1.0
    out, _, _ = run(backend, ref, dist, pool=4, ceil_mode=True)
    assert out.shape == (1, 1, 2, 2)
    assert_close(out, torch.full((1, 1, 2, 2), 1 / 3, dtype=torch.float64), atol=1e-15, rtol=0, what=backend)
    # The bottom-right 1×3 cell: one pixel with |diff| 3 (all channels) -> 3·1/(3·3) = 1/3.
    dist = ref.clone()
    dist[0, :, 4, 4] = -1.0
    out, _, _ = run(backend, ref, dist, pool=4, ceil_mode=True)
    assert out[0, 0, 1, 1].item() == pytest.approx(1 / 3, rel=1e-15)
    assert out[0, 0, :1].abs().sum().item() == 0.0 and out[0, 0, 1, 0].item() == 0.0


# ---- random shapes through hypothesis -------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 3),
    cells_h=st.integers(1, 5),
    cells_w=st.integers(1, 5),
    pool=st.integers(1, 9),
    rest_h=st.integers(0, 8),
    rest_w=st.integers(0, 8),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.uint8]),
    backend=st.sampled_from(["cpu", "triton"]),
    layout=st.sampled_from(["contiguous", "channels_last", "strided"]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_reference(batch, cells_h, cells_w, pool, rest_h, rest_w, dtype, backend, layout, seed):
    rest_h, rest_w = rest_h % pool, rest_w % pool  # a partial cell needs ceil_mode
    height, width = min(40, cells_h * pool + rest_h), min(40, cells_w * pool + rest_w)
    ceil_mode = height % pool != 0 or width % pool != 0
    ref, dist = make_images((batch, 3, height, width), dtype, seed, ties=0.1)
    ref, dist = relayout(ref, layout), relayout(dist, layout)
    grad_seed = None if dtype == torch.uint8 else seed
    expected = oracle(ref, dist, grad_seed, pool=pool, ceil_mode=ceil_mode)
    got = run(backend, ref, dist, grad_seed, pool=pool, ceil_mode=ceil_mode)
    atol, rtol = BACKENDS.backends[backend].tolerances[dtype]  # the capability record's
    assert got[0].dtype == (torch.float32 if dtype == torch.uint8 else dtype)
    assert_close(got[0], expected[0], atol=atol, rtol=rtol, what=f"{backend} {dtype} map")
    if grad_seed is not None:
        tol = 1e-15 if dtype == torch.float64 else 1e-7
        assert_close(got[1], expected[1], atol=tol, rtol=1e-6, what="grad ref")
        assert_close(got[2], expected[2], atol=tol, rtol=1e-6, what="grad dist")


def relayout(t, layout):
    """The same values in another memory layout."""
    if layout == "channels_last":
        out = t.contiguous(memory_format=torch.channels_last)
        assert t.shape[2] * t.shape[3] == 1 or not out.is_contiguous()
        return out
    if layout == "strided":  # every other column of a wider image, channels permuted in memory
        wide = torch.zeros(t.shape[0], t.shape[2], 2 * t.shape[3], 3, dtype=t.dtype)
        wide[:, :, ::2, :] = t.permute(0, 2, 3, 1)
        out = wide.permute(0, 3, 1, 2)[:, :, :, ::2]
        assert torch.equal(out, t)
        return out
    return t


@pytest.mark.parametrize("backend, shape", [
    ("cpu", (16, 3, 224, 224)),  # DSMix's crops, a training batch
    ("cpu", (2, 3, 384, 384)),
    ("triton", (1, 3, 224, 224)),  # the interpreter pays per program: one image
    pytest.param("cuda", (16, 3, 384, 384), marks=pytest.mark.needs_cuda),
])
def test_realistic_shapes(backend, shape):
    ref, dist = make_images(shape, torch.float32, seed=17, ties=0.01)
    expected = oracle(ref, dist, grad_seed=7)
    got = run(backend, ref, dist, grad_seed=7)
    assert got[0].shape == (shape[0], 1, shape[2] // 8, shape[3] // 8)
    for a, b, what in zip(got, expected, ("map", "grad ref", "grad dist"), strict=True):
        assert_close(a, b, atol=1e-6, rtol=1e-5, what=what)


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("layout", ["channels_last", "strided", "expanded"])
def test_non_contiguous_inputs(backend, layout):
    ref, dist = make_images((2, 3, 24, 16), torch.float32, seed=3, ties=0.05)
    if layout == "expanded":  # one reference for the whole batch, stride 0 on B
        ref = ref[:1].expand(2, -1, -1, -1)
        assert ref.stride(0) == 0
    else:
        ref, dist = relayout(ref, layout), relayout(dist, layout)
    expected = run(backend, ref.contiguous(), dist.contiguous(), grad_seed=1)
    got = run(backend, ref, dist, grad_seed=1)
    for a, b, what in zip(got, expected, ("map", "grad ref", "grad dist"), strict=True):
        assert_close(a, b, atol=1e-7, rtol=1e-6, what=f"{layout} {what}")


def test_cpu_layouts_agree_bitwise():
    # The CPU kernel adds in the same order for NCHW rows, channels-last pixels and any strides.
    ref, dist = make_images((2, 3, 32, 40), torch.float32, seed=4)
    maps = [dsm_pool(relayout(ref, lay), relayout(dist, lay), backend="cpu")
            for lay in ("contiguous", "channels_last", "strided")]
    assert torch.equal(maps[0], maps[1]) and torch.equal(maps[0], maps[2])


# ---- dtypes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(backend, dtype):
    if backend == "triton" and dtype == torch.bfloat16 and TRITON_DEVICE == "cpu":
        pytest.skip("the Triton interpreter computes bfloat16 wrongly (STYLE.md §7); runs on the GPU machine")
    ref, dist = make_images((2, 3, 32, 24), dtype, seed=5, ties=0.05)
    exact = oracle(ref, dist, grad_seed=2)
    low = run("reference", ref, dist, grad_seed=2)
    got = run(backend, ref, dist, grad_seed=2)
    assert got[0].dtype == got[1].dtype == dtype
    for i, what in enumerate(("map", "grad ref", "grad dist")):
        assert_low_precision_close(got[i], low[i], exact[i], what=f"{backend} {dtype} {what}", atol=1e-6)


@pytest.mark.parametrize("backend", ALL)
def test_uint8_reads_values_over_255_and_returns_float32(backend):
    ref, dist = make_images((2, 3, 16, 24), torch.uint8, seed=6, ties=0.1)
    out, _, _ = run(backend, ref, dist)
    assert out.dtype == torch.float32
    expected, _, _ = oracle(ref, dist)
    assert_close(out, expected, atol=1e-7, rtol=1e-6, what="uint8")
    assert_close(out, reference_dsm(ref.double(), dist.double()) / 255, atol=1e-7, rtol=1e-6, what="scale")


def test_uint8_has_no_gradient():
    ref, dist = make_images((1, 3, 8, 8), torch.uint8)
    assert not dsm_pool(ref, dist, backend="cpu").requires_grad
    with pytest.raises(RuntimeError, match="uint8 inputs have no gradient"):
        torch.ops.pyiqa_fast._dsm_pool_backward(torch.ones(1, 1, 1, 1), ref, dist, 8, False)


# ---- gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["reference", "cpu", pytest.param("cuda", marks=pytest.mark.needs_cuda)])
@pytest.mark.parametrize("pool, ceil_mode, size", [(4, False, (8, 12)), (3, True, (7, 5))])
def test_gradcheck(backend, pool, ceil_mode, size):
    # Differences far from 0 (|x| is smooth there): ref in [0, 1], dist = ref ± [0.1, 0.5].
    device = DEVICE_OF[backend]
    g = torch.Generator().manual_seed(7)
    ref = torch.rand(1, 3, *size, generator=g, dtype=torch.float64)
    sign = torch.where(torch.rand(ref.shape, generator=g) < 0.5, -1.0, 1.0).double()
    dist = ref + sign * (0.1 + 0.4 * torch.rand(ref.shape, generator=g, dtype=torch.float64))
    ref, dist = ref.to(device).requires_grad_(True), dist.to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda r, d: dsm_pool(r, d, pool=pool, ceil_mode=ceil_mode, backend=backend), (ref, dist), fast_mode=True
    )


def test_triton_gradient_matches_reference_in_fp64():
    # gradcheck through the interpreter takes ~1 min; the fp64 gradient must equal the reference's.
    ref, dist = make_images((2, 3, 11, 13), torch.float64, seed=8, ties=0.1)
    expected = oracle(ref, dist, grad_seed=3, pool=4, ceil_mode=True)
    got = run("triton", ref, dist, grad_seed=3, pool=4, ceil_mode=True)
    for a, b, what in zip(got, expected, ("map", "grad ref", "grad dist"), strict=True):
        assert_close(a, b, atol=1e-16, rtol=1e-14, what=what)


@pytest.mark.parametrize("backend", ALL)
def test_gradient_is_zero_at_equality_and_only_one_input_may_require_grad(backend):
    ref, dist = make_images((1, 3, 8, 8), torch.float32, seed=9, ties=0.3)
    device = DEVICE_OF[backend]
    ref, dist = ref.to(device), dist.to(device)
    tied = ref == dist
    assert tied.any() and not tied.all()
    r = ref.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(dsm_pool(r, dist, backend=backend).sum(), r)
    assert (grad[tied] == 0).all() and (grad[~tied].abs() == 1 / 192).all()
    d = dist.clone().requires_grad_(True)
    (grad_d,) = torch.autograd.grad(dsm_pool(ref, d, backend=backend).sum(), d)
    assert torch.equal(grad_d[~tied], -grad[~tied])


@pytest.mark.parametrize("backend", ALL)
def test_nan_propagates(backend):
    ref, dist = make_images((1, 3, 16, 16), torch.float32, seed=10)
    ref[0, 1, 3, 9] = float("nan")
    out, grad_ref, _ = run(backend, ref, dist, grad_seed=4)
    assert out[0, 0, 0, 1].isnan() and out.isnan().sum() == 1
    # torch's abs backward uses sign(NaN) = 0: the NaN pixel gets no gradient, nothing else changes.
    assert grad_ref[0, 1, 3, 9].item() == 0.0 and not grad_ref.isnan().any()


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_double_backward_is_refused(backend):
    ref, dist = make_images((1, 3, 8, 8), torch.float64, seed=11)
    device = DEVICE_OF[backend]
    r, d = ref.to(device).requires_grad_(True), dist.to(device).requires_grad_(True)
    (grad,) = torch.autograd.grad(dsm_pool(r, d, backend=backend).sum(), r, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward is not supported"):
        grad.sum().backward()


# ---- properties ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", KERNELS)
def test_deterministic_and_batch_invariant(backend):
    ref, dist = make_images((4, 3, 24, 32), torch.float32, seed=12, ties=0.05)
    first = run(backend, ref, dist, grad_seed=5)
    second = run(backend, ref, dist, grad_seed=5)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    alone = run(backend, ref[2:3], dist[2:3])[0]
    assert torch.equal(alone, first[0][2:3])


def test_cpu_thread_count_does_not_change_the_result():
    ref, dist = make_images((8, 3, 64, 64), torch.float32, seed=13)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = dsm_pool(ref, dist, backend="cpu")
        torch.set_num_threads(2)
        parallel = dsm_pool(ref, dist, backend="cpu")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial, parallel)


@pytest.mark.parametrize("backend", ALL)
def test_empty_batch(backend):
    ref, dist = make_images((0, 3, 16, 8), torch.float32)
    out, _, _ = run(backend, ref, dist)
    assert out.shape == (0, 1, 2, 1)


@pytest.mark.parametrize("backend", ALL)
def test_pool_one_and_a_single_cell(backend):
    ref, dist = make_images((2, 3, 5, 6), torch.float64, seed=14)
    out, _, _ = run(backend, ref, dist, pool=1)
    assert_close(out, (ref - dist).abs().mean(1, keepdim=True), atol=1e-15, rtol=0, what="pool 1")
    out, _, _ = run(backend, ref, dist, pool=6, ceil_mode=True)
    assert_close(out.reshape(2), (ref - dist).abs().mean((1, 2, 3)), atol=1e-15, rtol=1e-14, what="one cell")


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("pool", [7, 2**31, 2**40, 2**62])
def test_pool_larger_than_the_image_is_one_cell(backend, pool):
    # With ceil_mode a pool beyond max(H, W) is one cell: the same map as pool = max(H, W), on every
    # backend (the reference's avg_pool2d overflowed at 2**40; the kernels' cell arithmetic at 2**62).
    ref, dist = make_images((2, 3, 5, 6), torch.float64, seed=15)
    out, grad_ref, grad_dist = run(backend, ref, dist, grad_seed=3, pool=pool, ceil_mode=True)
    expected, expected_ref, expected_dist = run("reference", ref, dist, grad_seed=3, pool=6, ceil_mode=True)
    assert out.shape == (2, 1, 1, 1)
    assert_close(out, expected, atol=1e-15, rtol=1e-14, what="one cell")
    assert_close(grad_ref, expected_ref, atol=1e-15, rtol=1e-14, what="grad ref")
    assert_close(grad_dist, expected_dist, atol=1e-15, rtol=1e-14, what="grad dist")
    with pytest.raises(ValueError, match=f"H = 5 is not divisible by pool = {pool}"):
        dsm_pool(ref, dist, pool=pool)  # without ceil_mode, still refused


def test_autocast_runs_in_fp32():
    ref, dist = make_images((1, 3, 16, 16), torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = torch.ops.pyiqa_fast.dsm_pool(ref.bfloat16(), dist.bfloat16(), 8, False)
    assert out.dtype == torch.float32


def test_module_matches_function():
    ref, dist = make_images((2, 3, 12, 12), torch.float32)
    module = DSMPool(pool=4, ceil_mode=False, backend="cpu")
    assert repr(module) == "DSMPool(pool=4, ceil_mode=False, backend='cpu')"
    assert torch.equal(module(ref, dist), dsm_pool(ref, dist, pool=4, backend="cpu"))


# ---- operator contract ---------------------------------------------------------------------------

def _op_samples(device, backward):
    for shape, pool, ceil_mode, dtype in [((2, 3, 16, 8), 8, False, torch.float32),
                                          ((1, 3, 7, 5), 3, True, torch.float64)]:
        ref, dist = make_images(shape, dtype, seed=pool, device=device, ties=0.1)
        if backward:
            out_shape = (shape[0], 1, -(-shape[2] // pool), -(-shape[3] // pool))
            grad = torch.randn(out_shape, dtype=dtype, device=device)
            yield (grad, ref, dist, pool, ceil_mode)
        else:
            yield (ref.requires_grad_(True), dist.requires_grad_(True), pool, ceil_mode)
    ref, dist = make_images((1, 3, 8, 8), torch.uint8, device=device)
    if not backward:
        yield (ref, dist, 4, False)


@pytest.mark.parametrize("op_name, device", [
    ("dsm_pool", "cpu"),
    ("_dsm_pool_backward", "cpu"),
    ("dsm_pool_triton", TRITON_DEVICE),
    ("_dsm_pool_backward_triton", TRITON_DEVICE),
    pytest.param("dsm_pool", "cuda", marks=pytest.mark.needs_cuda),
    pytest.param("_dsm_pool_backward", "cuda", marks=pytest.mark.needs_cuda),
])
def test_opcheck(op_name, device):
    dsm_pool(*make_images((1, 3, 8, 8)), backend="cpu")  # loads _C and the registrations
    from pyiqa_fast.ops.dsm_pool import ops  # noqa: F401  (defines the Triton ops)

    op = getattr(torch.ops.pyiqa_fast, op_name).default
    for args in _op_samples(device, backward="backward" in op_name):
        torch.library.opcheck(op, args)


@pytest.mark.parametrize("backend", ALL)
def test_torch_compile_fullgraph(backend):
    torch._dynamo.reset()
    ref, dist = make_images((2, 3, 16, 24), torch.float32, seed=15, device=DEVICE_OF[backend], ties=0.1)

    def step(fn):
        r, d = ref.clone().requires_grad_(True), dist.clone().requires_grad_(True)
        out = fn(r, d)
        out.square().sum().backward()
        return out.detach(), r.grad, d.grad

    def dsm_fn(r, d):
        return dsm_pool(r, d, pool=8, backend=backend)

    # The interpreter's kernels are plain Python: inductor cannot codegen them, aot_eager runs them.
    compiled = torch.compile(dsm_fn, fullgraph=True, backend="aot_eager" if backend == "triton" else "inductor")
    for got, eager, what in zip(step(compiled), step(dsm_fn), ("map", "grad ref", "grad dist"), strict=True):
        assert_close(got, eager, atol=1e-7, rtol=1e-6, what=f"compiled {what}")


def test_torch_compile_dynamic_shapes():
    torch._dynamo.reset()
    compiled = torch.compile(lambda r, d: dsm_pool(r, d, backend="cpu"), fullgraph=True, dynamic=True)
    for shape in ((1, 3, 16, 24), (3, 3, 32, 8), (2, 3, 40, 16)):
        ref, dist = make_images(shape, torch.float32, seed=shape[0])
        assert torch.equal(compiled(ref, dist), dsm_pool(ref, dist, backend="cpu"))


# ---- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, fragments", [
    (lambda r, d: dsm_pool([1.0], d), TypeError, ["ref", "torch.Tensor", "list"]),
    (lambda r, d: dsm_pool(r, None), TypeError, ["dist", "torch.Tensor", "NoneType"]),
    (lambda r, d: dsm_pool(r[0], d[0]), ValueError, ["ref", "(B, 3, H, W)", "(3, 16, 16)"]),
    (lambda r, d: dsm_pool(r[:, :2], d[:, :2]), ValueError, ["ref", "(B, 3, H, W)", "(2, 2, 16, 16)"]),
    (lambda r, d: dsm_pool(r, d[:, :, :8]), ValueError, ["dist", "shape of ref", "(2, 3, 16, 16)", "(2, 3, 8, 16)"]),
    (lambda r, d: dsm_pool(r.int(), d.int()), TypeError, ["ref", "uint8, float16", "int32"]),
    (lambda r, d: dsm_pool(r, d.double()), TypeError, ["dist", "dtype of ref", "torch.float32", "torch.float64"]),
    (lambda r, d: dsm_pool(r, d.to("meta")), ValueError, ["dist", "device", "cpu", "meta"]),
    (lambda r, d: dsm_pool(r, d, pool=0), ValueError, ["pool", ">= 1", "got 0"]),
    (lambda r, d: dsm_pool(r, d, pool=-3), ValueError, ["pool", ">= 1", "got -3"]),
    (lambda r, d: dsm_pool(r, d, pool=2.0), TypeError, ["pool", "int", "float"]),
    (lambda r, d: dsm_pool(r, d, pool=True), TypeError, ["pool", "int", "bool"]),
    (lambda r, d: dsm_pool(r, d, ceil_mode=1), TypeError, ["ceil_mode", "bool", "int"]),
    (lambda r, d: dsm_pool(r, d, pool=3), ValueError, ["H = 16", "not divisible by pool = 3", "ceil_mode=True"]),
    (lambda r, d: dsm_pool(r[..., :12], d[..., :12]), ValueError, ["W = 12", "not divisible by pool = 8"]),
    (lambda r, d: dsm_pool(r, d, backend="fast"), ValueError, ["backend", "'auto'", "'fast'"]),
    (lambda r, d: DSMPool(pool=0), ValueError, ["pool", ">= 1", "got 0"]),
])
def test_validation_errors(call, error, fragments):
    ref, dist = make_images((2, 3, 16, 16), torch.float32)
    with pytest.raises(error) as info:
        call(ref, dist)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


@pytest.mark.parametrize("args, fragment", [
    (lambda r, d: (r[0], d[0], 8, False), "ref must have 4 dimensions (B, 3, H, W), got shape [3, 16, 16]"),
    (lambda r, d: (r[:, :1], d[:, :1], 8, False), "ref must have 3 channels (dim 1), got shape [2, 1, 16, 16]"),
    (lambda r, d: (r, d[:, :, :8], 8, False), "dist must have the shape of ref ([2, 3, 16, 16]), got [2, 3, 8, 16]"),
    (lambda r, d: (r.int(), d.int(), 8, False), "ref must be uint8, float16, bfloat16, float32 or float64, got Int"),
    (lambda r, d: (r, d.double(), 8, False), "dist must have the dtype of ref (Float), got Double"),
    (lambda r, d: (r, d, 0, False), "pool must be >= 1, got 0"),
    (lambda r, d: (r, d, 3, False), "H = 16 is not divisible by pool = 3; pass ceil_mode=True"),
    (lambda r, d: (r[..., :12], d[..., :12], 8, False), "W = 12 is not divisible by pool = 8"),
])
def test_cpp_op_errors(args, fragment):
    dsm_pool(*make_images((1, 3, 8, 8)), backend="cpu")  # loads _C
    ref, dist = make_images((2, 3, 16, 16), torch.float32)
    escaped = fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(RuntimeError, match=escaped):
        torch.ops.pyiqa_fast.dsm_pool(*args(ref, dist))


def test_cpp_backward_errors():
    dsm_pool(*make_images((1, 3, 8, 8)), backend="cpu")  # loads _C
    ref, dist = make_images((2, 3, 16, 16), torch.float32)
    with pytest.raises(RuntimeError, match=r"grad must have shape \[2, 1, 2, 2\], got \[2, 1, 4, 4\]"):
        torch.ops.pyiqa_fast._dsm_pool_backward(torch.ones(2, 1, 4, 4), ref, dist, 8, False)
    with pytest.raises(RuntimeError, match=r"grad must have the dtype of ref \(Float\), got Double"):
        torch.ops.pyiqa_fast._dsm_pool_backward(torch.ones(2, 1, 2, 2, dtype=torch.float64), ref, dist, 8, False)


def test_triton_op_errors():
    from pyiqa_fast.ops.dsm_pool import ops  # noqa: F401  (defines the Triton ops)

    ref, dist = make_images((2, 3, 16, 16), torch.float32, device=TRITON_DEVICE)
    op = torch.ops.pyiqa_fast.dsm_pool_triton
    with pytest.raises(ValueError, match=r"ref must have shape \(B, 3, H, W\), got \(3, 16, 16\)"):
        op(ref[0], dist[0], 8, False)
    with pytest.raises(TypeError, match="share one dtype"):
        op(ref, dist.double(), 8, False)
    with pytest.raises(ValueError, match="pool must be >= 1, got 0"):
        op(ref, dist, 0, False)
    with pytest.raises(ValueError, match="H = 16 is not divisible by pool = 5"):
        op(ref, dist, 5, False)
    with pytest.raises(ValueError, match=r"grad must have shape \(2, 1, 2, 2\)"):
        torch.ops.pyiqa_fast._dsm_pool_backward_triton(torch.ones(2, 1, 1, 1, device=TRITON_DEVICE), ref, dist, 8,
                                                        False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_explicit_cuda_backend_refuses_cpu_tensors_with_reasons():
    with pytest.raises(BackendUnavailableError) as info:
        dsm_pool(*make_images((1, 3, 8, 8)), backend="cuda")
    message = str(info.value)
    assert "dsm_pool(backend='cuda'): cannot run" in message
    assert "runs on cuda tensors, got a cpu tensor" in message
    assert "use backend='cpu'" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreter case exists only without a GPU")
def test_triton_bf16_refused_under_interpreter():
    with pytest.raises(BackendUnavailableError, match="interpreter computes bfloat16 wrongly"):
        dsm_pool(*make_images((1, 3, 8, 8), torch.bfloat16), backend="triton")


def test_cuda_pool_limit_is_a_refusal_reason():
    reasons = BACKENDS.backends["cuda"].not_supported_reasons(
        torch.device("cuda"), torch.float32, needs_backward=False, pool=4096
    )
    assert any("takes pool <= 2048, got pool = 4096" in r for r in reasons)


def test_auto_picks_cpu_and_honours_the_default():
    device = torch.device("cpu")
    assert BACKENDS.resolve("auto", device, torch.float32, needs_backward=True, pool=8).name == "cpu"
    set_default_backend("reference")
    try:
        assert BACKENDS.resolve("auto", device, torch.float32, needs_backward=True, pool=8).name == "reference"
    finally:
        set_default_backend(None)


# ---- GPU only ------------------------------------------------------------------------------------

@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("shape, pool, ceil_mode", [
    ((2, 3, 224, 224), 8, False),
    ((3, 3, 37, 530), 8, True),  # several shared-memory chunks, partial cells
    ((1, 3, 64, 4100), 3, True),  # chunks that do not align with 2048 columns
    ((2, 3, 48, 48), 16, False),
])
def test_cuda_matches_cpu(dtype, shape, pool, ceil_mode):
    ref, dist = make_images(shape, dtype, seed=16, ties=0.05)
    grad_seed = None if dtype == torch.uint8 else 6
    expected = run("cpu", ref, dist, grad_seed, pool=pool, ceil_mode=ceil_mode)
    got = run("cuda", relayout(ref, "channels_last"), relayout(dist, "channels_last"), grad_seed, pool=pool,
              ceil_mode=ceil_mode)
    # Same order of additions and the same roundings: equal up to the last bit of 16-bit outputs.
    for a, b, what in zip(got, expected, ("map", "grad ref", "grad dist"), strict=True):
        if a is not None:
            assert_close(a, b, atol=1e-6 if dtype in (torch.float16, torch.bfloat16) else 0, rtol=1e-2 if dtype in (
                torch.float16, torch.bfloat16) else 1e-6, what=what)


@pytest.mark.needs_cuda
def test_cuda_graph_reduce_overhead():
    ref, dist = make_images((8, 3, 64, 64), torch.float32, device="cuda")
    compiled = torch.compile(lambda r, d: dsm_pool(r, d, backend="cuda"), mode="reduce-overhead", fullgraph=True)
    for _ in range(3):
        out = compiled(ref, dist)
    assert torch.equal(out, dsm_pool(ref, dist, backend="cuda"))
