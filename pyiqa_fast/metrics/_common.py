"""Input handling shared by the correlation metrics: conversion, validation, NaN policy, batching."""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

NAN_POLICIES = ("raise", "omit", "propagate")
FITS = ("none", "logistic4")


class ConstantInputWarning(RuntimeWarning):
    """An input is constant along the samples, so the correlation is undefined (result NaN).

    The counterpart of ``scipy.stats.ConstantInputWarning``; defined here so that the metrics
    need no SciPy at runtime.
    """


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package directory (the user's call)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


def warn_constant(fn_name: str, count: int) -> None:
    warnings.warn(
        ConstantInputWarning(
            f"{fn_name}: {count} row(s) have a constant pred or target; the correlation coefficient is "
            "not defined and is returned as NaN (as scipy.stats)"
        ),
        stacklevel=_caller_stacklevel(),
    )


def _to_tensor(value: Any, name: str) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_torch)``; numpy arrays, lists and tuples become CPU tensors."""
    if isinstance(value, torch.Tensor):
        tensor, was_torch = value.detach(), True
        if tensor.is_complex() or tensor.dtype not in (
            torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool,
            torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
        ):
            raise TypeError(f"{name} must hold real numbers; got a tensor of dtype {tensor.dtype}")
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a torch.Tensor, numpy array or sequence of numbers; got "
                            f"{type(value).__name__}") from exc
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; got a {type(value).__name__} of dtype {array.dtype}")
        tensor, was_torch = torch.from_numpy(np.array(array, dtype=np.float64, copy=True)), False
    if tensor.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dim (samples along the last); got a 0-d value")
    return tensor, was_torch


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")


def prepare(pred: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...], torch.device | None]:
    """Float64 ``(x, y)`` of shape ``(B, n)``, the batch shape, and the output device (None: numpy)."""
    x, x_torch = _to_tensor(pred, "pred")
    y, y_torch = _to_tensor(target, "target")
    if x_torch and y_torch and x.device != y.device:
        raise ValueError(f"pred and target must be on the same device; got pred on {x.device} and target on "
                         f"{y.device}")
    out_device = x.device if x_torch else (y.device if y_torch else None)
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"pred and target must have the same length along the last dim (the samples); got "
            f"pred.shape={tuple(x.shape)} (n={x.shape[-1]}) and target.shape={tuple(y.shape)} (n={y.shape[-1]})"
        )
    try:
        batch = tuple(torch.broadcast_shapes(x.shape[:-1], y.shape[:-1]))
    except RuntimeError as exc:
        raise ValueError(f"the leading (batch) dims of pred and target must broadcast; got "
                         f"pred.shape={tuple(x.shape)} and target.shape={tuple(y.shape)}") from exc
    # float64 everywhere; MPS has no float64, so compute on the CPU there.
    work = out_device if out_device is not None and out_device.type != "mps" else torch.device("cpu")
    n = x.shape[-1]
    rows = math.prod(batch)
    x = x.to(device=work, dtype=torch.float64).expand(*batch, n).reshape(rows, n)
    y = y.to(device=work, dtype=torch.float64).expand(*batch, n).reshape(rows, n)
    return x, y, batch, out_device


def finish(result: torch.Tensor, batch: tuple[int, ...], out_device: torch.device | None):
    """Shape ``batch``: a float64 tensor on the input's device, or numpy (``np.float64`` for 1-D input)."""
    result = result.reshape(batch)
    if out_device is not None:
        return result.to(out_device)
    array = result.cpu().numpy()
    return np.float64(array) if array.ndim == 0 else array


def run(
    fn_name: str,
    kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    pred: Any,
    target: Any,
    *,
    nan_policy: str,
    min_n: int,
    min_n_reason: str,
):
    """Validate, apply ``kernel`` to ``(B, n)`` float64 rows (returns ``(B,)``), and format the result."""
    check_choice("nan_policy", nan_policy, NAN_POLICIES)
    x, y, batch, out_device = prepare(pred, target)
    n = x.shape[-1]
    if n < min_n:
        raise ValueError(f"{fn_name} needs at least {min_n} samples ({min_n_reason}) along the last dim of "
                         f"pred and target; got n={n}")
    nan = torch.isnan(x) | torch.isnan(y)
    if not bool(nan.any()):
        return finish(kernel(x, y), batch, out_device)
    if nan_policy == "raise":
        which = [name for name, t in (("pred", x), ("target", y)) if bool(torch.isnan(t).any())]
        raise ValueError(
            f"{' and '.join(which)} contain(s) NaN ({int(nan.sum())} of {nan.numel()} sample pairs); expected "
            "no NaN with nan_policy='raise'. Pass nan_policy='omit' to drop those pairs or 'propagate' to get NaN"
        )
    dirty = nan.any(-1)
    result = torch.full((x.shape[0],), float("nan"), dtype=torch.float64, device=x.device)
    clean = ~dirty
    if bool(clean.any()):
        result[clean] = kernel(x[clean], y[clean])
    if nan_policy == "omit":
        for row in torch.nonzero(dirty).flatten().tolist():
            keep = ~nan[row]
            kept = int(keep.sum())
            if kept < min_n:
                index = np.unravel_index(row, batch) if batch else ()
                raise ValueError(
                    f"{fn_name} needs at least {min_n} samples ({min_n_reason}); after omitting NaN pairs, "
                    f"row {tuple(int(i) for i in index)} has n={kept}"
                )
            result[row] = kernel(x[row, keep][None], y[row, keep][None])[0]
    return finish(result, batch, out_device)
