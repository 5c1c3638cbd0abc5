"""Helpers for ``torchrun`` (DistributedDataParallel) training.

The trainer runs unchanged under ``torchrun --nproc-per-node N -m pyiqa_fast train …``: it reads
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, initialises the process group (NCCL on CUDA, gloo on CPU)
unless one exists, shards every epoch's sample order across ranks, writes checkpoints and logs on
rank 0 only, and gathers evaluation predictions from all ranks before computing metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "barrier", "all_gather_objects", "broadcast_object"]


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank of this process (``0, 1, 0`` when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that writes files)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def init_distributed(device_type: str = "cpu") -> DistInfo:
    """Join the process group described by the torchrun environment, or use an existing one.

    Args:
        device_type: ``"cuda"`` selects NCCL (and sets the local device), anything else gloo.

    Returns:
        This process's :class:`DistInfo`; ``DistInfo()`` without a group and without ``WORLD_SIZE > 1``.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
    else:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return DistInfo()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    if device_type == "cuda" and world > 1:
        torch.cuda.set_device(local)
    return DistInfo(rank, world, local)


def barrier(info: DistInfo) -> None:
    """Synchronise all ranks (no-op in a single process)."""
    if info.enabled:
        dist.barrier()


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` in a single process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
