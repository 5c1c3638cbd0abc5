"""Triton kernels of ``distort``: one launcher per distortion type, grouped by cost class
(DISTORTIONS.md §6), driven by the shared schedule (``pyiqa_fast/ops/distort/impl/schedule.py``).

``LAUNCHERS[type_id](group)`` runs one launch group: every entry of one type at one step of the
table, whatever its sample, block, level and key.
"""

from __future__ import annotations

from triton_kernels.distort import codec, pointwise, resample, stencil

LAUNCHERS = {**pointwise.LAUNCHERS, **stencil.LAUNCHERS, **resample.LAUNCHERS, **codec.LAUNCHERS}
