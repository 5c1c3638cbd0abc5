"""``create_metric`` / ``list_metrics`` with pyiqa's conventions (STYLE.md §9).

pyiqa's metric objects carry ``lower_better``, ``metric_mode`` and ``score_range`` and are called
as ``metric(x, y)``. The correlation statistics are registered the same way, as two-input ("FR")
metrics called ``metric(pred, target)``; trained IQA models will register as ``<method>-<dataset>``
through :func:`register_metric`. ``score_range`` is a ``(low, high)`` float tuple (pyiqa stores a
string such as ``"0, 1"``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from pyiqa_fast.metrics.correlation import krcc, plcc, rmse, srcc


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes:
        name: Registry id (lowercase, pyiqa style ``<name>[-<variant>]``).
        fn: ``fn(pred, target, **kwargs)``.
        lower_better: True when a smaller value is better (pyiqa's attribute).
        score_range: ``(low, high)`` of the values.
        metric_mode: ``"FR"`` for two-input metrics, ``"NR"`` for no-reference IQA models.
        description: One line for listings.
        kwargs: Fixed keyword arguments given to ``fn``.
    """

    name: str
    fn: Callable[..., Any]
    lower_better: bool
    score_range: tuple[float, float]
    metric_mode: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to the registry.

    Raises:
        ValueError: The name is taken.
    """
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


_CORR = (-1.0, 1.0)
for _spec in (
    MetricSpec("srcc", srcc, False, _CORR, "FR", "Spearman rank correlation (average ranks for ties)"),
    MetricSpec("plcc", plcc, False, _CORR, "FR", "Pearson correlation of raw predictions"),
    MetricSpec("plcc-logistic4", plcc, False, _CORR, "FR", "Pearson correlation after a 4-parameter logistic fit",
               {"fit": "logistic4"}),
    MetricSpec("krcc", krcc, False, _CORR, "FR", "Kendall tau-b"),
    MetricSpec("rmse", rmse, True, (0.0, float("inf")), "FR", "root-mean-square error of raw predictions"),
    MetricSpec("rmse-logistic4", rmse, True, (0.0, float("inf")), "FR",
               "root-mean-square error after a 4-parameter logistic fit", {"fit": "logistic4"}),
):
    register_metric(_spec)


class Metric:
    """A registered metric as a callable object: ``metric(pred, target, **kwargs)``.

    Attributes:
        name, lower_better, score_range, metric_mode: From the :class:`MetricSpec`.
        as_loss: Always False for the statistics (not differentiable).
        device: Where inputs are moved before computing (None: where they are).
    """

    def __init__(self, spec: MetricSpec, device: torch.device | None = None):
        self.spec = spec
        self.name = spec.name
        self.lower_better = spec.lower_better
        self.score_range = spec.score_range
        self.metric_mode = spec.metric_mode
        self.as_loss = False
        self.device = device
        functools.update_wrapper(self, spec.fn, assigned=("__doc__",), updated=())

    def __call__(self, pred: Any, target: Any, **kwargs: Any):
        """Compute the metric; extra keyword arguments (e.g. ``nan_policy``) go to the function."""
        if self.device is not None:
            pred = torch.as_tensor(pred).to(self.device)
            target = torch.as_tensor(target).to(self.device)
        return self.spec.fn(pred, target, **{**self.spec.kwargs, **kwargs})

    def __repr__(self) -> str:
        return (f"Metric({self.name!r}, lower_better={self.lower_better}, score_range={self.score_range}, "
                f"metric_mode={self.metric_mode!r})")


def _lookup(name: Any) -> MetricSpec:
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str; got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown metric {name!r}{hint} Available: {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def create_metric(name: str, device: str | torch.device | None = None, as_loss: bool = False,
                  backend: str = "auto") -> Metric:
    """Create a metric object by name, as ``pyiqa.create_metric``.

    Args:
        name: A name from :func:`list_metrics` (case-insensitive).
        device: Move inputs there before computing (None: compute where the inputs are).
        as_loss: Must be False: the registered statistics are not differentiable (use
            :mod:`pyiqa_fast.losses` for training losses).
        backend: ``"auto"`` or ``"reference"``; the statistics have one (torch float64)
            implementation.

    Returns:
        A :class:`Metric`, called as ``metric(pred, target, **kwargs)``.

    Raises:
        ValueError: Unknown name (with close matches), ``as_loss=True``, unknown backend.

    Example:
        >>> m = create_metric("srcc")
        >>> m.lower_better, round(float(m([1, 2, 3], [3, 2, 1])), 12)
        (False, -1.0)
    """
    spec = _lookup(name)
    if as_loss:
        raise ValueError(f"metric {spec.name!r} cannot be used as a loss (as_loss=True): it is an evaluation "
                         "statistic without gradients; expected as_loss=False")
    if backend not in ("auto", "reference"):
        raise ValueError(f"backend for metric {spec.name!r} must be 'auto' or 'reference' (one torch float64 "
                         f"implementation); got {backend!r}")
    return Metric(spec, torch.device(device) if device is not None else None)


def list_metrics(metric_mode: str | None = None) -> list[str]:
    """Registered metric names, in registration order.

    Args:
        metric_mode: Keep only ``"FR"`` or ``"NR"`` metrics (None: all).
    """
    if metric_mode not in (None, "FR", "NR"):
        raise ValueError(f"metric_mode must be None, 'FR' or 'NR'; got {metric_mode!r}")
    return [name for name, spec in _REGISTRY.items() if metric_mode is None or spec.metric_mode == metric_mode]
