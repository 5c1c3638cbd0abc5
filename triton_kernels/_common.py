"""Launch helpers shared by the Triton kernels."""

from __future__ import annotations

import os

import torch
import triton.language as tl


def interpreter_enabled() -> bool:
    """Whether kernels run in the Triton CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b


def compute_dtype(dtype: torch.dtype):
    """Triton compute type: float64 for float64 inputs, float32 otherwise (16-bit upcast)."""
    return tl.float64 if dtype == torch.float64 else tl.float32
