"""Synthetic distortions: the catalogue, presets, parameter sampling (DISTORTIONS.md).

The op that applies them is :func:`pyiqa_fast.ops.distort`.
"""

from pyiqa_fast.distortions.params import DistortionParams, block_bounds, resolve_partition, sample_params
from pyiqa_fast.distortions.registry import PRESETS, SPECS, DistortionSpec, list_distortions, spec

__all__ = [
    "PRESETS",
    "SPECS",
    "DistortionParams",
    "DistortionSpec",
    "block_bounds",
    "list_distortions",
    "resolve_partition",
    "sample_params",
    "spec",
]
