"""block_attention: every backend against the float64 reference, SDPA with the dense mask, and
hand-built cases; partition_groups against its closed form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.ops import block_attention, partition_groups
from pyiqa_fast.ops.block_attention.api import BACKENDS
from pyiqa_fast.ops.block_attention.impl.reference import allowed_pairs, block_attention_with_lse
from tests._utils import assert_close, assert_low_precision_close

TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: the interpreter
DEVICE_OF = {"reference": "cpu", "cpu": "cpu", "triton": TRITON_DEVICE, "cuda": "cuda"}
KERNELS = ["cpu", "triton", pytest.param("cuda", marks=pytest.mark.needs_cuda)]
ALL = ["reference", *KERNELS]
FP64_BACKENDS = ["reference", "cpu", pytest.param("cuda", marks=pytest.mark.needs_cuda)]
LAYOUTS = ["vertical", "horizontal", "grid2x2"]
# (forward, backward) absolute tolerance against float64 in float32 (values are O(1)).
FP32_TOL = (2e-6, 1e-5)


def make_qkv(B, H, Nq, Nk, d, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, Nq, d, generator=g, dtype=torch.float64)
    k = torch.randn(B, H, Nk, d, generator=g, dtype=torch.float64)
    v = torch.randn(B, H, Nk, d, generator=g, dtype=torch.float64)
    return [t.to(device, dtype) for t in (q, k, v)]


def run(backend, q, k, v, q_groups, k_groups, grad_out=None, **kwargs):
    """(out, grad_q, grad_k, grad_v) on the backend's device, returned on the CPU."""
    device = DEVICE_OF[backend]
    leaves = [t.detach().to(device).requires_grad_(True) for t in (q, k, v)]
    out = block_attention(*leaves, q_groups.to(device), k_groups.to(device), backend=backend, **kwargs)
    if grad_out is None:
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    grads = torch.autograd.grad(out, leaves, grad_out.to(device, out.dtype))
    return [t.detach().cpu() for t in (out, *grads)]


def exact(q, k, v, q_groups, k_groups, grad_out=None, scale=None):
    """The float64 reference's output and gradients."""
    return run("reference", q.double(), k.double(), v.double(), q_groups, k_groups,
               None if grad_out is None else grad_out.double(), scale=scale)


def assert_matches(got, expected, tol, what):
    names = ("out", "grad_q", "grad_k", "grad_v")
    for name, a, e, t in zip(names, got, expected, (tol[0], tol[1], tol[1], tol[1]), strict=True):
        assert_close(a, e, atol=t, rtol=t, what=f"{what} {name}")


def tolerance(backend, dtype):
    return (1e-12, 1e-12) if dtype == torch.float64 else FP32_TOL


# ---- partition_groups: closed forms ------------------------------------------------------------

def test_partition_groups_closed_forms():
    vertical = partition_groups("vertical")
    assert vertical.shape == (197,) and vertical.dtype == torch.int32 and vertical[0] == -1
    grid = vertical[1:].reshape(14, 14)
    assert (grid[:, :7] == 0).all() and (grid[:, 7:] == 1).all()
    horizontal = partition_groups("horizontal")[1:].reshape(14, 14)
    assert (horizontal[:7] == 0).all() and (horizontal[7:] == 1).all()
    quad = partition_groups("grid2x2")[1:].reshape(14, 14)
    for block, (rows, cols) in enumerate([(slice(0, 7), slice(0, 7)), (slice(0, 7), slice(7, 14)),
                                          (slice(7, 14), slice(0, 7)), (slice(7, 14), slice(7, 14))]):
        assert (quad[rows, cols] == block).all()
    # An uneven 3×2 block grid on 7×5 patches: edges at floor(i·size/blocks), no CLS.
    odd = partition_groups((3, 2), grid=(7, 5), cls_tokens=0).reshape(7, 5)
    row_block = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    col_block = torch.tensor([0, 0, 0, 1, 1])
    assert torch.equal(odd.long(), row_block[:, None] * 2 + col_block[None, :])
    assert torch.equal(partition_groups((1, 1), cls_tokens=2)[:3].long(), torch.tensor([-1, -1, 0]))


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: partition_groups("diagonal"), ValueError, "'diagonal'"),
    (lambda: partition_groups((0, 2)), ValueError, "mode must be positive"),
    (lambda: partition_groups((3,)), TypeError, "mode must be a pair of integers"),
    (lambda: partition_groups("vertical", grid=(14, 0)), ValueError, "grid must be positive"),
    (lambda: partition_groups((5, 5), grid=(4, 4)), ValueError, "5×5 block grid"),
    (lambda: partition_groups("vertical", cls_tokens=-1), ValueError, "cls_tokens must be an integer >= 0"),
    (lambda: partition_groups("vertical", cls_tokens=1.5), TypeError,
     r"cls_tokens must be an integer >= 0, got 1.5 \(float\)"),
    (lambda: partition_groups("vertical", cls_tokens=True), TypeError, r"got True \(bool\)"),
])
def test_partition_groups_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# ---- the reference is the masked attention -----------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_reference_equals_sdpa_with_the_dense_mask(layout):
    groups = partition_groups(layout)
    q, k, v = make_qkv(2, 3, 197, 197, 16)
    mask = allowed_pairs(groups, groups)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(block_attention(q, k, v, groups, groups, backend="reference"), expected,
                 atol=1e-13, rtol=1e-13, what="reference vs SDPA")
    # The masked share of patch pairs is 1/2 (2 blocks) or 3/4 (2×2), as METHODS.md §3.3 says.
    masked = (~mask[1:, 1:]).double().mean().item()
    assert masked == pytest.approx(0.75 if layout == "grid2x2" else 0.5)


def test_golden_two_tokens_in_different_groups():
    # Hand-computed: token 0 (group 0) sees only itself, token 1 (global) sees both with q·k = 0,
    # so it averages the values; token 2 (group 1) sees the global token 1 and itself.
    q = torch.zeros(1, 1, 3, 2, dtype=torch.float64)
    k = torch.zeros(1, 1, 3, 2, dtype=torch.float64)
    v = torch.tensor([[[[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]]], dtype=torch.float64)
    groups = torch.tensor([0, -1, 1])
    expected = torch.tensor([[[[0.5, 1.0], [5 / 3, 2.0], [2.0, 3.0]]]], dtype=torch.float64)
    for backend in ("reference", "cpu"):
        got = block_attention(q, k, v, groups, torch.tensor([0, -1, 1]), backend=backend)
        assert_close(got, expected, atol=1e-15, rtol=1e-15, what=backend)


# ---- numerics: each backend against the float64 reference --------------------------------------

@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_vit_layouts(backend, layout):
    dtype = torch.float32 if backend == "triton" else torch.float64
    groups = partition_groups(layout)
    q, k, v = make_qkv(2, 2, 197, 197, 64, dtype=dtype, seed=1)
    assert_matches(run(backend, q, k, v, groups, groups), exact(q, k, v, groups, groups),
                   tolerance(backend, dtype), f"{backend} {layout}")


def group_ids(draw, shape, kind):
    if kind == "random":
        return torch.tensor(draw(st.lists(st.integers(-1, 3), min_size=shape[-1], max_size=shape[-1]))
                            if len(shape) == 1 else
                            [draw(st.lists(st.integers(-1, 3), min_size=shape[-1], max_size=shape[-1]))
                             for _ in range(shape[0])])
    if kind == "all_global":
        return torch.full(shape, -1)
    if kind == "one_group":
        return torch.full(shape, 5)
    return torch.arange(shape[-1]).expand(shape) % 3  # "no_global": three interleaved groups


@st.composite
def cases(draw, max_len, max_d):
    B, H = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    Nq, Nk, d = draw(st.integers(1, max_len)), draw(st.integers(1, max_len)), draw(st.integers(1, max_d))
    per_sample = draw(st.booleans())
    kinds = st.sampled_from(["random", "all_global", "one_group", "no_global"])
    q_groups = group_ids(draw, (B, Nq) if per_sample else (Nq,), draw(kinds))
    k_groups = group_ids(draw, (B, Nk) if draw(st.booleans()) else (Nk,), draw(kinds))
    return (B, H, Nq, Nk, d), q_groups, k_groups, draw(st.integers(0, 2**16))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_len=70, max_d=40))
def test_random_shapes_cpu_fp64(case):
    shape, q_groups, k_groups, seed = case
    q, k, v = make_qkv(*shape, seed=seed)
    assert_matches(run("cpu", q, k, v, q_groups, k_groups), exact(q, k, v, q_groups, k_groups),
                   (1e-12, 1e-12), "cpu")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_len=45, max_d=20), block=st.sampled_from([(16, 16), (16, 32), (32, 16)]))
def test_random_shapes_triton_small_tiles(case, block):
    # Small tiles make several query tiles per sequence, so tile skipping is exercised.
    from triton_kernels.block_attention import block_attention_bwd, block_attention_fwd

    shape, q_groups, k_groups, seed = case
    q, k, v = make_qkv(*shape, dtype=torch.float32, device=TRITON_DEVICE, seed=seed)
    qg, kg = q_groups.to(TRITON_DEVICE), k_groups.to(TRITON_DEVICE)
    scale = shape[-1] ** -0.5
    out, lse = block_attention_fwd(q, k, v, qg, kg, scale, *block)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(7)).to(TRITON_DEVICE)
    grads = block_attention_bwd(grad_out, q, k, v, out, lse, qg, kg, scale, *block)
    expected = exact(q.cpu(), k.cpu(), v.cpu(), q_groups, k_groups, grad_out.cpu())
    assert_matches([t.cpu() for t in (out, *grads)], expected, FP32_TOL, f"triton tiles {block}")
    _, expected_lse = block_attention_with_lse(q.cpu().double(), k.cpu().double(), v.cpu().double(),
                                               q_groups, k_groups, scale)
    assert torch.equal(lse.cpu().isinf(), expected_lse.isinf())
    assert_close(lse.cpu().nan_to_num(neginf=0), expected_lse.nan_to_num(neginf=0), atol=1e-5, rtol=1e-5,
                 what="lse")


@pytest.mark.parametrize("backend", ALL)
def test_rows_without_keys_are_zero_with_zero_gradient(backend):
    # Query group 7 has no key of its own and there is no global key: its rows see nothing.
    dtype = torch.float32 if backend == "triton" else torch.float64
    q, k, v = make_qkv(2, 2, 9, 6, 8, dtype=dtype)
    q_groups = torch.tensor([0, 7, 1, 7, -1, 0, 1, 7, 2])
    k_groups = torch.tensor([0, 1, 2, 0, 1, 2])
    out, grad_q, grad_k, grad_v = run(backend, q, k, v, q_groups, k_groups)
    empty = q_groups == 7
    assert torch.isfinite(out).all() and torch.isfinite(grad_q).all() and torch.isfinite(grad_k).all()
    assert (out[:, :, empty] == 0).all() and (grad_q[:, :, empty] == 0).all()
    assert_matches((out, grad_q, grad_k, grad_v), exact(q, k, v, q_groups, k_groups),
                   tolerance(backend, dtype), backend)


@pytest.mark.parametrize("backend", ALL)
def test_no_keys_at_all(backend):
    dtype = torch.float32 if backend == "triton" else torch.float64
    q, k, v = make_qkv(1, 2, 5, 0, 8, dtype=dtype)
    out = block_attention(q.to(DEVICE_OF[backend]), k.to(DEVICE_OF[backend]), v.to(DEVICE_OF[backend]),
                          torch.zeros(5, dtype=torch.long, device=DEVICE_OF[backend]),
                          torch.zeros(0, dtype=torch.long, device=DEVICE_OF[backend]), backend=backend)
    assert out.shape == (1, 2, 5, 8) and (out == 0).all()


@pytest.mark.parametrize("backend", ALL)
def test_all_global_equals_unmasked_sdpa(backend):
    dtype = torch.float32 if backend == "triton" else torch.float64
    q, k, v = make_qkv(2, 3, 33, 33, 16, dtype=dtype, seed=3)
    groups = torch.full((33,), -1)
    out = run(backend, q, k, v, groups, groups)[0]
    assert_close(out, F.scaled_dot_product_attention(q.double(), k.double(), v.double()), atol=FP32_TOL[0],
                 rtol=FP32_TOL[0], what=f"{backend} all-global")


@pytest.mark.parametrize("backend", ALL)
def test_cross_attention_lengths_and_scale(backend):
    # Nq != Nk (decoder cross-attention, METHODS.md §3.3 alternative B) and an explicit scale.
    dtype = torch.float32 if backend == "triton" else torch.float64
    q, k, v = make_qkv(2, 2, 6, 199, 32, dtype=dtype, seed=4)
    q_groups = torch.tensor([0, 0, 1, 1, -1, 2])
    k_groups = torch.cat([torch.tensor([-1, -1, -1]), partition_groups("vertical", cls_tokens=0)])
    got = run(backend, q, k, v, q_groups, k_groups, scale=0.3)
    expected = run("reference", q.double(), k.double(), v.double(), q_groups, k_groups, scale=0.3)
    assert_matches(got, expected, tolerance(backend, dtype), backend)


@pytest.mark.parametrize("backend", [
    "cpu",
    pytest.param("triton", marks=pytest.mark.needs_triton_gpu),
    pytest.param("cuda", marks=pytest.mark.needs_cuda),
])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(backend, dtype):
    groups = partition_groups("grid2x2")
    q, k, v = make_qkv(2, 2, 197, 197, 64, dtype=dtype, seed=5)
    got = run(backend, q, k, v, groups, groups)
    low = run("reference", q, k, v, groups, groups)
    expected = exact(q, k, v, groups, groups)
    for name, a, lo, e in zip(("out", "grad_q", "grad_k", "grad_v"), got, low, expected, strict=True):
        assert a.dtype == dtype
        assert_low_precision_close(a, lo, e, what=f"{backend} {dtype} {name}")


def test_triton_fp16_under_the_interpreter():
    groups = partition_groups("vertical", grid=(6, 6))
    q, k, v = make_qkv(2, 2, 37, 37, 32, dtype=torch.float16, device=TRITON_DEVICE, seed=6)
    got = run("triton", q, k, v, groups, groups)
    low = run("reference", q.cpu(), k.cpu(), v.cpu(), groups, groups)
    expected = exact(q.cpu(), k.cpu(), v.cpu(), groups, groups)
    for name, a, lo, e in zip(("out", "grad_q", "grad_k", "grad_v"), got, low, expected, strict=True):
        assert_low_precision_close(a, lo, e, what=f"triton fp16 {name}")


@pytest.mark.parametrize("backend", ALL)
def test_non_contiguous_inputs(backend):
    # q, k, v as a ViT produces them: one (B, N, 3, H, d) projection, permuted; plus a strided
    # feature dimension and per-sample groups that are a slice.
    dtype = torch.float32 if backend == "triton" else torch.float64
    device = DEVICE_OF[backend]
    qkv = torch.randn(2, 50, 3, 2, 16, dtype=dtype, generator=torch.Generator().manual_seed(8)).to(device)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    wide = torch.randn(2, 2, 50, 32, dtype=dtype).to(device)
    v = wide[..., ::2]
    assert not (q.is_contiguous() or v.is_contiguous())
    groups = torch.randint(-1, 3, (2, 100), generator=torch.Generator().manual_seed(9))[:, ::2]
    got = run(backend, q, k, v, groups, groups)
    expected = exact(q.contiguous().cpu(), k.contiguous().cpu(), v.contiguous().cpu(), groups, groups)
    assert_matches(got, expected, tolerance(backend, dtype), backend)


@pytest.mark.parametrize("backend", KERNELS)
def test_deterministic_and_batch_invariant(backend):
    dtype = torch.float32
    groups = partition_groups("grid2x2", grid=(7, 7))
    q, k, v = make_qkv(3, 2, 50, 50, 32, dtype=dtype, seed=10)
    first, second = run(backend, q, k, v, groups, groups), run(backend, q, k, v, groups, groups)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    grad_out = torch.randn(3, 2, 50, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    alone = run(backend, q[1:2], k[1:2], v[1:2], groups, groups, grad_out=grad_out[1:2])
    batched = run(backend, q, k, v, groups, groups, grad_out=grad_out)
    for a, b in zip(alone, batched, strict=True):
        assert torch.equal(a[0], b[1])


@pytest.mark.parametrize("backend", FP64_BACKENDS)
def test_gradcheck(backend):
    device = DEVICE_OF[backend]
    q, k, v = (t.to(device).requires_grad_(True) for t in make_qkv(2, 2, 7, 6, 5, seed=11))
    q_groups = torch.tensor([[0, 1, -1, 1, 0, 2, 9], [1, 1, 1, 0, -1, 0, 0]], device=device)
    k_groups = torch.tensor([0, 1, 0, -1, 1, 2], device=device)

    def fn(q, k, v):
        return block_attention(q, k, v, q_groups, k_groups, backend=backend)

    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_double_backward_is_refused():
    q, k, v = (t.requires_grad_(True) for t in make_qkv(1, 1, 4, 4, 3))
    groups = torch.tensor([0, 0, 1, -1])
    out = block_attention(q, k, v, groups, groups, backend="cpu")
    (grad_q,) = torch.autograd.grad(out.sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="_block_attention_backward|not implemented"):
        grad_q.sum().backward()


@pytest.mark.parametrize("op_name, device", [
    ("block_attention", "cpu"),
    ("block_attention_triton", TRITON_DEVICE),
    pytest.param("block_attention", "cuda", marks=pytest.mark.needs_cuda),
])
def test_opcheck(op_name, device):
    block_attention(*make_qkv(1, 1, 3, 3, 2), torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long),
                    backend="cpu")  # loads _C
    from pyiqa_fast.ops.block_attention import ops  # noqa: F401  (defines the Triton ops)

    dtype = torch.float32 if "triton" in op_name else torch.float64
    q, k, v = (t.requires_grad_(True) for t in make_qkv(2, 2, 11, 9, 16, dtype=dtype, device=device))
    groups_q = torch.tensor([0, 1, -1, 1, 0, 2, 2, 0, 1, 1, 0], device=device)
    groups_k = torch.tensor([[0, 1, -1, 1, 0, 2, 2, 0, 1], [1, 1, 1, 0, -1, 0, 0, 2, 2]], device=device)
    op = getattr(torch.ops.pyiqa_fast, op_name).default
    torch.library.opcheck(op, (q, k, v, groups_q, groups_k, 0.25))


@pytest.mark.parametrize("backend", ALL)
def test_torch_compile_fullgraph(backend):
    device = DEVICE_OF[backend]
    dtype = torch.float32
    groups = partition_groups("vertical", grid=(4, 4)).to(device)

    def step(fn):
        q, k, v = (t.requires_grad_(True) for t in make_qkv(2, 2, 17, 17, 16, dtype=dtype, device=device, seed=12))
        out = fn(q, k, v)
        out.square().sum().backward()
        return out.detach(), q.grad, k.grad, v.grad

    def attention(q, k, v):
        return block_attention(q, k, v, groups, groups, backend=backend)

    compiled = torch.compile(attention, fullgraph=True, backend="aot_eager" if backend == "triton" else "inductor")
    for got, expected in zip(step(compiled), step(attention), strict=True):
        assert_close(got, expected, atol=1e-6, rtol=1e-5, what=f"compiled {backend}")


def test_torch_compile_no_recompile_across_batches_and_layouts():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(lambda q, k, v, g: block_attention(q, k, v, g, g, backend="cpu"), fullgraph=True,
                             dynamic=True)
    for batch, layout in [(2, "vertical"), (3, "horizontal"), (5, "grid2x2"), (4, "vertical")]:
        groups = partition_groups(layout, grid=(4, 4))
        q, k, v = make_qkv(batch, 1, 17, 17, 8, dtype=torch.float32)
        assert_close(compiled(q, k, v, groups), block_attention(q, k, v, groups, groups, backend="reference"),
                     atol=1e-6, rtol=1e-5, what=f"{layout} B={batch}")
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs == 1, f"expected one graph for every batch size and layout, got {graphs}"


def test_autocast_casts_to_the_autocast_dtype():
    groups = partition_groups("vertical", grid=(2, 2))
    q, k, v = make_qkv(1, 1, 5, 5, 8, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block_attention(q, k, v, groups, groups, backend="cpu")
    assert out.dtype == torch.bfloat16
    expected = block_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), groups, groups, backend="cpu")
    assert torch.equal(out, expected)


# ---- errors ---------------------------------------------------------------------------------------

G = partition_groups("vertical", grid=(2, 2))  # 5 tokens


@pytest.mark.parametrize("call, error, fragments", [
    (lambda q, k, v: block_attention(q[0], k, v, G, G), ValueError, ["q", "4 dimensions", "(1, 5, 4)"]),
    (lambda q, k, v: block_attention(q, k.float(), v, G, G), TypeError, ["k", "float64", "float32"]),
    (lambda q, k, v: block_attention(q.long(), k, v, G, G), TypeError, ["q", "floating", "int64"]),
    (lambda q, k, v: block_attention(q, k[:1], v, G, G), ValueError, ["k", "batch, heads and head_dim"]),
    (lambda q, k, v: block_attention(q, k, v[..., :3], G, G), ValueError, ["v", "shape of k", "(2, 1, 5, 3)"]),
    (lambda q, k, v: block_attention(q, k, v.to("meta"), G, G), ValueError, ["v", "device", "meta"]),
    (lambda q, k, v: block_attention(q, k, v, G.float(), G), TypeError, ["q_groups", "integer", "float32"]),
    (lambda q, k, v: block_attention(q, k, v, G, G[:4]), ValueError, ["k_groups", "(5,) or (B, 5)", "(4,)"]),
    (lambda q, k, v: block_attention(q, k, v, G.expand(3, 5), G), ValueError, ["q_groups", "B = 2", "(3, 5)"]),
    (lambda q, k, v: block_attention(q, k, v, G.to("meta"), G), ValueError, ["q_groups", "device", "meta"]),
    (lambda q, k, v: block_attention(q, k, v, G, [0, 1]), TypeError, ["k_groups", "torch.Tensor", "list"]),
    (lambda q, k, v: block_attention(q, k, v, G, G, scale=float("inf")), ValueError, ["scale", "finite", "inf"]),
    (lambda q, k, v: block_attention(q, k, v, G, G, scale="1"), TypeError, ["scale", "str"]),
    (lambda q, k, v: block_attention(q.float(), k.float(), v.float(), G, G, scale=1e300), ValueError,
     ["scale", "finite in float32", "float32 inputs", "1e+300"]),
    (lambda q, k, v: block_attention(q.half(), k.half(), v.half(), G, G, scale=-1e39), ValueError,
     ["scale", "finite in float32", "float16 inputs", "-1e+39"]),
    (lambda q, k, v: block_attention(*(t.to("meta") for t in (q, k, v)), G.to("meta"), G.to("meta")),
     BackendUnavailableError, ["block_attention(backend='auto'): no backend", "meta"]),
    (lambda q, k, v: block_attention(q, k, v, G, G, backend="fast"), ValueError, ["backend", "'fast'"]),
])
def test_validation_errors(call, error, fragments):
    q, k, v = make_qkv(2, 1, 5, 5, 4)
    with pytest.raises(error) as info:
        call(q, k, v)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_large_scale_is_fine_in_float64():
    q, k, v = make_qkv(1, 1, 5, 5, 4)
    out = block_attention(q, k, v, G, G, scale=1e300, backend="reference")  # float64: 1e300 is finite
    assert out.shape == q.shape


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_explicit_backends_refuse_with_reasons():
    q, k, v = make_qkv(1, 1, 5, 5, 4)
    with pytest.raises(BackendUnavailableError) as info:
        block_attention(q, k, v, G, G, backend="cuda")
    assert "block_attention(backend='cuda'): cannot run" in str(info.value)
    assert "supports head_dim in (32, 64, 128), got 4" in str(info.value)
    assert "runs on cuda tensors, got a cpu tensor" in str(info.value)
    with pytest.raises(BackendUnavailableError, match="interpreter computes bfloat16 wrongly"):
        block_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), G, G, backend="triton")
    with pytest.raises(BackendUnavailableError, match="supports dtypes float16, bfloat16, float32, got float64"):
        block_attention(q, k, v, G, G, backend="triton")


def test_auto_picks_cpu_for_cpu_tensors():
    assert BACKENDS.resolve("auto", torch.device("cpu"), torch.float32, needs_backward=True, head_dim=64).name == "cpu"


@pytest.mark.parametrize("args, fragment", [
    (lambda q, k, v: (q[0], k, v, G, G, 1.0), "q must have 4 dimension(s), got shape [1, 5, 4]"),
    (lambda q, k, v: (q, k.float(), v, G, G, 1.0), "k must have the dtype of q (Double), got Float"),
    (lambda q, k, v: (q, k[..., :3], v, G, G, 1.0), "k must have q's batch, heads and head_dim"),
    (lambda q, k, v: (q, k, v, G.float(), G, 1.0), "q_groups must be an integer tensor of group ids, got Float"),
    (lambda q, k, v: (q, k, v, G[:3], G, 1.0), "q_groups must have 5 entries per row"),
    (lambda q, k, v: (q, k, v, G, G.expand(3, 5), 1.0), "k_groups of shape (B, N) must have B = 2 rows"),
    (lambda q, k, v: (q, k, v, G, G, float("nan")), "scale must be finite, got nan"),
])
def test_cpp_op_errors(args, fragment):
    q, k, v = make_qkv(2, 1, 5, 5, 4)
    block_attention(q, k, v, G, G, backend="cpu")  # loads _C
    escaped = fragment
    for ch in "()[]":
        escaped = escaped.replace(ch, "\\" + ch)
    with pytest.raises(RuntimeError, match=escaped):
        torch.ops.pyiqa_fast.block_attention(*args(q, k, v))


def test_cpp_backward_op_errors():
    q, k, v = make_qkv(2, 1, 5, 5, 4)
    out, lse = torch.ops.pyiqa_fast.block_attention(q, k, v, G, G, 0.5)
    with pytest.raises(RuntimeError, match=r"grad_out must have the shape of q"):
        torch.ops.pyiqa_fast._block_attention_backward(out[:1], q, k, v, out, lse, G, G, 0.5)
    with pytest.raises(RuntimeError, match=r"lse must have shape \(B, H, Nq\)"):
        torch.ops.pyiqa_fast._block_attention_backward(out, q, k, v, out, lse[..., :2], G, G, 0.5)
