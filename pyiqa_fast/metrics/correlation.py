"""SRCC, PLCC, KRCC and RMSE between predicted and ground-truth scores, computed as SciPy does.

All four take ``pred`` and ``target`` as torch tensors, numpy arrays or sequences of real numbers
with the samples along the last dim; leading dims are a batch (e.g. ``(repeats, n)`` gives
``(repeats,)``) and broadcast between the two. Computation is in float64 on the input's device
(CPU for numpy input or MPS), detached: these are evaluation statistics, not losses.

Conventions (METHODS.md §1.2):

* ``srcc``: Spearman's rho with average ranks for ties = ``scipy.stats.spearmanr``.
* ``plcc``: Pearson's r = ``scipy.stats.pearsonr``; ``fit="logistic4"`` first maps ``pred``
  through the 4-parameter logistic fitted to ``target`` (LoDa), ``fit="none"`` (default) is raw
  (DEIQT, DP-IQA).
* ``krcc``: Kendall's tau-b with ties = ``scipy.stats.kendalltau`` (O(n log² n), exact integer
  pair counts).
* ``rmse``: ``sqrt(mean((pred - target)²))``, optionally after the same logistic fit.

A constant ``pred`` or ``target`` row gives NaN and a :class:`ConstantInputWarning`, as SciPy.
NaN inputs raise by default (``nan_policy="raise"``); ``"omit"`` drops the NaN pairs of each
row, ``"propagate"`` returns NaN for the rows that contain one.

Return type: for a tensor input (either argument) a float64 tensor of the batch shape on that
tensor's device (0-d for 1-D input); otherwise ``np.float64`` for 1-D input and a float64
``np.ndarray`` for batched input.
"""

from __future__ import annotations

from typing import Any

import torch

from pyiqa_fast.metrics._common import FITS, check_choice, run, warn_constant
from pyiqa_fast.metrics.logistic import fitted_rows

# ---------------------------------------------------------------------------------------------
# Kernels on (B, n) float64 rows without NaN; each returns (B,).


def _constant(t: torch.Tensor) -> torch.Tensor:
    return (t == t[:, :1]).all(-1)


def _pearson(x: torch.Tensor, y: torch.Tensor, fn_name: str = "plcc") -> torch.Tensor:
    # scipy.stats.pearsonr: centre, scale by max |.| before the norm (no premature overflow), dot.
    const = _constant(x) | _constant(y)
    if bool(const.any()):
        warn_constant(fn_name, int(const.sum()))
    xm = x - x.mean(-1, keepdim=True)
    ym = y - y.mean(-1, keepdim=True)
    xmax = xm.abs().amax(-1, keepdim=True)
    ymax = ym.abs().amax(-1, keepdim=True)
    normx = xmax * torch.linalg.vector_norm(xm / xmax, dim=-1, keepdim=True)
    normy = ymax * torch.linalg.vector_norm(ym / ymax, dim=-1, keepdim=True)
    r = ((xm / normx) * (ym / normy)).sum(-1).clamp(-1.0, 1.0)
    return torch.where(const, torch.full_like(r, float("nan")), r)


def _run_starts(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For sorted rows: ``(positions, index of the first element of each element's run of equals)``."""
    n = s.shape[-1]
    pos = torch.arange(n, device=s.device).expand_as(s)
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    return pos, torch.where(new, pos, torch.zeros_like(pos)).cummax(-1).values


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks, ties get the mean of their ranks (``scipy.stats.rankdata(method="average")``)."""
    s, order = torch.sort(x, dim=-1, stable=True)
    n = s.shape[-1]
    pos, start = _run_starts(s)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:, :-1] = s[:, 1:] != s[:, :-1]
    end = torch.where(last, pos, torch.full_like(pos, n - 1)).flip(-1).cummin(-1).values.flip(-1)
    avg = (start + end).to(torch.float64) / 2.0 + 1.0
    return torch.empty_like(x).scatter_(-1, order, avg)


def _tied_pairs(pos: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Sum over runs of t(t-1)/2 = sum over elements of their offset in the run (int64)."""
    return (pos - start).sum(-1)


def _inversions(v: torch.Tensor) -> torch.Tensor:
    """Pairs i < j with v[i] > v[j] (strictly), per row: bottom-up merge counting, O(n log² n)."""
    b, n = v.shape
    size = 1 << max(n - 1, 0).bit_length()
    cur = torch.cat([v, v.new_full((b, size - n), float("inf"))], dim=-1)  # +inf tail adds no inversion
    total = torch.zeros(b, dtype=torch.int64, device=v.device)
    width = 1
    while width < size:
        blocks = cur.reshape(b, size // (2 * width), 2, width)
        left = blocks[:, :, 0, :].contiguous()
        right = blocks[:, :, 1, :].contiguous()
        left_le_right = torch.searchsorted(left, right, right=True)
        total += (width - left_le_right).sum((-1, -2))
        # Merge the sorted halves by scattering to their ranks (equal values: left first).
        offset = torch.arange(width, device=v.device)
        merged = torch.empty_like(blocks.reshape(b, size // (2 * width), 2 * width))
        merged.scatter_(-1, offset + torch.searchsorted(right, left, right=False), left)
        merged.scatter_(-1, offset + left_le_right, right)
        cur = merged.reshape(b, size)
        width *= 2
    return total


def _kendall_tau_b(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # scipy.stats.kendalltau(variant="b"): lexsort by (x, y), count discordant pairs as inversions
    # of y, ties in x, in y and joint; tau = (tot - xtie - ytie + ntie - 2 dis) / sqrt(..)sqrt(..).
    n = x.shape[-1]
    order = torch.sort(y, dim=-1, stable=True).indices
    x1, y1 = x.gather(-1, order), y.gather(-1, order)
    order = torch.sort(x1, dim=-1, stable=True).indices
    xs, ys = x1.gather(-1, order), y1.gather(-1, order)
    pos, xstart = _run_starts(xs)
    xtie = _tied_pairs(pos, xstart)
    _, ystart = _run_starts(torch.sort(y, dim=-1).values)
    ytie = _tied_pairs(pos, ystart)
    new = torch.ones_like(xs, dtype=torch.bool)
    new[:, 1:] = (xs[:, 1:] != xs[:, :-1]) | (ys[:, 1:] != ys[:, :-1])
    jstart = torch.where(new, pos, torch.zeros_like(pos)).cummax(-1).values
    ntie = _tied_pairs(pos, jstart)
    dis = _inversions(ys)
    tot = n * (n - 1) // 2
    con_minus_dis = tot - xtie - ytie + ntie - 2 * dis
    undefined = (xtie == tot) | (ytie == tot)
    if bool(undefined.any()):
        warn_constant("krcc", int(undefined.sum()))
    denom_x = (tot - xtie).to(torch.float64)
    denom_y = (tot - ytie).to(torch.float64)
    tau = (con_minus_dis.to(torch.float64) / denom_x.sqrt() / denom_y.sqrt()).clamp(-1.0, 1.0)
    return torch.where(undefined, torch.full_like(tau, float("nan")), tau)


def _spearman(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return _pearson(_average_ranks(x), _average_ranks(y), fn_name="srcc")


def _rmse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).square().mean(-1).sqrt()


# ---------------------------------------------------------------------------------------------
# Public functions.


def srcc(pred: Any, target: Any, *, nan_policy: str = "raise"):
    """Spearman rank-order correlation (SRCC), as ``scipy.stats.spearmanr(pred, target).statistic``.

    Ties get average ranks; the result is Pearson's r of the ranks.

    Args:
        pred: Predicted scores, ``Tensor[..., n]`` / ``ndarray[..., n]`` / sequence, any real dtype
            (computed in float64). Leading dims are a batch and broadcast against ``target``'s.
        target: Ground-truth scores (MOS/DMOS), ``[..., n]``, same ``n``.
        nan_policy: ``"raise"`` (default), ``"omit"`` (drop pairs with a NaN, per row) or
            ``"propagate"`` (NaN for rows containing one).

    Returns:
        float64 of the broadcast batch shape, in [-1, 1] or NaN for a constant row: a tensor on the
        input tensor's device, else ``np.float64`` (1-D input) / ``np.ndarray``.

    Raises:
        ValueError: Length mismatch, leading dims that do not broadcast, n < 2, NaN under
            ``nan_policy="raise"``, an unknown ``nan_policy``, 0-d input, tensors on two devices.
        TypeError: Non-real input (complex, strings, objects).

    Warns:
        ConstantInputWarning: A row of ``pred`` or ``target`` is constant (result NaN).

    Example:
        >>> float(srcc([1, 2, 3, 4], [1, 3, 2, 4]))
        0.8
    """
    return run("srcc", _spearman, pred, target, nan_policy=nan_policy, min_n=2, min_n_reason="a correlation")


def krcc(pred: Any, target: Any, *, nan_policy: str = "raise"):
    """Kendall rank correlation tau-b (KRCC), as ``scipy.stats.kendalltau(pred, target).statistic``.

    ``tau_b = (P - Q) / sqrt((P + Q + T_x) (P + Q + T_y))`` with P/Q the concordant/discordant pairs
    and T_x/T_y the pairs tied only in pred/target; counts are exact integers.

    Args:
        pred: Predicted scores, ``[..., n]`` (see :func:`srcc`).
        target: Ground-truth scores, ``[..., n]``.
        nan_policy: ``"raise"`` (default), ``"omit"`` or ``"propagate"``.

    Returns:
        float64 of the batch shape, in [-1, 1] or NaN when all pairs of a row are tied in pred or in
        target (i.e. a constant row); types as :func:`srcc`.

    Raises:
        ValueError, TypeError: As :func:`srcc`.

    Warns:
        ConstantInputWarning: A row is constant (result NaN; SciPy returns NaN silently here).

    Example:
        >>> round(float(krcc([1, 2, 3, 4], [1, 3, 2, 4])), 6)
        0.666667
    """
    return run("krcc", _kendall_tau_b, pred, target, nan_policy=nan_policy, min_n=2,
               min_n_reason="a correlation")


def plcc(pred: Any, target: Any, *, fit: str = "none", nan_policy: str = "raise"):
    """Pearson linear correlation (PLCC), as ``scipy.stats.pearsonr(pred, target).statistic``.

    Args:
        pred: Predicted scores, ``[..., n]`` (see :func:`srcc`).
        target: Ground-truth scores, ``[..., n]``.
        fit: ``"none"`` (default; raw predictions, as DEIQT and DP-IQA) or ``"logistic4"`` (first
            map pred through the 4-parameter logistic fitted to target per row, as LoDa; see
            :mod:`pyiqa_fast.metrics.logistic` for the model, initial guess and solvers; needs
            n >= 4).
        nan_policy: ``"raise"`` (default), ``"omit"`` or ``"propagate"``.

    Returns:
        float64 of the batch shape, in [-1, 1] or NaN for a constant row; types as :func:`srcc`.

    Raises:
        ValueError, TypeError: As :func:`srcc`; also an unknown ``fit``, n < 4 with ``"logistic4"``.
        RuntimeError: The logistic fit did not converge.

    Warns:
        ConstantInputWarning: A row of ``pred`` or ``target`` is constant (result NaN, no fit).

    Example:
        >>> round(float(plcc([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])), 12)
        1.0
    """
    check_choice("fit", fit, FITS)
    if fit == "none":
        return run("plcc", _pearson, pred, target, nan_policy=nan_policy, min_n=2, min_n_reason="a correlation")
    return run("plcc", _fitted(_pearson, "plcc"), pred, target, nan_policy=nan_policy, min_n=4,
               min_n_reason="the 4-parameter logistic fit")


def rmse(pred: Any, target: Any, *, fit: str = "none", nan_policy: str = "raise"):
    """Root-mean-square error ``sqrt(mean((pred - target)**2))`` (no epsilon).

    Args:
        pred: Predicted scores, ``[..., n]`` (see :func:`srcc`).
        target: Ground-truth scores, ``[..., n]``.
        fit: ``"none"`` (default) or ``"logistic4"`` (RMSE of the fitted mapping, in target's units).
        nan_policy: ``"raise"`` (default), ``"omit"`` or ``"propagate"``.

    Returns:
        float64 >= 0 of the batch shape; types as :func:`srcc`. With ``"logistic4"`` a constant row
        gives NaN and a :class:`ConstantInputWarning` (nothing to fit).

    Raises:
        ValueError, TypeError: As :func:`plcc` (n >= 1 without a fit).
        RuntimeError: The logistic fit did not converge.

    Example:
        >>> float(rmse([1.0, 2.0], [1.0, 4.0]))
        1.4142135623730951
    """
    check_choice("fit", fit, FITS)
    if fit == "none":
        return run("rmse", _rmse, pred, target, nan_policy=nan_policy, min_n=1, min_n_reason="a mean")
    return run("rmse", _fitted(_rmse, "rmse"), pred, target, nan_policy=nan_policy, min_n=4,
               min_n_reason="the 4-parameter logistic fit")


def _fitted(kernel, fn_name: str):
    # A constant row has no logistic to fit: NaN with the warning (for RMSE too).
    def apply(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        const = _constant(x) | _constant(y)
        out = torch.full((x.shape[0],), float("nan"), dtype=torch.float64, device=x.device)
        if bool(const.any()):
            warn_constant(fn_name, int(const.sum()))
        ok = ~const
        if bool(ok.any()):
            out[ok] = kernel(fitted_rows(x[ok], y[ok]), y[ok])
        return out

    return apply
