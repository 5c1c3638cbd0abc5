"""Public API of the pairwise margin ranking loss: ``margin_ranking_loss`` and ``MarginRankingLoss``."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from pyiqa_fast import _native
from pyiqa_fast._backends import OpBackends
from pyiqa_fast.ops.margin_ranking_loss.impl import cpu, cuda, reference, triton

OP = "margin_ranking_loss"
REDUCTIONS = ("mean", "sum")

BACKENDS = OpBackends(
    op=OP,
    backends={b.name: b for b in (reference.BACKEND, cpu.BACKEND, cuda.BACKEND, triton.BACKEND)},
    # The interpreter is for tests: auto never picks triton on CPU tensors.
    auto_order={"cuda": ("cuda", "triton", "reference"), "cpu": ("cpu", "reference")},
)


def _check_options(margin_scale: float, margin: float | None, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{OP}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduction!r}")
    if torch.compiler.is_compiling():
        return  # the options may be symbolic floats; the ops check their values again
    if isinstance(margin_scale, bool) or not isinstance(margin_scale, numbers.Real):
        raise TypeError(f"{OP}: margin_scale must be a real number, got {type(margin_scale).__name__}")
    if not (math.isfinite(margin_scale) and margin_scale >= 0):
        raise ValueError(f"{OP}: margin_scale must be a finite number >= 0, got {margin_scale}")
    if margin is not None:
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
            raise TypeError(f"{OP}: margin must be None or a real number, got {type(margin).__name__}")
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"{OP}: margin must be a finite number >= 0, got {margin}")


def _compute_dtype(pred: Tensor, target: Tensor) -> torch.dtype:
    """The dtype the loss is computed in: pred's and target's common floating dtype, at least
    float32 for integer targets, so that the ranking sign compares the targets themselves.

    An integer target promoted to float16/bfloat16 overflows above 65504 (fp16, giving inf and a
    NaN loss) and ties distinct values above 2048 (fp16) or 256 (bf16). float32 holds every integer
    of magnitude <= 2**24, float64 every one <= 2**53; integer targets beyond that are refused
    (on CUDA, under torch.compile and on meta tensors by a device-side assertion: no host
    synchronisation).
    """
    dtype = torch.promote_types(pred.dtype, target.dtype)
    if target.is_floating_point():
        return dtype  # a floating target is exact in the promoted dtype, which is at least as wide
    dtype = torch.promote_types(dtype, torch.float32)
    exact = int(2 / torch.finfo(dtype).eps)  # 2**(mantissa bits + 1): every integer up to it is exact
    if torch.iinfo(target.dtype).max <= exact:
        return dtype
    outside = (target > exact) | (target < -exact)
    message = (f"{OP}: integer targets must have magnitude <= 2**{exact.bit_length() - 1} to be compared exactly in "
               f"{str(dtype).removeprefix('torch.')} (the loss's dtype for {str(pred.dtype).removeprefix('torch.')} "
               f"pred); pass a float64 target for larger ones")
    if target.device.type == "cpu" and not torch.compiler.is_compiling():
        if bool(outside.any()):
            i = int(outside.nonzero()[0])
            raise ValueError(f"{message}, got target[{i}] = {int(target[i])}")
    else:
        torch._assert_async(outside.logical_not().all(), message)
    return dtype


def _check_representable(dtype: torch.dtype, margin_scale: float, margin: float | None) -> None:
    """Options that overflow to inf in the compute dtype make every backend's loss NaN or inf."""
    if torch.compiler.is_compiling():
        return  # the options may be symbolic floats
    largest = torch.finfo(dtype).max
    for name, value in (("margin_scale", margin_scale), ("margin", margin)):
        if value is not None and value > largest:
            raise ValueError(f"{OP}: {name} must be <= {largest:g} (the largest {str(dtype).removeprefix('torch.')}, "
                             f"the loss's dtype), got {value:g}")


def _as_vector(name: str, t: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{OP}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() == 1:
        return t
    if t.dim() == 2 and t.shape[1] == 1:
        return t.reshape(-1)
    raise ValueError(f"{OP}: {name} must have shape (n,) or (n, 1), got {tuple(t.shape)}")


def margin_ranking_loss(
    pred: Tensor,
    target: Tensor,
    *,
    margin_scale: float = 0.25,
    margin: float | None = None,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    """DP-IQA's pairwise margin ranking loss (eq. 10; METHODS.md §5.2).

    ``L = 2/(n(n−1)) · Σ_{i<j} max(0, −sign(y_i − y_j)·(p_i − p_j) + m)`` with
    ``m = margin_scale · std(target)`` (unbiased, computed in the promoted dtype, no gradient).
    Pairs with equal targets add ``m`` each and no gradient; a hinge argument of exactly 0
    counts as active, as ``torch.clamp`` differentiated when DP-IQA was published. Identical
    to the published double loop (``RomGai/DP-IQA`` ``magrin.py``) without its O(n²) autograd
    graph, except on torch builds whose ``clamp`` has subgradient 0 at its bound
    (pytorch/pytorch#184574; torch 2.14 does): there the loop drops exact-kink pairs from the
    gradient and this op keeps them.

    Args:
        pred: Tensor[n] or Tensor[n, 1] of predicted scores; float16, bfloat16, float32 or
            float64; any strides.
        target: Tensor[n] or Tensor[n, 1] of ground-truth scores (MOS) on ``pred``'s device;
            floating or integer. Both are promoted to their common floating dtype, at least
            float32 when ``target`` is integer (so that the targets are compared exactly:
            integers of magnitude <= 2**24 in float32, <= 2**53 in float64; larger ones are
            refused).
        margin_scale: λ of the margin λ·std(target); DP-IQA uses 0.25 (λ ∈ [0, 1]).
        margin: A fixed margin ≥ 0 used instead of λ·std(target), if given. Both must be
            finite in the promoted dtype.
        reduction: ``"mean"`` (the paper: divide by n(n−1)/2) or ``"sum"``.
        backend: ``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``. ``auto``
            takes ``cuda`` → ``triton`` → ``reference`` for CUDA inputs and ``cpu`` →
            ``reference`` for CPU inputs. An explicit backend never falls back.

    Returns:
        Tensor[] (a scalar) of the promoted dtype (float32 for float16/bfloat16 ``pred`` with an
        integer ``target``), differentiable with respect to ``pred``.

    Raises:
        TypeError: ``pred``/``target`` is not a tensor, ``pred`` is not floating point, or an
            option has the wrong type.
        ValueError: Shapes differ or are not (n,)/(n, 1), n < 2, devices differ, an option
            is out of range or overflows the promoted dtype, or an integer target is too large
            to compare exactly (on CUDA: a device-side assertion).
        BackendUnavailableError: The requested backend cannot run these inputs.

    Notes:
        ``cpu`` is exact in O(n log n) time and O(n) memory (PERFORMANCE.md §7); ``cuda`` and
        ``triton`` are fused O(n²) brute force computing loss and gradient in one pass with
        O(n) memory; ``reference`` builds the n×n pair matrix. All four are deterministic.
        The compiled backends round the margin as ``margin_scale * target.std()`` rounds in the
        input dtype, but their std is a two-pass float64 one, which can differ from
        ``torch.std``'s in the last bit (often for float64): a pair sitting exactly on the kink
        may then be decided the other way. Pass ``margin=`` where that matters. NaN or ±inf in
        ``pred`` or ``target`` makes the compiled backends' loss and every gradient entry NaN
        (the reference follows IEEE arithmetic). fp16/bf16 are computed in fp32; under
        ``torch.autocast`` the op runs in fp32.

    Example:
        >>> pred = torch.tensor([0.1, 0.7, 0.4], requires_grad=True)
        >>> target = torch.tensor([1.0, 3.0, 2.0])
        >>> loss = margin_ranking_loss(pred, target)
        >>> loss.backward()
    """
    pred = _as_vector("pred", pred)
    target = _as_vector("target", target)
    _check_options(margin_scale, margin, reduction)
    if not pred.is_floating_point():
        raise TypeError(f"{OP}: pred must be a floating-point tensor, got dtype {pred.dtype}")
    if target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"{OP}: target must be a real floating-point or integer tensor, got dtype {target.dtype}")
    if target.shape[0] != pred.shape[0]:
        raise ValueError(f"{OP}: target must have n = {pred.shape[0]} elements like pred, got {target.shape[0]}")
    if target.device != pred.device:
        raise ValueError(f"{OP}: target must be on pred's device ({pred.device}), got {target.device}")
    n = pred.shape[0]
    if n < 2:
        raise ValueError(f"{OP}: the batch size n must be >= 2 (the loss averages over n(n-1)/2 pairs), got n = {n}")
    dtype = _compute_dtype(pred, target)
    _check_representable(dtype, margin_scale, margin)
    if pred.dtype != dtype:
        pred = pred.to(dtype)
    if target.dtype != dtype:
        target = target.to(dtype)

    chosen = BACKENDS.resolve(
        backend, pred.device, dtype, needs_backward=pred.requires_grad and torch.is_grad_enabled(), n=n
    )
    if chosen.name == "reference" and backend == "auto":
        _native.warn_reference_fallback(OP)
    return chosen.run(pred, target, margin_scale, margin, reduction)


class MarginRankingLoss(nn.Module):
    """Module form of :func:`margin_ranking_loss` (DP-IQA's dynamic margin ranking loss).

    Args:
        margin_scale: λ of the margin λ·std(target) (default 0.25, as DP-IQA).
        margin: A fixed margin instead of λ·std(target).
        reduction: ``"mean"`` or ``"sum"``.
        backend: Backend for every call (see :func:`margin_ranking_loss`).

    Shape:
        pred, target: (n,) or (n, 1); output: scalar.

    Example:
        >>> criterion = MarginRankingLoss()
        >>> loss = criterion(torch.randn(16, requires_grad=True), torch.rand(16))
    """

    def __init__(
        self,
        margin_scale: float = 0.25,
        margin: float | None = None,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__()
        _check_options(margin_scale, margin, reduction)
        self.margin_scale = margin_scale
        self.margin = margin
        self.reduction = reduction
        self.backend = backend

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return margin_ranking_loss(
            pred,
            target,
            margin_scale=self.margin_scale,
            margin=self.margin,
            reduction=self.reduction,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        margin = f"margin={self.margin}" if self.margin is not None else f"margin_scale={self.margin_scale}"
        return f"{margin}, reduction={self.reduction!r}, backend={self.backend!r}"
