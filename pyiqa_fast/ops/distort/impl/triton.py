"""Triton backend of ``distort``: the shared GPU schedule (``schedule.py``) with the launchers of
``triton_kernels/distort``, as the custom op ``pyiqa_fast::distort_triton`` (``ops.py``)."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.ops.distort.impl import schedule
from pyiqa_fast.ops.distort.impl.gpu_limits import unsupported


def launchers() -> dict:
    from triton_kernels.distort import LAUNCHERS

    return LAUNCHERS


def run_schedule(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
                 preset: int, crop: bool, compat: bool) -> Tensor:
    return schedule.run(x, types, values, seeds, aux, rows, cols, preset, crop, compat, launchers())


def distort(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
            preset: int, crop: bool, compat: bool) -> Tensor:
    from pyiqa_fast.ops.distort import ops  # noqa: F401  (defines the custom op)

    return torch.ops.pyiqa_fast.distort_triton(x, types, values, seeds, aux, rows, cols, preset, crop, compat)


def _limits(dtype: torch.dtype | None = None, device: torch.device | None = None, **inputs) -> list[str]:
    reasons = []
    if device is not None and device.type == "cpu" and dtype == torch.bfloat16:
        reasons.append("the Triton interpreter computes bfloat16 wrongly; bfloat16 runs on the GPU only")
    ok, _ = _native.has_triton()
    return reasons + (unsupported("Triton", frozenset(launchers()), **inputs) if ok else [])


BACKEND = Backend(
    name="triton",
    run=distort,
    devices=("cuda", "cpu"),
    dtypes=(torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=False,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 0.0), torch.float64: (1e-10, 0.0)},
    availability=_native.has_triton,
    limits=_limits,
    interpreter_only_on_cpu=True,
)
