"""torch.library registrations of ``dsm_pool``.

- ``pyiqa_fast::dsm_pool`` and ``pyiqa_fast::_dsm_pool_backward`` (C++, CPU and CUDA kernels
  in ``_C``): fake kernels, autograd (the forward's backward calls the private op) and autocast
  (fp32) registered here. Autograd is registered from Python (STYLE.md's default): the tensors
  are images, so the wrapper's few microseconds are noise next to the kernel.
- ``pyiqa_fast::dsm_pool_triton`` and ``pyiqa_fast::_dsm_pool_backward_triton``: the Triton
  launchers as ``custom_op`` s (they work under the Triton interpreter, where ``triton_op`` does
  not), with the same fakes and autograd.

The backward ops are first-order only: differentiating them raises (the second derivative of
|x| is 0 almost everywhere, but nothing here needs it).
"""

from __future__ import annotations

import torch
from torch import Tensor

_CPP_OP = "pyiqa_fast::dsm_pool"
_CPP_BACKWARD = "pyiqa_fast::_dsm_pool_backward"
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _fake(ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> Tensor:
    batch, _, height, width = ref.shape
    if ceil_mode:
        height, width = height + pool - 1, width + pool - 1
    dtype = torch.float32 if ref.dtype == torch.uint8 else ref.dtype
    return ref.new_empty((batch, 1, height // pool, width // pool), dtype=dtype)


def _fake_backward(grad: Tensor, ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> tuple[Tensor, Tensor]:
    return ref.new_empty(ref.shape), ref.new_empty(ref.shape)  # contiguous, as the kernels


def _setup_context(ctx, inputs, output) -> None:
    ref, dist, pool, ceil_mode = inputs
    ctx.save_for_backward(ref, dist)
    ctx.pool, ctx.ceil_mode = pool, ceil_mode


def _make_backward(backward_op):
    def backward(ctx, grad: Tensor):
        ref, dist = ctx.saved_tensors
        need_ref, need_dist = ctx.needs_input_grad[:2]
        if not (need_ref or need_dist):
            return None, None, None, None
        grad_ref, grad_dist = backward_op(grad, ref, dist, ctx.pool, ctx.ceil_mode)
        return (grad_ref if need_ref else None), (grad_dist if need_dist else None), None, None

    return backward


def _setup_nothing(ctx, inputs, output) -> None:
    pass


def _make_no_double_backward(name: str):
    def backward(ctx, grad_ref: Tensor, grad_dist: Tensor):
        raise RuntimeError(f"{name}: double backward is not supported (differentiate dsm_pool once)")

    return backward


@torch.library.custom_op("pyiqa_fast::dsm_pool_triton", mutates_args=())
def dsm_pool_triton(ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> Tensor:
    """Triton path of ``dsm_pool``. Checks what the C++ op checks in C++."""
    from triton_kernels.dsm_pool import dsm_pool_fwd

    _check("dsm_pool_triton", ref, dist, pool, ceil_mode)
    return dsm_pool_fwd(ref, dist, pool, ceil_mode)


@torch.library.custom_op("pyiqa_fast::_dsm_pool_backward_triton", mutates_args=())
def dsm_pool_backward_triton(
    grad: Tensor, ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool
) -> tuple[Tensor, Tensor]:
    """Triton path of ``_dsm_pool_backward``: (∂/∂ref, ∂/∂dist), contiguous."""
    from triton_kernels.dsm_pool import dsm_pool_bwd

    op = "_dsm_pool_backward_triton"
    _check(op, ref, dist, pool, ceil_mode)
    if ref.dtype not in _FLOATS:
        raise TypeError(f"{op}: uint8 inputs have no gradient")
    batch, _, height, width = ref.shape
    expected = (batch, 1, -(-height // pool), -(-width // pool))
    if tuple(grad.shape) != expected:
        raise ValueError(f"{op}: grad must have shape {expected}, got {tuple(grad.shape)}")
    if grad.dtype != ref.dtype or grad.device != ref.device:
        raise TypeError(f"{op}: grad must have ref's dtype and device ({ref.dtype}, {ref.device}), got "
                        f"{grad.dtype}, {grad.device}")
    return dsm_pool_bwd(grad, ref, dist, pool, ceil_mode)


def _check(op: str, ref: Tensor, dist: Tensor, pool: int, ceil_mode: bool) -> None:
    if ref.dim() != 4 or ref.shape[1] != 3:
        raise ValueError(f"{op}: ref must have shape (B, 3, H, W), got {tuple(ref.shape)}")
    if dist.shape != ref.shape:
        raise ValueError(f"{op}: dist must have the shape of ref {tuple(ref.shape)}, got {tuple(dist.shape)}")
    if ref.dtype not in (torch.uint8, *_FLOATS) or dist.dtype != ref.dtype:
        raise TypeError(f"{op}: ref and dist must share one dtype of uint8, float16, bfloat16, float32, "
                        f"float64, got {ref.dtype} and {dist.dtype}")
    if dist.device != ref.device:
        raise ValueError(f"{op}: dist must be on ref's device ({ref.device}), got {dist.device}")
    if pool < 1:
        raise ValueError(f"{op}: pool must be >= 1, got {pool}")
    if not ceil_mode:
        for name, size in (("H", ref.shape[2]), ("W", ref.shape[3])):
            if size % pool:
                raise ValueError(f"{op}: {name} = {size} is not divisible by pool = {pool}; pass ceil_mode=True "
                                 "to pool the partial cells over their real pixel count")


dsm_pool_triton.register_fake(_fake)
dsm_pool_backward_triton.register_fake(_fake_backward)
dsm_pool_triton.register_autograd(
    _make_backward(torch.ops.pyiqa_fast._dsm_pool_backward_triton), setup_context=_setup_context
)
dsm_pool_backward_triton.register_autograd(
    _make_no_double_backward("_dsm_pool_backward_triton"), setup_context=_setup_nothing
)
torch.library.register_autocast("pyiqa_fast::dsm_pool_triton", "cuda", torch.float32)


_cpp_op_registered = False


def register_cpp_op() -> None:
    """Fake kernels, autograd and autocast of the C++ ops; a no-op until ``_C`` has defined them.

    Called when this module is imported (also by torch, through ``set_python_module``) and by
    ``_native.load_native`` right after ``_C`` loads, so the import order does not matter.
    """
    global _cpp_op_registered
    if _cpp_op_registered:
        return
    try:
        torch.ops.pyiqa_fast.dsm_pool.default  # noqa: B018
        torch.ops.pyiqa_fast._dsm_pool_backward.default  # noqa: B018
    except (AttributeError, RuntimeError):
        return
    torch.library.register_fake(_CPP_OP)(_fake)
    torch.library.register_fake(_CPP_BACKWARD)(_fake_backward)
    torch.library.register_autograd(
        _CPP_OP, _make_backward(torch.ops.pyiqa_fast._dsm_pool_backward), setup_context=_setup_context
    )
    torch.library.register_autograd(
        _CPP_BACKWARD, _make_no_double_backward("_dsm_pool_backward"), setup_context=_setup_nothing
    )
    for device_type in ("cpu", "cuda"):
        torch.library.register_autocast(_CPP_OP, device_type, torch.float32)
    _cpp_op_registered = True


register_cpp_op()
