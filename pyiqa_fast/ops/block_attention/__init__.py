"""Group-masked (SHDIQA block-wise) attention: ``block_attention`` and ``partition_groups``."""

from pyiqa_fast.ops.block_attention.api import block_attention, partition_groups

__all__ = ["block_attention", "partition_groups"]
