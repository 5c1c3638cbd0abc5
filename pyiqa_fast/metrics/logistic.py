"""The 4-parameter logistic mapping fitted before PLCC/RMSE in IQA evaluation (METHODS.md §1.2).

Model and initial guess are LoDa's [CODE NeosXu/LoDa:src/utils/metrics.py], itself the VQEG
recipe::

    f(x; b1, b2, b3, b4) = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))
    p0 = [max(target), min(target), mean(pred), 0.5]

fitted by least squares from ``pred`` (x) to ``target`` (y). Solvers:

* ``"scipy"``: ``scipy.optimize.curve_fit`` (Levenberg–Marquardt, MINPACK ``lmder`` via finite
  differences, ``maxfev=100_000``) — what LoDa runs.
* ``"torch"``: a small Levenberg–Marquardt in float64 on the CPU with the analytic Jacobian and
  Marquardt's diagonal scaling (``lambda`` starts at 1e-3, ×10 on a rejected step, ÷10 on an
  accepted one; stops when the relative cost decrease or the relative step is below 1e-12, at
  most 1000 iterations). Its tolerances are tighter than ``curve_fit``'s defaults
  (``ftol = xtol = 1.49e-8``), so on flat optima the parameters can differ from ``"scipy"`` by
  ~1e-4 relative (torch being closer to the exact minimiser) while the fitted PLCC agrees to
  ~1e-11; it is not bit-identical to ``"scipy"``.
* ``"auto"``: ``"scipy"`` when SciPy is importable, else ``"torch"``.

Both are deterministic (no randomness, CPU float64).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pyiqa_fast.metrics._common import check_choice, prepare

SOLVERS = ("auto", "scipy", "torch")
INITS = ("loda", "pyiqa")
SCIPY_MAXFEV = 100_000
TORCH_MAX_ITER = 1000


def logistic4(x: Any, beta: Sequence[float] | torch.Tensor | np.ndarray):
    """Evaluate ``b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))``.

    Args:
        x: Tensor or array of any shape (real numbers).
        beta: The four parameters ``(b1, b2, b3, b4)``: upper and lower asymptote (for b1 > b2 the
            curve increases), midpoint, and scale (its sign is ignored).

    Returns:
        float64, the shape of ``x``; a tensor for tensor input, else a numpy array.

    Example:
        >>> float(logistic4(np.array([0.5]), [1.0, 0.0, 0.5, 0.1])[0])
        0.5
    """
    was_torch = isinstance(x, torch.Tensor)
    xt = x.detach().to(torch.float64) if was_torch else torch.as_tensor(np.asarray(x, dtype=np.float64))
    b = torch.as_tensor(np.asarray(beta.cpu() if isinstance(beta, torch.Tensor) else beta, dtype=np.float64))
    if b.shape != (4,):
        raise ValueError(f"beta must hold 4 parameters (b1, b2, b3, b4); got shape {tuple(b.shape)}")
    b = b.to(xt.device)
    out = b[1] + (b[0] - b[1]) * torch.sigmoid((xt - b[2]) / b[3].abs())
    return out if was_torch else out.numpy()


def _initial_guess(x: np.ndarray, y: np.ndarray, init: str) -> list[float]:
    scale = 0.5 if init == "loda" else float(np.std(x)) / 4.0
    return [float(np.max(y)), float(np.min(y)), float(np.mean(x)), scale]


def _model_np(x, b1, b2, b3, b4):
    return b2 + np.divide(b1 - b2, 1.0 + np.exp(np.negative(np.divide(x - b3, np.abs(b4)))))


def _fit_scipy(x: np.ndarray, y: np.ndarray, p0: list[float]) -> np.ndarray:
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    with warnings.catch_warnings():
        # The covariance is not used; a singular Jacobian at the optimum only affects it.
        warnings.simplefilter("ignore", OptimizeWarning)
        with np.errstate(over="ignore"):
            popt, _ = curve_fit(_model_np, x, y, p0=p0, maxfev=SCIPY_MAXFEV)
    return np.asarray(popt, dtype=np.float64)


def _fit_torch(x: np.ndarray, y: np.ndarray, p0: list[float]) -> np.ndarray:
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    beta = torch.tensor(p0, dtype=torch.float64)

    def residual_and_jacobian(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = b[3].abs()
        z = (xt - b[2]) / scale
        s = torch.sigmoid(z)
        ds = s * (1.0 - s) * (b[0] - b[1])
        sign = 1.0 if float(b[3]) >= 0 else -1.0
        jac = torch.stack([s, 1.0 - s, -ds / scale, -ds * z / scale * sign], dim=1)
        return yt - (b[1] + (b[0] - b[1]) * s), jac

    r, jac = residual_and_jacobian(beta)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(TORCH_MAX_ITER):
        a = jac.T @ jac
        g = jac.T @ r
        diag = torch.diagonal(a).clamp_min(1e-300)
        try:
            step = torch.linalg.solve(a + lam * torch.diag(diag), g)
        except RuntimeError:
            lam *= 10.0
            continue
        candidate = beta + step
        r_new, jac_new = residual_and_jacobian(candidate)
        new_cost = float(r_new @ r_new)
        if np.isfinite(new_cost) and new_cost <= cost:
            small_step = float(step.abs().max()) <= 1e-12 * (float(candidate.abs().max()) + 1e-12)
            small_gain = cost - new_cost <= 1e-12 * cost
            beta, r, jac, cost = candidate, r_new, jac_new, new_cost
            lam = max(lam / 10.0, 1e-12)
            if small_step or small_gain:
                return beta.numpy()
        else:
            lam *= 10.0
            if lam > 1e16:  # no step decreases the cost: a (local) minimum
                return beta.numpy()
    raise RuntimeError(f"logistic4 fit (solver='torch') did not converge in {TORCH_MAX_ITER} iterations")


def _fit_row(x: np.ndarray, y: np.ndarray, solver: str, init: str) -> np.ndarray:
    p0 = _initial_guess(x, y, init)
    if solver == "auto":
        try:
            import scipy.optimize  # noqa: F401

            solver = "scipy"
        except ImportError:
            solver = "torch"
    try:
        beta = _fit_scipy(x, y, p0) if solver == "scipy" else _fit_torch(x, y, p0)
    except RuntimeError as exc:
        raise RuntimeError(f"the logistic4 fit failed ({exc}); use fit='none' for raw PLCC/RMSE") from exc
    beta[3] = abs(beta[3])  # the model uses |b4|: report the canonical sign
    return beta


def fit_logistic4(pred: Any, target: Any, *, solver: str = "auto", init: str = "loda"):
    """Fit the 4-parameter logistic from ``pred`` to ``target`` by least squares.

    Args:
        pred: Predicted scores, ``Tensor[..., n]`` or numpy array / sequence, any real dtype. Leading
            dims are a batch (one fit per row); they broadcast against ``target``'s.
        target: Ground-truth scores (MOS), ``[..., n]``.
        solver: ``"auto"`` (SciPy if importable, else torch), ``"scipy"`` or ``"torch"``; see the
            module docstring.
        init: Initial guess: ``"loda"`` ``[max(y), min(y), mean(x), 0.5]`` (LoDa) or ``"pyiqa"``
            ``[max(y), min(y), mean(x), std(x)/4]`` (pyiqa's ``fit_curve``).

    Returns:
        float64 parameters ``(b1, b2, b3, b4)`` with ``b4 >= 0``, shape ``[..., 4]``: a tensor on pred's (or
        target's) device for tensor input, else a numpy array.

    Raises:
        ValueError: Bad argument, n < 4, or NaN in the inputs.
        ImportError: ``solver="scipy"`` without SciPy.
        RuntimeError: The fit did not converge.

    Example:
        >>> x = np.linspace(0, 1, 50)
        >>> beta = fit_logistic4(x, logistic4(x, [80.0, 20.0, 0.5, 0.1]))
        >>> np.allclose(beta, [80.0, 20.0, 0.5, 0.1])
        True
    """
    check_choice("solver", solver, SOLVERS)
    check_choice("init", init, INITS)
    x, y, batch, out_device = prepare(pred, target)
    if x.shape[-1] < 4:
        raise ValueError(f"fit_logistic4 needs at least 4 samples (4 parameters) along the last dim of pred and "
                         f"target; got n={x.shape[-1]}")
    if bool((torch.isnan(x) | torch.isnan(y)).any()):
        raise ValueError("pred or target contains NaN; expected finite values for the logistic4 fit")
    xs, ys = x.cpu().numpy(), y.cpu().numpy()
    params = np.stack([_fit_row(xs[i], ys[i], solver, init) for i in range(xs.shape[0])])
    result = torch.from_numpy(params)
    if out_device is not None:
        return result.reshape(*batch, 4).to(out_device)
    return result.reshape(*batch, 4).numpy()


def fitted_rows(x: torch.Tensor, y: torch.Tensor, solver: str = "auto", init: str = "loda") -> torch.Tensor:
    """``f(x)`` with ``f`` fitted per row of ``(B, n)`` float64 ``x`` to ``y`` (same device)."""
    xs, ys = x.cpu().numpy(), y.cpu().numpy()
    rows = [_model_np(xs[i], *_fit_row(xs[i], ys[i], solver, init)) for i in range(xs.shape[0])]
    return torch.from_numpy(np.stack(rows)).to(x.device)


__all__ = ["fit_logistic4", "logistic4"]
