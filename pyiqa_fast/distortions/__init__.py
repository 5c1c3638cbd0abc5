"""Synthetic distortions: the catalogue, presets, parameter sampling (DISTORTIONS.md).

The op that applies them is :func:`pyiqa_fast.ops.distort`.
"""

from pyiqa_fast.distortions.block import BlockDegradation, BlockDegradationOutput
from pyiqa_fast.distortions.dsmix import DSMix, DSMixOutput
from pyiqa_fast.distortions.functional import Distortion, create_distortion
from pyiqa_fast.distortions.params import DistortionParams, block_bounds, resolve_partition, sample_params
from pyiqa_fast.distortions.registry import PRESETS, SPECS, DistortionSpec, list_distortions, spec

__all__ = [
    "PRESETS",
    "SPECS",
    "BlockDegradation",
    "BlockDegradationOutput",
    "DSMix",
    "DSMixOutput",
    "Distortion",
    "DistortionParams",
    "DistortionSpec",
    "block_bounds",
    "create_distortion",
    "list_distortions",
    "resolve_partition",
    "sample_params",
    "spec",
]
