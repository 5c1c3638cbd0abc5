"""Tests for pyiqa_fast.metrics: agreement with scipy.stats, ties, batching, input types, the logistic
fit, the registry and every error path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyiqa_fast.metrics import (
    ConstantInputWarning,
    create_metric,
    fit_logistic4,
    krcc,
    list_metrics,
    logistic4,
    plcc,
    rmse,
    srcc,
)
from pyiqa_fast.metrics import logistic as logistic_mod

scipy_stats = pytest.importorskip("scipy.stats", reason="scipy is the reference for the metrics")

TOL = 1e-12


def ref_srcc(x, y):
    return scipy_stats.spearmanr(x, y).statistic


def ref_krcc(x, y):
    return scipy_stats.kendalltau(x, y).statistic


def ref_plcc(x, y):
    return scipy_stats.pearsonr(x, y).statistic


def ref_rmse(x, y):
    return float(np.sqrt(np.mean((np.asarray(x, float) - np.asarray(y, float)) ** 2)))


PAIRS = [(srcc, ref_srcc), (krcc, ref_krcc), (plcc, ref_plcc), (rmse, ref_rmse)]
IDS = ["srcc", "krcc", "plcc", "rmse"]


def tied(rng, n, levels):
    return rng.integers(0, levels, n).astype(np.float64)


# --- agreement with scipy ---------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "ref"), PAIRS, ids=IDS)
@pytest.mark.parametrize("n", [2, 3, 7, 64, 1000, 4099])
def test_random_matches_scipy(fn, ref, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = 0.7 * x + rng.normal(size=n)
    assert abs(fn(x, y) - ref(x, y)) <= TOL


@pytest.mark.parametrize(("fn", "ref"), PAIRS, ids=IDS)
@pytest.mark.parametrize(("n", "levels"), [(10, 2), (50, 3), (500, 5), (2000, 9), (3001, 100)])
def test_heavily_tied_matches_scipy(fn, ref, n, levels):
    rng = np.random.default_rng(levels)
    mos = tied(rng, n, levels)  # integer MOS
    pred = np.round(mos + rng.normal(scale=1.0, size=n))  # many duplicates on both sides
    assert abs(fn(pred, mos) - ref(pred, mos)) <= TOL
    assert abs(fn(mos, mos) - ref(mos, mos)) <= TOL  # identical heavily tied vectors


def test_golden_small_cases():
    # Hand-computed: one swapped pair among 4 -> rho = 1 - 6*2/(4*15) = 0.8, tau = (5-1)/6.
    assert float(srcc([1, 2, 3, 4], [1, 3, 2, 4])) == pytest.approx(0.8, abs=1e-15)
    assert float(krcc([1, 2, 3, 4], [1, 3, 2, 4])) == pytest.approx(4 / 6, abs=1e-15)
    assert float(krcc([1, 2], [2, 1])) == -1.0
    # tau-b with ties: x=[1,1,2], y=[1,2,3]: P=2, Q=0, T_x=1 -> 2/sqrt(3*2).
    assert float(krcc([1, 1, 2], [1, 2, 3])) == pytest.approx(2 / np.sqrt(6), abs=1e-15)
    assert float(rmse([1.0, 2.0], [1.0, 4.0])) == pytest.approx(np.sqrt(2.0), abs=1e-15)


def test_inf_values_rank_like_scipy():
    x = np.array([1.0, np.inf, -np.inf, 3.0, np.inf, 2.0])
    y = np.array([2.0, 5.0, 1.0, 2.0, 4.0, 3.0])
    assert abs(srcc(x, y) - ref_srcc(x, y)) <= TOL
    assert abs(krcc(x, y) - ref_krcc(x, y)) <= TOL


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(2, 300),
    levels=st.one_of(st.integers(1, 6), st.just(10**6)),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
)
def test_hypothesis_sizes_and_ties(n, levels, seed, scale):
    rng = np.random.default_rng(seed)
    x = tied(rng, n, levels) * scale
    y = tied(rng, n, max(levels // 2, 1) if levels < 10 else levels) - 3.0
    const = np.all(x == x[0]) or np.all(y == y[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn, ref in PAIRS:
            got, want = fn(x, y), ref(x, y)
            if const and fn is not rmse:
                assert np.isnan(got) and np.isnan(want)
            else:
                assert abs(got - want) <= TOL * max(1.0, abs(want)), fn.__name__


# --- batching, input types, devices ------------------------------------------------------------


@pytest.mark.parametrize("fn", [srcc, krcc, plcc, rmse], ids=IDS)
def test_batched_equals_loop(fn):
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=(3, 4, 37)) * 2)
    y = np.round(x + rng.normal(size=(3, 4, 37)))
    got = fn(x, y)
    assert isinstance(got, np.ndarray) and got.shape == (3, 4) and got.dtype == np.float64
    want = np.array([[fn(x[i, j], y[i, j]) for j in range(4)] for i in range(3)])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fn", [srcc, krcc, plcc, rmse], ids=IDS)
def test_leading_dims_broadcast(fn):
    rng = np.random.default_rng(2)
    preds = rng.normal(size=(5, 40))
    mos = rng.normal(size=40)
    got = fn(preds, mos)
    assert got.shape == (5,)
    np.testing.assert_array_equal(got, [fn(p, mos) for p in preds])
    assert fn(mos, preds).shape == (5,)


@pytest.mark.parametrize("fn", [srcc, krcc, plcc, rmse], ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.float16])
def test_torch_vs_numpy(fn, dtype):
    rng = np.random.default_rng(3)
    x = torch.from_numpy(np.round(rng.normal(size=(2, 60)) * 3)).to(dtype)
    y = torch.from_numpy(np.round(rng.normal(size=(2, 60)) * 3)).to(dtype)
    got = fn(x, y)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64 and got.shape == (2,)
    want = fn(x.double().numpy(), y.double().numpy())
    np.testing.assert_array_equal(got.numpy(), want)
    # mixed: a tensor on either side gives a tensor; a 1-D input gives a 0-d tensor / np.float64
    assert isinstance(fn(x[0], y[0].numpy()), torch.Tensor) and fn(x[0], y[0].numpy()).ndim == 0
    assert isinstance(fn(x[0].numpy(), y[0]), torch.Tensor)
    assert type(fn(x[0].double().numpy(), list(y[0].tolist()))) is np.float64


def test_non_contiguous_and_grad_inputs():
    base = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    x = base[:, 0]  # strided, requires grad
    y = base.detach()[:, 1] * 2 + base.detach()[:, 0]
    got = srcc(x, y)
    assert not got.requires_grad
    assert float(got) == pytest.approx(ref_srcc(x.detach().numpy(), y.numpy()), abs=TOL)
    assert float(plcc(base.detach().T[0], y)) == pytest.approx(ref_plcc(x.detach().numpy(), y.numpy()), abs=TOL)


def test_deterministic():
    rng = np.random.default_rng(4)
    x, y = tied(rng, 999, 7), tied(rng, 999, 5)
    for fn in (srcc, krcc, plcc, rmse):
        assert fn(x, y) == fn(x, y)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("fn", [srcc, krcc, plcc, rmse], ids=IDS)
def test_cuda_matches_cpu(fn):
    rng = np.random.default_rng(5)
    x = torch.from_numpy(tied(rng, 3000, 9).reshape(3, 1000))
    y = torch.from_numpy(tied(rng, 3000, 6).reshape(3, 1000))
    got = fn(x.cuda(), y.cuda())
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), fn(x, y), atol=TOL, rtol=0)


# --- NaN and constant inputs -----------------------------------------------------------------


@pytest.mark.parametrize("fn", [srcc, krcc, plcc, rmse], ids=IDS)
def test_nan_raise_omit_propagate(fn):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(2, 30)), rng.normal(size=(2, 30))
    x[0, 3] = np.nan
    y[0, 7] = np.nan
    with pytest.raises(ValueError, match=r"pred and target contain\(s\) NaN \(2 of 60.*nan_policy='omit'"):
        fn(x, y)
    omit = fn(x, y, nan_policy="omit")
    keep = ~(np.isnan(x[0]) | np.isnan(y[0]))
    assert omit[0] == fn(x[0, keep], y[0, keep])
    assert omit[1] == fn(x[1], y[1])
    prop = fn(x, y, nan_policy="propagate")
    assert np.isnan(prop[0]) and prop[1] == omit[1]
    with pytest.raises(ValueError, match="target contain"):
        fn(np.arange(5.0), [1.0, np.nan, 2.0, 3.0, 4.0])


def test_nan_omit_too_few_left():
    x = np.array([[1.0, np.nan, np.nan], [1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"srcc needs at least 2 samples.*row \(0,\) has n=1"):
        srcc(x, [1.0, 2.0, 3.0], nan_policy="omit")


@pytest.mark.parametrize(("fn", "ref"), PAIRS[:3], ids=IDS[:3])
def test_constant_input_nan_with_warning(fn, ref):
    x = np.array([2.0, 2.0, 2.0, 2.0])
    y = np.array([1.0, 3.0, 2.0, 4.0])
    with pytest.warns(ConstantInputWarning, match="constant"):
        got = fn(x, y)
    assert np.isnan(got)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(ref(x, y))
    with pytest.warns(ConstantInputWarning, match="1 row"):
        batch = fn(np.stack([x, y]), y)
    assert np.isnan(batch[0]) and batch[1] == pytest.approx(1.0)


@pytest.mark.parametrize("fn", [plcc, rmse], ids=["plcc", "rmse"])
def test_constant_input_with_fit(fn):
    with pytest.warns(ConstantInputWarning):
        assert np.isnan(fn(np.ones(6), np.arange(6.0), fit="logistic4"))


def test_rmse_of_constant_is_defined():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rmse([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == pytest.approx(np.sqrt(2 / 3), abs=1e-15)


# --- logistic4 -------------------------------------------------------------------------------

BETA = [80.0, 20.0, 0.5, 0.1]


@pytest.mark.parametrize("solver", ["scipy", "torch"])
def test_logistic4_recovers_parameters(solver):
    x = np.linspace(0.0, 1.0, 80)
    y = logistic4(x, BETA)
    beta = fit_logistic4(x, y, solver=solver)
    np.testing.assert_allclose(beta, BETA, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("solver", ["scipy", "torch"])
def test_logistic4_noisy_recovers_and_improves_plcc(solver, monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 1.0, (3, 300))
    y = logistic4(x, BETA) + rng.normal(scale=2.0, size=x.shape)
    beta = fit_logistic4(x, y, solver=solver)
    assert beta.shape == (3, 4)
    np.testing.assert_allclose(beta, np.tile(BETA, (3, 1)), rtol=0.05)
    monkeypatch.setattr(logistic_mod, "_fit_row", _forced(solver))
    fitted, raw = plcc(x, y, fit="logistic4"), plcc(x, y)
    assert np.all(fitted >= raw) and np.all(fitted > 0.98)
    want = [ref_plcc(logistic4(x[i], beta[i]), y[i]) for i in range(3)]
    np.testing.assert_allclose(fitted, want, atol=TOL)
    assert np.all(rmse(x, y, fit="logistic4") < rmse(x, y))


def _forced(solver):
    original = logistic_mod._fit_row
    return lambda x, y, _solver, init: original(x, y, solver, init)


def test_logistic4_torch_solver_agrees_with_scipy():
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(8)
    mos = np.round(rng.uniform(1, 5, 500) * 10) / 10  # tied MOS
    pred = 1 / (1 + np.exp(-(mos - 3))) + rng.normal(scale=0.05, size=500)
    a = fit_logistic4(pred, mos, solver="scipy")
    b = fit_logistic4(pred, mos, solver="torch")
    assert a[3] > 0 and b[3] > 0
    # torch converges tighter than curve_fit's default tolerances: compare with a tight curve_fit.
    p0 = [mos.max(), mos.min(), pred.mean(), 0.5]
    tight, _ = curve_fit(logistic_mod._model_np, pred, mos, p0=p0, ftol=1e-14, xtol=1e-14, maxfev=10**5)
    tight[3] = abs(tight[3])
    np.testing.assert_allclose(b, tight, rtol=1e-6)
    np.testing.assert_allclose(a, tight, rtol=1e-3)
    ra, rb = ref_plcc(logistic4(pred, a), mos), ref_plcc(logistic4(pred, b), mos)
    assert abs(ra - rb) < 1e-9


def test_logistic4_matches_loda_recipe():
    # LoDa: curve_fit(logistic_func, y_pred, y, p0=[max(y), min(y), mean(y_pred), 0.5]) then pearsonr.
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(9)
    pred = rng.uniform(0, 1, 200)
    mos = 4 * pred**2 + 1 + rng.normal(scale=0.2, size=200)
    p0 = [np.max(mos), np.min(mos), np.mean(pred), 0.5]
    popt, _ = curve_fit(logistic_mod._model_np, pred, mos, p0=p0, maxfev=10**8)
    want = ref_plcc(logistic_mod._model_np(pred, *popt), mos)
    assert abs(plcc(pred, mos, fit="logistic4") - want) <= TOL


def test_logistic4_torch_and_pyiqa_init():
    x = torch.linspace(0, 100, 64, dtype=torch.float32)
    beta = [5.0, 1.0, 40.0, 8.0]
    y = logistic4(x, beta)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    got = fit_logistic4(x, y, init="pyiqa")
    assert isinstance(got, torch.Tensor) and got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), beta, rtol=1e-6)


def test_logistic4_without_scipy_falls_back(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError("no scipy")
        return real_import(name, *args, **kwargs)

    x = np.linspace(0.0, 1.0, 50)
    y = logistic4(x, BETA)
    monkeypatch.setattr(builtins, "__import__", no_scipy)
    beta = fit_logistic4(x, y)
    assert plcc(x, y, fit="logistic4") == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ImportError):
        fit_logistic4(x, y, solver="scipy")
    np.testing.assert_allclose(beta, BETA, rtol=1e-6)


def test_logistic4_fit_failure_is_clear(monkeypatch):
    monkeypatch.setattr(logistic_mod, "TORCH_MAX_ITER", 1)
    rng = np.random.default_rng(10)
    x = rng.uniform(0, 1, 50)
    with pytest.raises(RuntimeError, match="logistic4 fit failed.*fit='none'"):
        fit_logistic4(x, np.sin(20 * x), solver="torch")


# --- registry --------------------------------------------------------------------------------


def test_list_and_create_metric():
    names = list_metrics()
    assert names == ["srcc", "plcc", "plcc-logistic4", "krcc", "rmse", "rmse-logistic4"]
    assert list_metrics("FR") == names and list_metrics("NR") == []
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=50), rng.normal(size=50)
    for name in names:
        m = create_metric(name)
        assert m.name == name and m.metric_mode == "FR" and m.as_loss is False
        assert m.lower_better is name.startswith("rmse")
        assert m.score_range == ((0.0, float("inf")) if name.startswith("rmse") else (-1.0, 1.0))
        fn = {"srcc": srcc, "plcc": plcc, "krcc": krcc, "rmse": rmse}[name.split("-")[0]]
        kwargs = {"fit": "logistic4"} if name.endswith("logistic4") else {}
        assert m(x, y) == fn(x, y, **kwargs)
        assert name in repr(m)
    assert create_metric("SRCC").name == "srcc"
    m = create_metric("krcc", device="cpu")
    assert isinstance(m(x, y), torch.Tensor)
    x[0] = np.nan
    assert m(x, y, nan_policy="omit") == krcc(x[1:], y[1:])


def test_registry_errors():
    with pytest.raises(ValueError, match=r"unknown metric 'srocc'; did you mean 'srcc'.*Available: srcc"):
        create_metric("srocc")
    with pytest.raises(TypeError, match="metric name must be a str; got int"):
        create_metric(3)
    with pytest.raises(ValueError, match=r"'plcc' cannot be used as a loss \(as_loss=True\)"):
        create_metric("plcc", as_loss=True)
    with pytest.raises(ValueError, match="backend for metric 'srcc' must be 'auto' or 'reference'.*'cuda'"):
        create_metric("srcc", backend="cuda")
    with pytest.raises(ValueError, match="metric_mode must be None, 'FR' or 'NR'; got 'fr'"):
        list_metrics("fr")
    from pyiqa_fast.metrics import MetricSpec, register_metric

    with pytest.raises(ValueError, match="'srcc' is already registered"):
        register_metric(MetricSpec("srcc", srcc, False, (-1.0, 1.0), "FR", ""))


# --- input errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [srcc, krcc, plcc, rmse], ids=IDS)
def test_input_errors(fn):
    with pytest.raises(ValueError, match=r"same length along the last dim.*pred.shape=\(5,\) \(n=5\).*"
                                         r"target.shape=\(6,\) \(n=6\)"):
        fn(np.arange(5.0), np.arange(6.0))
    with pytest.raises(ValueError, match=r"leading \(batch\) dims .* must broadcast.*\(2, 5\).*\(3, 5\)"):
        fn(np.zeros((2, 5)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="pred must have at least 1 dim.*0-d"):
        fn(np.float64(1.0), np.arange(3.0))
    with pytest.raises(ValueError, match="target must have at least 1 dim"):
        fn(np.arange(3.0), torch.tensor(1.0))
    with pytest.raises(TypeError, match="pred must hold real numbers; got a tensor of dtype torch.complex64"):
        fn(torch.zeros(4, dtype=torch.complex64), torch.zeros(4))
    with pytest.raises(TypeError, match="target must hold real numbers; got a list of dtype <U1"):
        fn([1.0, 2.0], ["a", "b"])
    with pytest.raises(TypeError, match="target must be a torch.Tensor, numpy array or sequence"):
        fn([1.0, 2.0], [[1.0], 2.0])
    with pytest.raises(ValueError, match=r"nan_policy must be one of 'raise', 'omit', 'propagate'; got 'drop'"):
        fn([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], nan_policy="drop")
    if fn is rmse:
        with pytest.raises(ValueError, match=r"rmse needs at least 1 samples \(a mean\).*got n=0"):
            fn(np.zeros(0), np.zeros(0))
    else:
        with pytest.raises(ValueError, match=rf"{fn.__name__} needs at least 2 samples \(a correlation\).*got n=1"):
            fn([1.0], [2.0])


@pytest.mark.parametrize("fn", [plcc, rmse], ids=["plcc", "rmse"])
def test_fit_errors(fn):
    with pytest.raises(ValueError, match=r"fit must be one of 'none', 'logistic4'; got 'logistic5'"):
        fn([1.0, 2.0], [1.0, 2.0], fit="logistic5")
    with pytest.raises(ValueError, match=r"needs at least 4 samples \(the 4-parameter logistic fit\).*got n=3"):
        fn([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], fit="logistic4")


def test_fit_logistic4_errors():
    x = np.arange(6.0)
    with pytest.raises(ValueError, match="solver must be one of 'auto', 'scipy', 'torch'; got 'lm'"):
        fit_logistic4(x, x, solver="lm")
    with pytest.raises(ValueError, match="init must be one of 'loda', 'pyiqa'; got 'zero'"):
        fit_logistic4(x, x, init="zero")
    with pytest.raises(ValueError, match="at least 4 samples.*got n=3"):
        fit_logistic4(x[:3], x[:3])
    with pytest.raises(ValueError, match="contains NaN"):
        fit_logistic4(np.r_[x, np.nan], np.r_[x, 1.0])
    with pytest.raises(ValueError, match=r"beta must hold 4 parameters.*got shape \(3,\)"):
        logistic4(x, [1.0, 2.0, 3.0])


@pytest.mark.needs_cuda
def test_device_mismatch_error():
    with pytest.raises(ValueError, match="same device; got pred on cuda:0 and target on cpu"):
        srcc(torch.zeros(3, device="cuda"), torch.zeros(3))
