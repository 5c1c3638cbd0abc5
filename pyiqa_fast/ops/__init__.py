"""Fused ops: public functions and modules, each with ``backend=`` selection.

Importing this package loads neither ``_C`` nor Triton; the first call of an op does.
"""

from __future__ import annotations

from pyiqa_fast.ops.block_attention import block_attention, partition_groups
from pyiqa_fast.ops.distort import distort
from pyiqa_fast.ops.dsm_pool import DSMPool, dsm_pool
from pyiqa_fast.ops.margin_ranking_loss import MarginRankingLoss, margin_ranking_loss

_OPS = ("block_attention", "distort", "dsm_pool", "margin_ranking_loss")


def list_ops() -> list[str]:
    """Names of the public ops."""
    return list(_OPS)


def available_backends(op: str) -> dict[str, tuple[bool, str]]:
    """``{backend: (available, reason)}`` for ``op`` in this process, independent of inputs.

    Raises:
        ValueError: ``op`` is not a pyiqa_fast op.
    """
    if op not in _OPS:
        raise ValueError(f"available_backends: op must be one of {', '.join(_OPS)}, got {op!r}")
    from pyiqa_fast.ops.block_attention.api import BACKENDS as BLOCK_ATTENTION
    from pyiqa_fast.ops.distort.api import BACKENDS as DISTORT
    from pyiqa_fast.ops.dsm_pool.api import BACKENDS as DSM_POOL
    from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS as MARGIN_RANKING_LOSS

    return {
        "block_attention": BLOCK_ATTENTION,
        "distort": DISTORT,
        "dsm_pool": DSM_POOL,
        "margin_ranking_loss": MARGIN_RANKING_LOSS,
    }[op].availability()


__all__ = [
    "DSMPool",
    "MarginRankingLoss",
    "available_backends",
    "block_attention",
    "distort",
    "dsm_pool",
    "list_ops",
    "margin_ranking_loss",
    "partition_groups",
]
