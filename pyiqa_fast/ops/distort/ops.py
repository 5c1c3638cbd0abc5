"""torch.library registrations of ``pyiqa_fast::distort`` (C++ CPU kernel in ``_C``) and of the
custom op ``pyiqa_fast::distort_triton`` (the Triton launchers through the shared GPU schedule;
a custom op so that ``torch.compile`` sees one opaque call, and so that it runs under the Triton
interpreter).

The op is forward-only (DISTORTIONS.md §6: codecs, impulses and fills have no useful gradient),
so only the fake kernel is registered; the public function refuses inputs that require grad.
"""

from __future__ import annotations

import torch
from torch import Tensor

_CPP_OP = "pyiqa_fast::distort"
_registered = False


def _fake(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
          preset: int, crop: bool, compat: bool) -> Tensor:
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)  # contiguous, as the kernel


_LIB = torch.library.Library("pyiqa_fast", "IMPL")  # noqa: TOR901  (the CUDA kernel below)


def _cuda_kernel(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
                 preset: int, crop: bool, compat: bool) -> Tensor:
    """The CUDA kernel of ``pyiqa_fast::distort``: the GPU schedule over ``_distort_cuda_group``."""
    from pyiqa_fast.ops.distort.impl.cuda import run_schedule

    return run_schedule(x, types, values, seeds, aux, rows, cols, preset, crop, compat)


def register_cpp_op() -> None:
    """The fake kernel of the C++ op; a no-op until ``_C`` has defined it.

    Called when this module is imported (also by torch, through ``set_python_module``) and by
    ``_native.load_native`` right after ``_C`` loads, so the import order does not matter.
    """
    global _registered
    if _registered:
        return
    try:
        torch.ops.pyiqa_fast.distort.default  # noqa: B018
    except (AttributeError, RuntimeError):
        return
    torch.library.register_fake(_CPP_OP)(_fake)
    try:
        with_cuda = torch._C._dispatch_has_kernel_for_dispatch_key("pyiqa_fast::_distort_cuda_group", "CUDA")
    except RuntimeError:  # an extension built before the op existed
        with_cuda = False
    if with_cuda:
        _LIB.impl("distort", _cuda_kernel, "CUDA")
    _registered = True


register_cpp_op()


@torch.library.custom_op("pyiqa_fast::distort_triton", mutates_args=())
def distort_triton(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
                   preset: int, crop: bool, compat: bool) -> Tensor:
    from pyiqa_fast.ops.distort.impl.triton import run_schedule

    return run_schedule(x, types, values, seeds, aux, rows, cols, preset, crop, compat)


distort_triton.register_fake(_fake)
