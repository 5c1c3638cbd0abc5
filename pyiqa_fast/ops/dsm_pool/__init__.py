"""DSMix ground-truth distortion-sensitivity map (METHODS.md §4.1)."""

from pyiqa_fast.ops.dsm_pool.api import DSMPool, dsm_pool

__all__ = ["DSMPool", "dsm_pool"]
