"""Synthetic distortions from a per-sample, per-block parameter table (DISTORTIONS.md)."""

from pyiqa_fast.ops.distort.api import distort

__all__ = ["distort"]
