"""torch.library registrations of ``block_attention``.

- ``pyiqa_fast::block_attention`` and ``pyiqa_fast::_block_attention_backward`` (C++, CPU and
  CUDA kernels in ``_C``): fake kernels registered here; autograd is in C++
  (``csrc/binding/block_attention_autograd.cpp``), like margin_ranking_loss's. Autocast is applied
  by the public function (cast to the autocast dtype, as SDPA does), not by a kernel policy.
- ``pyiqa_fast::block_attention_triton`` (+ its backward op): the Triton launchers as
  ``custom_op``\\s (they work under the Triton interpreter, where ``triton_op`` does not).
"""

from __future__ import annotations

import torch
from torch import Tensor

_CPP_OP = "pyiqa_fast::block_attention"
_CPP_BACKWARD_OP = "pyiqa_fast::_block_attention_backward"


def _lse_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _fake(q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float):
    return q.new_empty(q.shape), q.new_empty(q.shape[:3], dtype=_lse_dtype(q.dtype))


def _fake_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                   q_groups: Tensor, k_groups: Tensor, scale: float):
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


@torch.library.custom_op("pyiqa_fast::block_attention_triton", mutates_args=())
def block_attention_triton(
    q: Tensor, k: Tensor, v: Tensor, q_groups: Tensor, k_groups: Tensor, scale: float
) -> tuple[Tensor, Tensor]:
    """Triton forward: returns (out, lse). Inputs validated by the public function."""
    from triton_kernels.block_attention import block_attention_fwd

    return block_attention_fwd(q, k, v, q_groups, k_groups, scale)


@torch.library.custom_op("pyiqa_fast::block_attention_triton_backward", mutates_args=())
def block_attention_triton_backward(
    grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
    q_groups: Tensor, k_groups: Tensor, scale: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Triton backward: returns (grad_q, grad_k, grad_v), recomputing P from lse."""
    from triton_kernels.block_attention import block_attention_bwd

    return block_attention_bwd(grad_out, q, k, v, out, lse, q_groups, k_groups, scale)


def _setup_context(ctx, inputs, output) -> None:
    q, k, v, q_groups, k_groups, scale = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, q_groups, k_groups)
    ctx.scale = scale
    ctx.mark_non_differentiable(lse)


def _backward(ctx, grad_out: Tensor, _grad_lse: Tensor | None):
    q, k, v, out, lse, q_groups, k_groups = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    grad_q, grad_k, grad_v = block_attention_triton_backward(
        grad_out.contiguous(), q, k, v, out, lse, q_groups, k_groups, ctx.scale
    )
    return grad_q, grad_k, grad_v, None, None, None


def _no_double_backward(ctx, *grads):
    raise RuntimeError("block_attention: double backward is not supported")


block_attention_triton.register_fake(_fake)
block_attention_triton.register_autograd(_backward, setup_context=_setup_context)
block_attention_triton_backward.register_fake(_fake_backward)
block_attention_triton_backward.register_autograd(_no_double_backward, setup_context=lambda ctx, inputs, output: None)


_cpp_ops_registered = False


def register_cpp_op() -> None:
    """Fake kernels of the C++ ops; a no-op until ``_C`` has defined them (see margin's ops.py)."""
    global _cpp_ops_registered
    if _cpp_ops_registered:
        return
    try:
        torch.ops.pyiqa_fast.block_attention.default  # noqa: B018
    except (AttributeError, RuntimeError):
        return
    torch.library.register_fake(_CPP_OP)(_fake)
    torch.library.register_fake(_CPP_BACKWARD_OP)(_fake_backward)
    _cpp_ops_registered = True


register_cpp_op()
