"""Evaluation metrics: SRCC, PLCC (raw or after a 4-parameter logistic fit), KRCC, RMSE.

Computed in float64 exactly as ``scipy.stats`` (no SciPy needed at runtime; the logistic fit uses
SciPy when present, else a torch Levenberg–Marquardt). See :mod:`pyiqa_fast.metrics.correlation`
for input, batching and NaN conventions and :mod:`pyiqa_fast.metrics.logistic` for the fit.

Example:
    >>> from pyiqa_fast.metrics import create_metric, srcc
    >>> float(srcc([1, 2, 3, 4], [1, 3, 2, 4]))
    0.8
    >>> create_metric("plcc-logistic4").lower_better
    False
"""

from pyiqa_fast.metrics._common import ConstantInputWarning
from pyiqa_fast.metrics.correlation import krcc, plcc, rmse, srcc
from pyiqa_fast.metrics.logistic import fit_logistic4, logistic4
from pyiqa_fast.metrics.registry import Metric, MetricSpec, create_metric, list_metrics, register_metric

__all__ = [
    "ConstantInputWarning",
    "Metric",
    "MetricSpec",
    "create_metric",
    "fit_logistic4",
    "krcc",
    "list_metrics",
    "logistic4",
    "plcc",
    "register_metric",
    "rmse",
    "srcc",
]
