"""Fused ops: public functions and modules, each with ``backend=`` selection.

Importing this package loads neither ``_C`` nor Triton; the first call of an op does.
"""

from __future__ import annotations

from pyiqa_fast.ops.block_attention import block_attention, partition_groups
from pyiqa_fast.ops.margin_ranking_loss import MarginRankingLoss, margin_ranking_loss

_OPS = ("block_attention", "margin_ranking_loss")


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
    from pyiqa_fast.ops.block_attention.api import BACKENDS as block_attention_backends
    from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS as margin_ranking_loss_backends

    return {
        "block_attention": block_attention_backends,
        "margin_ranking_loss": margin_ranking_loss_backends,
    }[op].availability()


__all__ = [
    "MarginRankingLoss",
    "available_backends",
    "block_attention",
    "list_ops",
    "margin_ranking_loss",
    "partition_groups",
]
