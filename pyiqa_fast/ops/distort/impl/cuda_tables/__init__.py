"""Per-entry tables the CUDA kernels of ``distort`` read (filter taps, weights, index maps), built on
the host from a launch group's host copies, one module per cost class (as
``csrc/kernels/distort/distort_<class>_cuda.cu``). Their layouts are documented beside the
kernels that read them.

``TABLES[type_id](group) -> (ftable float64 Tensor[N, F] | None, itable int64 Tensor[N, I] | None)``
on the host; types without an entry need no table.
"""

from __future__ import annotations

from pyiqa_fast.ops.distort.impl.cuda_tables import codec, pointwise, resample, statistics, stencil

TABLES = {**pointwise.TABLES, **stencil.TABLES, **resample.TABLES, **codec.TABLES, **statistics.TABLES}
