"""margin_ranking_loss: every backend against the reference and the published DP-IQA loop."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyiqa_fast import BackendUnavailableError, set_default_backend
from pyiqa_fast.ops import MarginRankingLoss, margin_ranking_loss
from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS
from pyiqa_fast.ops.margin_ranking_loss.impl.reference import margin_ranking_loss as reference_loss
from tests._utils import assert_close, assert_low_precision_close
from tests.references.dpiqa_margin import clamp_subgradient_one, dpiqa_margin_ranking_loss

TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: the interpreter
DEVICE_OF = {"reference": "cpu", "cpu": "cpu", "triton": TRITON_DEVICE, "cuda": "cuda"}
KERNELS = ["cpu", "triton", pytest.param("cuda", marks=pytest.mark.needs_cuda)]
ALL = ["reference", *KERNELS]


def make_inputs(n, dtype=torch.float64, levels=None, device="cpu", seed=0):
    """Predictions ~ N(0, 1); targets continuous, or integers in [0, levels) (many ties)."""
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, generator=g, dtype=torch.float64)
    if levels is None:
        target = torch.rand(n, generator=g, dtype=torch.float64) * 4
    else:
        target = torch.randint(0, levels, (n,), generator=g).double()
    return pred.to(device, dtype), target.to(device, dtype)


def loss_and_grad(backend, pred, target, **options):
    pred = pred.to(DEVICE_OF[backend]).detach().requires_grad_(True)
    loss = margin_ranking_loss(pred, target.to(DEVICE_OF[backend]), backend=backend, **options)
    (grad,) = torch.autograd.grad(loss, pred)
    return loss.detach().cpu(), grad.cpu()


def loop_loss_and_grad(pred, target, margin=None, clamp=torch.clamp):
    pred = pred.detach().clone().requires_grad_(True)
    margin = None if margin is None else torch.tensor(margin, dtype=pred.dtype)
    loss = dpiqa_margin_ranking_loss(pred, target, margin, clamp=clamp)
    (grad,) = torch.autograd.grad(loss, pred)
    return loss.detach(), grad


# ---- parity with the published loop (float64, 1e-12 relative) ------------------------------

@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("n, levels", [(2, None), (3, 2), (7, None), (31, 3), (64, 5), (97, None)])
def test_matches_dpiqa_loop(backend, n, levels):
    pred, target = make_inputs(n, levels=levels, seed=n)
    expected_loss, expected_grad = loop_loss_and_grad(pred, target)
    loss, grad = loss_and_grad(backend, pred, target)
    assert_close(loss, expected_loss, atol=1e-14, rtol=1e-12, what=f"{backend} loss")
    assert_close(grad, expected_grad, atol=1e-14, rtol=1e-12, what=f"{backend} grad")


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_kinks_match_loop(backend, dtype):
    # Integer predictions with an integer margin put many hinge arguments at exactly 0, where the
    # published code's clamp counted the pair as active (tests/references/dpiqa_margin.py).
    g = torch.Generator().manual_seed(1)
    pred = torch.randint(0, 6, (40,), generator=g).to(dtype)
    target = torch.randint(0, 4, (40,), generator=g).to(dtype)
    diffs = pred[:, None] - pred[None, :]
    assert (diffs == 2).any(), "the case must contain exact kinks"
    expected_loss, expected_grad = loop_loss_and_grad(pred, target, margin=2.0, clamp=clamp_subgradient_one)
    loss, grad = loss_and_grad(backend, pred, target, margin=2.0)
    verbatim_loss, _ = loop_loss_and_grad(pred, target, margin=2.0)  # the value does not depend on the rule
    assert_close(loss, verbatim_loss, atol=1e-6, rtol=1e-6, what="loss at kinks")
    assert_close(loss, expected_loss, atol=1e-6, rtol=1e-6, what="loss at kinks")
    # A pair decided the other way would move an entry by c = 2/(n(n-1)) ≈ 1.3e-3.
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    assert_close(grad, expected_grad, atol=tol, rtol=tol, what="grad at kinks")


@pytest.mark.parametrize("backend", ALL)
def test_golden_four_elements_with_ties(backend):
    # Hand-computed: pairs (0,1) tie → m; the other five are active with p_low − p_high = 2,3,1,2,1.
    pred = torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    target = torch.tensor([0.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    m = 0.25 * math.sqrt(11 / 12)
    loss, grad = loss_and_grad(backend, pred, target)
    assert loss.item() == pytest.approx(1.5 + m, rel=1e-14)
    expected_grad = torch.tensor([2.0, 2.0, -1.0, -3.0], dtype=torch.float64) / 6
    assert_close(grad, expected_grad, atol=1e-15, rtol=0, what=backend)
    # The higher target's prediction leads by exactly the margin: argument 0, still active.
    kink_pred, kink_target = torch.tensor([0.0, 2.0], dtype=torch.float64), torch.tensor([0.0, 1.0])
    loss, grad = loss_and_grad(backend, kink_pred, kink_target.double(), margin=2.0)
    assert loss.item() == 0.0 and grad.tolist() == [1.0, -1.0]


# ---- random shapes through hypothesis ---------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 400),
    levels=st.sampled_from([None, 1, 2, 7, 50]),
    dtype=st.sampled_from([torch.float64, torch.float32]),
    reduction=st.sampled_from(["mean", "sum"]),
    backend=st.sampled_from(["cpu", "triton"]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_reference(n, levels, dtype, reduction, backend, seed):
    pred, target = make_inputs(n, dtype=dtype, levels=levels, seed=seed)
    # The reference in float64 on the same (rounded) inputs is the truth.
    expected_loss, expected_grad = loss_and_grad("reference", pred.double(), target.double(), reduction=reduction)
    loss, grad = loss_and_grad(backend, pred, target, reduction=reduction)
    atol, rtol = BACKENDS.backends[backend].tolerances[dtype]  # the capability record's
    assert_close(loss, expected_loss, atol=atol, rtol=rtol, what=f"{backend} {dtype} loss")
    assert_close(grad, expected_grad, atol=atol, rtol=rtol, what=f"{backend} {dtype} grad")


@pytest.mark.parametrize("n", [4096, 4099])  # a power of two and a prime
@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_large_n_matches_reference(backend, n):
    pred, target = make_inputs(n, levels=20, seed=3)
    expected_loss, expected_grad = loss_and_grad("reference", pred, target)
    loss, grad = loss_and_grad(backend, pred, target)
    assert_close(loss, expected_loss, atol=1e-14, rtol=1e-12, what="loss")
    assert_close(grad, expected_grad, atol=1e-16, rtol=1e-12, what="grad")


def test_triton_multi_tile_launch():
    # Small tiles force several programs and several j-tiles (incl. a ragged last one).
    from triton_kernels.margin_ranking_loss import margin_ranking_loss_fwd

    pred, target = make_inputs(101, levels=6, seed=4)
    expected_loss, expected_grad = loss_and_grad("reference", pred, target)
    for mean in (True, False):
        loss, grad = margin_ranking_loss_fwd(pred.to(TRITON_DEVICE), target.to(TRITON_DEVICE), 0.25, None, mean,
                                             block_sizes=(16, 32))
        scale = 1.0 if mean else 101 * 100 / 2
        assert_close(loss.cpu(), expected_loss * scale, atol=1e-12, rtol=1e-12, what="loss")
        assert_close(grad.cpu(), expected_grad * scale, atol=1e-14, rtol=1e-12, what="grad")


# ---- 16-bit: the flash-attention error rule -------------------------------------------------

@pytest.mark.parametrize("backend", [
    "cpu",
    "triton",
    pytest.param("cuda", marks=pytest.mark.needs_cuda),
])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(backend, dtype):
    if backend == "triton" and dtype == torch.bfloat16 and TRITON_DEVICE == "cpu":
        pytest.skip("the Triton interpreter computes bfloat16 wrongly (STYLE.md §7); runs on the GPU machine")
    pred, target = make_inputs(256, dtype=dtype, levels=None, seed=5)
    # One margin for all, representable in `dtype`: a margin rounded differently flips the pairs
    # within an ulp of the kink, each moving a gradient entry by c = 2/(n(n-1)).
    margin = (0.25 * target.double().std()).to(dtype).item()
    exact_loss, exact_grad = loss_and_grad("reference", pred.double(), target.double(), margin=margin)
    low_loss, low_grad = loss_and_grad("reference", pred, target, margin=margin)
    loss, grad = loss_and_grad(backend, pred, target, margin=margin)
    assert loss.dtype == grad.dtype == dtype
    assert_low_precision_close(loss, low_loss, exact_loss, what="loss", atol=1e-5)
    assert_low_precision_close(grad, low_grad, exact_grad, what="grad", atol=1e-5)


# ---- layouts, properties ----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ALL)
def test_non_contiguous_and_column_inputs(backend):
    base_pred, base_target = make_inputs(150, levels=8, seed=6)
    pred = base_pred[::2]  # stride 2
    target = torch.stack([base_target, base_target], dim=1)[::2, :1]  # (n, 1), non-contiguous
    assert not pred.is_contiguous() and not target.is_contiguous()
    expected_loss, expected_grad = loss_and_grad("reference", pred.contiguous(), target.reshape(-1).contiguous())
    loss, grad = loss_and_grad(backend, pred, target)
    assert_close(loss, expected_loss, atol=1e-14, rtol=1e-12, what="loss")
    assert_close(grad, expected_grad, atol=1e-16, rtol=1e-12, what="grad")


@pytest.mark.parametrize("backend", ALL)
def test_permutation_invariance(backend):
    pred, target = make_inputs(77, levels=5, seed=7)
    perm = torch.randperm(77)
    loss, grad = loss_and_grad(backend, pred, target)
    loss_p, grad_p = loss_and_grad(backend, pred[perm], target[perm])
    assert_close(loss_p, loss, atol=1e-14, rtol=1e-12, what="loss")
    assert_close(grad_p, grad[perm], atol=1e-16, rtol=1e-12, what="grad")


@pytest.mark.parametrize("backend", KERNELS)
def test_deterministic(backend):
    pred, target = make_inputs(500, dtype=torch.float32, levels=10, seed=8)
    first = loss_and_grad(backend, pred, target)
    second = loss_and_grad(backend, pred, target)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


@pytest.mark.parametrize("other", ["triton", pytest.param("cuda", marks=pytest.mark.needs_cuda)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_kernels_agree_bitwise_on_the_gradient(dtype, other):
    # grad = c·(D − C): the same counts, the same double c, the same rounding path to dtype.
    pred, target = make_inputs(300, dtype=dtype, levels=12, seed=14)
    grads = [loss_and_grad(backend, pred, target, margin=0.375)[1] for backend in ("cpu", other)]
    assert torch.equal(grads[0], grads[1])


@pytest.mark.parametrize("backend", ALL)
def test_all_targets_tied(backend):
    pred = torch.randn(9, dtype=torch.float64)
    target = torch.full((9,), 3.0, dtype=torch.float64)
    loss, grad = loss_and_grad(backend, pred, target, margin=0.5)  # every pair adds the margin
    assert loss.item() == pytest.approx(0.5) and not grad.any()
    loss, grad = loss_and_grad(backend, pred, target)  # std 0 → margin 0: every pair adds 0
    assert loss.item() == 0.0 and not grad.any()


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_margin_scale_other_than_a_power_of_two(backend, dtype):
    # λ = 0.3 is inexact in binary: the kernels must round λ·std as the reference does in dtype.
    pred, target = make_inputs(64, dtype=dtype, levels=7, seed=15)
    exact_loss, exact_grad = loss_and_grad("reference", pred.double(), target.double(), margin_scale=0.3)
    low_loss, low_grad = loss_and_grad("reference", pred, target, margin_scale=0.3)
    loss, grad = loss_and_grad(backend, pred, target, margin_scale=0.3)
    if dtype == torch.float32:
        assert_close(loss, exact_loss, atol=1e-5, rtol=1e-5, what="loss")
        assert_close(grad, low_grad, atol=1e-6, rtol=1e-6, what="grad")
    else:
        assert_low_precision_close(loss, low_loss, exact_loss, what="loss", atol=1e-5)


# The Triton interpreter runs the kernel's inf − inf in numpy, which warns; the result is NaN'd.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", KERNELS)
@pytest.mark.parametrize("where", ["pred", "target"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_non_finite_inputs_give_nan_loss_and_gradient(backend, where, value):
    pred, target = make_inputs(10, seed=16)
    (pred if where == "pred" else target)[4] = value
    loss, grad = loss_and_grad(backend, pred, target)
    assert loss.isnan() and grad.isnan().all()


def test_cpu_parallel_merges_match_the_serial_path():
    # n ≥ 16384 runs the merges of one level on several threads: same result, bitwise.
    pred, target = make_inputs(20001, dtype=torch.float32, levels=None, seed=17)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = loss_and_grad("cpu", pred, target)
        torch.set_num_threads(2)
        parallel = loss_and_grad("cpu", pred, target)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial[0], parallel[0]) and torch.equal(serial[1], parallel[1])


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_signed_zeros_are_ties(backend, dtype):
    # -0 and +0 compare equal: one group of tied targets, equal predictions (the CPU radix sort
    # orders bit patterns, so it must canonicalise them).
    pred = torch.tensor([0.0, -0.0, 0.5, -0.0, 0.0, -0.25, 1.0], dtype=dtype)
    target = torch.tensor([-0.0, 0.0, 0.0, 1.0, -0.0, -1.0, -0.0], dtype=dtype)
    expected_loss, expected_grad = loop_loss_and_grad(pred.double(), target.double(), margin=0.5,
                                                      clamp=clamp_subgradient_one)
    loss, grad = loss_and_grad(backend, pred, target, margin=0.5)
    assert_close(loss, expected_loss, atol=1e-7, rtol=1e-7, what="loss")
    assert_close(grad, expected_grad, atol=1e-7, rtol=1e-7, what="grad")


@pytest.mark.parametrize("backend", ALL)
def test_nan_propagates_to_loss(backend):
    pred, target = make_inputs(12, seed=9)
    pred[3] = float("nan")
    loss, _ = loss_and_grad(backend, pred, target)
    assert loss.isnan()


def test_integer_targets_are_promoted():
    pred = torch.randn(10, dtype=torch.float32)
    target = torch.randint(0, 5, (10,))
    loss = margin_ranking_loss(pred, target, backend="cpu")
    assert loss.dtype == torch.float32
    assert_close(loss, reference_loss(pred, target.float()), atol=1e-6, rtol=1e-6, what="loss")


LOW_PRECISION_BACKENDS = ["reference", "cpu", "triton", pytest.param("cuda", marks=pytest.mark.needs_cuda)]


@pytest.mark.parametrize("backend", LOW_PRECISION_BACKENDS)
@pytest.mark.parametrize("pred_dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("target_dtype", [torch.int64, torch.int32, torch.float64])
def test_targets_beyond_the_16_bit_range_are_compared_exactly(backend, pred_dtype, target_dtype):
    # 100000 + k overflows float16 (inf, a NaN loss) and ties in bfloat16 (8 significant bits):
    # the targets must be compared in a dtype that holds them, on every backend.
    if backend == "triton" and pred_dtype == torch.bfloat16 and TRITON_DEVICE == "cpu":
        pytest.skip("the Triton interpreter computes bfloat16 wrongly (STYLE.md §7); runs on the GPU machine")
    g = torch.Generator().manual_seed(21)
    pred = torch.randn(24, generator=g).to(pred_dtype)
    target = (100000 + torch.randperm(24, generator=g) * 3 - 30 * (torch.arange(24) % 2)).to(target_dtype)
    loss, grad = loss_and_grad(backend, pred, target)
    expected_loss, expected_grad = loss_and_grad("reference", pred.double(), target.double())
    assert loss.dtype == (torch.float64 if target_dtype == torch.float64 else torch.float32)
    assert torch.isfinite(loss)
    assert_close(loss.double(), expected_loss, atol=1e-3, rtol=1e-5, what=f"{backend} loss")
    # The gradient comes back in pred's dtype: one rounding to it.
    eps = torch.finfo(pred_dtype).eps
    assert_close(grad.double(), expected_grad, atol=eps * 1e-3, rtol=eps, what=f"{backend} grad")


def test_integer_targets_too_large_to_compare_exactly_are_refused():
    pred = torch.randn(4)
    fine = torch.tensor([2**24, -(2**24), 3, 4])  # float32 holds every integer up to 2**24
    assert torch.isfinite(margin_ranking_loss(pred, fine))
    with pytest.raises(ValueError) as info:
        margin_ranking_loss(pred, torch.tensor([1, 2**24 + 1, 3, 4]))
    for fragment in ("magnitude <= 2**24", "exactly in float32", "float32 pred", "float64 target",
                     f"got target[1] = {2**24 + 1}"):
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"
    with pytest.raises(ValueError, match=r"got target\[0\] = -9223372036854775808"):
        margin_ranking_loss(pred, torch.tensor([-(2**63), 2, 3, 4]))  # |int64 min| overflows abs()
    big = torch.tensor([2**40, 2**40 + 1, 3, 4])
    assert_close(margin_ranking_loss(pred.double(), big), reference_loss(pred.double(), big.double()),
                 atol=0, rtol=1e-12, what="float64 pred, int64 target")
    with pytest.raises(ValueError, match=r"magnitude <= 2\*\*53 to be compared exactly in float64"):
        margin_ranking_loss(pred.double(), torch.tensor([2**53 + 1, 2, 3, 4]))


@pytest.mark.parametrize("dtype, options, fragment", [
    (torch.float32, dict(margin=1e300), "margin must be <= 3.40282e+38 (the largest float32"),
    (torch.float16, dict(margin=1e10), "margin must be <= 65504 (the largest float16"),
    (torch.float32, dict(margin_scale=1e300), "margin_scale must be <= 3.40282e+38"),
])
def test_options_that_overflow_the_loss_dtype_are_refused(dtype, options, fragment):
    pred, target = make_inputs(8, dtype=dtype)
    with pytest.raises(ValueError) as info:
        margin_ranking_loss(pred, target, **options)
    assert fragment in str(info.value), f"{fragment!r} not in {info.value}"
    assert torch.isfinite(margin_ranking_loss(pred.double(), target.double(), **options))  # fits float64


def test_autocast_runs_in_fp32():
    pred, target = make_inputs(32, dtype=torch.float32, seed=10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.ops.pyiqa_fast.margin_ranking_loss(pred.bfloat16(), target.bfloat16(), 0.25, None, "mean")[0]
    assert loss.dtype == torch.float32


# ---- gradients --------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ALL)
def test_gradcheck(backend):
    # Continuous predictions keep every hinge argument away from its kink by far more than eps.
    pred, target = make_inputs(11, levels=4, seed=11)
    pred = pred.to(DEVICE_OF[backend]).requires_grad_(True)
    target = target.to(DEVICE_OF[backend])
    assert torch.autograd.gradcheck(lambda p: margin_ranking_loss(p, target, backend=backend), (pred,))
    assert torch.autograd.gradgradcheck(lambda p: margin_ranking_loss(p, target, backend=backend), (pred,))


# ---- operator contract ------------------------------------------------------------------------

def _op_samples(device):
    for n, levels, margin, reduction in [(2, None, None, "mean"), (33, 4, None, "sum"), (64, None, 0.5, "mean")]:
        for dtype in (torch.float32, torch.float64):
            pred, target = make_inputs(n, dtype=dtype, levels=levels, device=device, seed=n)
            yield (pred.requires_grad_(True), target, 0.25, margin, reduction)


@pytest.mark.parametrize("op_name, device", [
    ("margin_ranking_loss", "cpu"),
    ("margin_ranking_loss_triton", TRITON_DEVICE),
    pytest.param("margin_ranking_loss", "cuda", marks=pytest.mark.needs_cuda),
])
def test_opcheck(op_name, device):
    margin_ranking_loss(*make_inputs(2), backend="cpu")  # loads _C and the registrations
    from pyiqa_fast.ops.margin_ranking_loss import ops  # noqa: F401  (defines the Triton op)

    op = getattr(torch.ops.pyiqa_fast, op_name).default
    for args in _op_samples(device):
        torch.library.opcheck(op, args)


@pytest.mark.parametrize("backend", ALL)
def test_torch_compile_fullgraph(backend):
    torch._dynamo.reset()
    pred, target = make_inputs(50, dtype=torch.float32, levels=6, seed=12)
    pred, target = pred.to(DEVICE_OF[backend]), target.to(DEVICE_OF[backend])

    def step(fn):
        p = pred.clone().requires_grad_(True)
        loss = fn(p, target)
        loss.backward()
        return loss.detach(), p.grad

    def loss_fn(p, t):
        return margin_ranking_loss(p, t, backend=backend)

    # The interpreter's kernels are plain Python: inductor cannot codegen them, aot_eager runs them.
    compiled = torch.compile(loss_fn, fullgraph=True, backend="aot_eager" if backend == "triton" else "inductor")
    eager, got = step(loss_fn), step(compiled)
    assert_close(got[0], eager[0], atol=1e-6, rtol=1e-6, what="compiled loss")
    assert_close(got[1], eager[1], atol=1e-7, rtol=1e-6, what="compiled grad")


def test_torch_compile_integer_targets():
    compiled = torch.compile(lambda p, t: margin_ranking_loss(p, t, backend="cpu"), fullgraph=True)
    pred = torch.randn(6, dtype=torch.float16)
    target = torch.tensor([100000, 1, 2, 3, 4, 100001])
    assert_close(compiled(pred, target).double(), reference_loss(pred.double(), target.double()),
                 atol=1e-3, rtol=1e-6, what="compiled loss")
    with pytest.raises(RuntimeError, match=r"magnitude <= 2\*\*24"):  # a device-side assert when compiled
        compiled(pred, torch.tensor([2**30, 1, 2, 3, 4, 5]))


def test_torch_compile_dynamic_and_changing_options():
    torch._dynamo.reset()
    compiled = torch.compile(
        lambda p, t, scale: margin_ranking_loss(p, t, margin_scale=scale, backend="cpu"), fullgraph=True, dynamic=True
    )
    for n, scale in ((30, 0.25), (41, 0.5), (52, 0.3)):
        pred, target = make_inputs(n, dtype=torch.float32, levels=5, seed=n)
        expected = margin_ranking_loss(pred, target, margin_scale=scale, backend="cpu")
        assert_close(compiled(pred, target, scale), expected, atol=1e-6, rtol=1e-6, what=f"n={n}")


# ---- module -----------------------------------------------------------------------------------

def test_module_matches_function():
    pred, target = make_inputs(20, seed=13)
    criterion = MarginRankingLoss(margin_scale=0.5, reduction="sum", backend="cpu")
    assert "margin_scale=0.5" in repr(criterion) and "reduction='sum'" in repr(criterion)
    assert criterion(pred, target).item() == margin_ranking_loss(
        pred, target, margin_scale=0.5, reduction="sum", backend="cpu"
    ).item()
    assert "margin=1.0" in repr(MarginRankingLoss(margin=1.0))


# ---- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, fragments", [
    (lambda p, t: margin_ranking_loss([1.0, 2.0], t), TypeError, ["pred", "torch.Tensor", "list"]),
    (lambda p, t: margin_ranking_loss(p, 3), TypeError, ["target", "torch.Tensor", "int"]),
    (lambda p, t: margin_ranking_loss(p.long(), t), TypeError, ["pred", "floating", "int64"]),
    (lambda p, t: margin_ranking_loss(p, t.bool()), TypeError, ["target", "torch.bool"]),
    (lambda p, t: margin_ranking_loss(p.reshape(2, 4), t), ValueError, ["pred", "(n,) or (n, 1)", "(2, 4)"]),
    (lambda p, t: margin_ranking_loss(p, t[:5]), ValueError, ["target", "n = 8", "got 5"]),
    (lambda p, t: margin_ranking_loss(p[:1], t[:1]), ValueError, ["n must be >= 2", "n = 1"]),
    (lambda p, t: margin_ranking_loss(p, t.to("meta")), ValueError, ["target", "device", "meta"]),
    (lambda p, t: margin_ranking_loss(p, t, margin_scale=-1.0), ValueError, ["margin_scale", ">= 0", "-1.0"]),
    (lambda p, t: margin_ranking_loss(p, t, margin_scale=float("nan")), ValueError, ["margin_scale", "nan"]),
    (lambda p, t: margin_ranking_loss(p, t, margin_scale=True), TypeError, ["margin_scale", "bool"]),
    (lambda p, t: margin_ranking_loss(p, t, margin=float("inf")), ValueError, ["margin", "finite", "inf"]),
    (lambda p, t: margin_ranking_loss(p, t, margin=-0.5), ValueError, ["margin", ">= 0", "-0.5"]),
    (lambda p, t: margin_ranking_loss(p, t, margin="1"), TypeError, ["margin", "str"]),
    (lambda p, t: margin_ranking_loss(p, t, reduction="none"), ValueError, ["reduction", "'mean'", "'none'"]),
    (lambda p, t: margin_ranking_loss(p, t, backend="fast"), ValueError, ["backend", "'auto'", "'fast'"]),
    (lambda p, t: MarginRankingLoss(reduction="avg"), ValueError, ["reduction", "'avg'"]),
])
def test_validation_errors(call, error, fragments):
    pred, target = make_inputs(8)
    with pytest.raises(error) as info:
        call(pred, target)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_explicit_cuda_backend_refuses_cpu_tensors_with_reasons():
    with pytest.raises(BackendUnavailableError) as info:
        margin_ranking_loss(*make_inputs(8), backend="cuda")
    message = str(info.value)
    assert "margin_ranking_loss(backend='cuda'): cannot run" in message
    assert "runs on cuda tensors, got a cpu tensor" in message
    assert "no CUDA device" in message
    assert "use backend='cpu'" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreter case exists only without a GPU")
def test_triton_bf16_refused_under_interpreter():
    with pytest.raises(BackendUnavailableError, match="interpreter computes bfloat16 wrongly"):
        margin_ranking_loss(*make_inputs(8, dtype=torch.bfloat16), backend="triton")


def test_auto_never_picks_the_interpreter_and_honours_the_default():
    pred, target = make_inputs(8)
    device = torch.device("cpu")
    assert BACKENDS.resolve("auto", device, torch.float64, needs_backward=True, n=8).name == "cpu"
    set_default_backend("reference")
    try:
        assert BACKENDS.resolve("auto", device, torch.float64, needs_backward=True, n=8).name == "reference"
        assert BACKENDS.resolve("cpu", device, torch.float64, needs_backward=True, n=8).name == "cpu"
    finally:
        set_default_backend(None)


@pytest.mark.parametrize("args, fragment", [
    (lambda p, t: (p, t[:3], 0.25, None, "mean"), "target must have the length of pred (8), got 3"),
    (lambda p, t: (p, t.float(), 0.25, None, "mean"), "target must have the dtype of pred (Double), got Float"),
    (lambda p, t: (p.long(), t.long(), 0.25, None, "mean"), "pred must be float16, bfloat16, float32 or float64"),
    (lambda p, t: (p[:1], t[:1], 0.25, None, "mean"), "n must be >= 2"),
    (lambda p, t: (p, t, -0.5, None, "mean"), "margin_scale must be a finite number >= 0, got -0.5"),
    (lambda p, t: (p, t, 0.25, None, "none"), "reduction must be 'mean' or 'sum', got 'none'"),
    (lambda p, t: (p, t, 0.25, -1.0, "mean"), "margin must be a finite number >= 0, got -1"),
    (lambda p, t: (p.reshape(2, 4), t, 0.25, None, "mean"), "pred must have 1 dimension(s), got shape [2, 4]"),
])
def test_cpp_op_errors(args, fragment):
    margin_ranking_loss(*make_inputs(2), backend="cpu")  # loads _C
    with pytest.raises(RuntimeError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        torch.ops.pyiqa_fast.margin_ranking_loss(*args(*make_inputs(8)))


def test_triton_op_errors():
    from pyiqa_fast.ops.margin_ranking_loss import ops  # noqa: F401  (defines the Triton op)

    pred, target = make_inputs(8, device=TRITON_DEVICE)
    op = torch.ops.pyiqa_fast.margin_ranking_loss_triton
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'none'"):
        op(pred, target, 0.25, None, "none")
    with pytest.raises(TypeError, match="share one floating dtype"):
        op(pred, target.float(), 0.25, None, "mean")
    with pytest.raises(ValueError, match="n must be >= 2"):
        op(pred[:1], target[:1], 0.25, None, "mean")
    with pytest.raises(ValueError, match="margin must be a finite number >= 0, got -1.0"):
        op(pred, target, 0.25, -1.0, "mean")


# ---- GPU only ---------------------------------------------------------------------------------

@pytest.mark.needs_cuda
@pytest.mark.parametrize("n", [2, 255, 256, 257, 4099, 65536])
def test_cuda_matches_cpu_across_launch_shapes(n):
    # One block (n <= 256), exactly full, one more (finalize kernel), prime, and the 64k target.
    pred, target = make_inputs(n, levels=30, seed=n)
    expected_loss, expected_grad = loss_and_grad("cpu", pred, target)
    loss, grad = loss_and_grad("cuda", pred, target)
    assert_close(loss, expected_loss, atol=1e-14, rtol=1e-12, what="loss")
    assert_close(grad, expected_grad, atol=1e-16, rtol=1e-12, what="grad")


@pytest.mark.needs_cuda
def test_cuda_graph_reduce_overhead():
    pred, target = make_inputs(128, dtype=torch.float32, levels=10, device="cuda")
    compiled = torch.compile(lambda p, t: margin_ranking_loss(p, t, backend="cuda"), mode="reduce-overhead",
                             fullgraph=True)
    for _ in range(3):
        loss = compiled(pred, target)
    assert_close(loss, margin_ranking_loss(pred, target, backend="cuda"), atol=0, rtol=0, what="graph replay")
