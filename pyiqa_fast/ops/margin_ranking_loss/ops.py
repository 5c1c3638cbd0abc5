"""torch.library registrations of ``margin_ranking_loss``.

Both compiled paths return ``(loss, grad)`` with grad = ∂loss/∂pred from the same pass (the
Liger-Kernel pattern, PERFORMANCE.md §2.4), so the backward is ``grad_output * grad``: no
private backward op, no second pass. Double backward is that product's own derivative (zero
through ``grad``, which is piecewise constant in ``pred``).

- ``pyiqa_fast::margin_ranking_loss`` (C++, CPU and CUDA kernels in ``_C``): fake kernel and
  autocast (fp32: a loss) registered here; its autograd is in C++
  (``csrc/binding/margin_ranking_loss_autograd.cpp``): from Python it tripled the forward time.
- ``pyiqa_fast::margin_ranking_loss_triton``: the Triton launcher as a ``custom_op`` (works
  under the Triton interpreter, where ``triton_op`` does not).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_CPP_OP = "pyiqa_fast::margin_ranking_loss"


def _fake(pred: Tensor, target: Tensor, margin_scale: float, margin: float | None, reduction: str):
    return pred.new_empty(()), pred.new_empty(pred.shape)


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])


def _backward(ctx, grad_loss: Tensor, _grad_of_grad: Tensor | None):
    (grad,) = ctx.saved_tensors
    return grad_loss * grad, None, None, None, None


@torch.library.custom_op("pyiqa_fast::margin_ranking_loss_triton", mutates_args=())
def margin_ranking_loss_triton(
    pred: Tensor, target: Tensor, margin_scale: float, margin: float | None, reduction: str
) -> tuple[Tensor, Tensor]:
    """Triton path: returns (loss, ∂loss/∂pred). Checks what the C++ op checks in C++."""
    from triton_kernels.margin_ranking_loss import margin_ranking_loss_fwd

    op = "margin_ranking_loss_triton"
    if pred.dim() != 1 or target.shape != pred.shape:
        raise ValueError(f"{op}: pred and target must be 1-D of one length, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if target.dtype != pred.dtype or not pred.is_floating_point():
        raise TypeError(f"{op}: pred and target must share one floating dtype, got {pred.dtype} and {target.dtype}")
    if target.device != pred.device:
        raise ValueError(f"{op}: target must be on pred's device ({pred.device}), got {target.device}")
    if pred.shape[0] < 2:
        raise ValueError(f"{op}: the batch size n must be >= 2, got n = {pred.shape[0]}")
    if not (math.isfinite(margin_scale) and margin_scale >= 0):
        raise ValueError(f"{op}: margin_scale must be a finite number >= 0, got {margin_scale}")
    if margin is not None and not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"{op}: margin must be a finite number >= 0, got {margin}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'mean' or 'sum', got {reduction!r}")

    return margin_ranking_loss_fwd(pred, target, margin_scale, margin, reduction == "mean")


margin_ranking_loss_triton.register_fake(_fake)
margin_ranking_loss_triton.register_autograd(_backward, setup_context=_setup_context)


_cpp_op_registered = False


def register_cpp_op() -> None:
    """Fake kernel and autocast policy of the C++ op; a no-op until ``_C`` has defined it.

    Called when this module is imported (also by torch, through ``set_python_module``) and by
    ``_native.load_native`` right after ``_C`` loads, so the import order does not matter.
    """
    global _cpp_op_registered
    if _cpp_op_registered:
        return
    try:
        torch.ops.pyiqa_fast.margin_ranking_loss.default  # noqa: B018
    except (AttributeError, RuntimeError):
        return
    torch.library.register_fake(_CPP_OP)(_fake)
    for device_type in ("cpu", "cuda"):
        torch.library.register_autocast(_CPP_OP, device_type, torch.float32)
    _cpp_op_registered = True


register_cpp_op()
torch.library.register_autocast("pyiqa_fast::margin_ranking_loss_triton", "cuda", torch.float32)
