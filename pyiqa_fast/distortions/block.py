"""SHDIQA's Block-wise Degradation Model (METHODS.md §3.2, DISTORTIONS.md §8.5).

Distinct distortion types on the spatial blocks of each training crop, so that every ViT token
lies in exactly one block and the student's block-masked attention (``block_attention``) can
aggregate per block. SHDIQA confirms the 24 Re-IQA types, "four levels" and the vertical /
horizontal / 2×2 partitions; the rest is [PROPOSAL] as METHODS.md §3.2 reconstructs it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from pyiqa_fast.distortions.params import (
    DistortionParams,
    block_bounds,
    resolve_partition,
    sample_params,
    to_device,
)
from pyiqa_fast.distortions.registry import N_LEVELS, SPECS, check_preset, shdiqa4_levels, type_list


class BlockDegradationOutput(NamedTuple):
    """What :class:`BlockDegradation` returns.

    Attributes:
        degraded: Tensor[B, 3, H, W], the input's dtype.
        block_map: int8 Tensor[B, H/p, W/p], the block id of each p×p token (row-major blocks).
        type_labels: int64 Tensor[B, K], the type id of each block (its first distortion).
        level_labels: int64 Tensor[B, K], the level label of each block: the index into the
            kept levels of its type (0..3 with ``levels="shdiqa4"``).
        params: The :class:`DistortionParams` applied (replayable).
    """

    degraded: Tensor
    block_map: Tensor
    type_labels: Tensor
    level_labels: Tensor
    params: DistortionParams


def token_block_map(height: int, width: int, partition: tuple[int, int], patch_size: int) -> Tensor:
    """int8 Tensor[H/p, W/p]: the block containing each token's centre pixel."""
    rows, cols = height // patch_size, width // patch_size
    block_of_pixel = torch.empty(height, width, dtype=torch.int8)
    for k, (y0, y1, x0, x1) in enumerate(block_bounds(height, width, partition)):
        block_of_pixel[y0:y1, x0:x1] = k
    centres_y = torch.arange(rows) * patch_size + patch_size // 2
    centres_x = torch.arange(cols) * patch_size + patch_size // 2
    return block_of_pixel[centres_y][:, centres_x]


class BlockDegradation(nn.Module):
    """Distorts the blocks of each image with distinct types (SHDIQA's BDM).

    Args:
        partition: ``"vertical"`` (default: 2 blocks side by side, split by a vertical line),
            ``"horizontal"``, ``"grid2x2"`` or (rows, cols).
        types: Type list to draw from: ``"shdiqa24"`` (default), ``"reiqa26"``, ``"arniqa24"``
            or a sequence of type ids / names.
        levels: ``"shdiqa4"`` (default: the four levels of DISTORTIONS.md §10.3 [PROPOSAL],
            labels 0..3), ``"all"`` (0..4) or a sequence of level indices kept for every type.
        preset: Level tables: ``"reiqa"`` (default), ``"kadis"``, ``"arniqa"``.
        block_mode: ``"composite"`` (default) or ``"crop"`` (DISTORTIONS.md §8.5).
        max_per_block: 1 (default) or 2: with 2, each block follows Re-IQA's chain rule
            (§8.1): with probability ``chain_prob`` a second random type is applied after the
            first at a level in 0..the first's [PROPOSAL]. Labels name the first distortion.
        chain_prob: Probability of a chain when ``max_per_block = 2`` (Re-IQA: 0.1).
        patch_size: Token size of the block map (16 for ViT-S/16).
        backend: ``distort``'s backend.

    Example:
        >>> bdm = BlockDegradation("vertical")
        >>> out = bdm(torch.rand(4, 3, 224, 224), generator=torch.Generator().manual_seed(0))
        >>> out.block_map.shape, out.type_labels.shape
        (torch.Size([4, 14, 14]), torch.Size([4, 2]))
    """

    def __init__(
        self,
        partition: str | tuple[int, int] = "vertical",
        types: str | tuple[int | str, ...] = "shdiqa24",
        levels: str | tuple[int, ...] = "shdiqa4",
        preset: str = "reiqa",
        block_mode: str = "composite",
        max_per_block: int = 1,
        chain_prob: float = 0.1,
        patch_size: int = 16,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.partition = resolve_partition(partition)
        self.preset = check_preset(preset)
        if isinstance(types, str):
            ids = type_list(types)
        else:
            ids = tuple(SPECS[t].id if isinstance(t, int) else next(s.id for s in SPECS if s.name == t)
                        for t in types)
        missing = [SPECS[i].name for i in ids if preset not in SPECS[i].levels]
        if missing:
            raise ValueError(f"BlockDegradation: types {missing} are not defined in preset {preset!r}")
        self.n_blocks = self.partition[0] * self.partition[1]
        if self.n_blocks > len(ids):
            raise ValueError(f"BlockDegradation: {self.n_blocks} blocks need as many distinct types, "
                             f"the type list has {len(ids)}")
        self.type_ids = ids
        if levels == "shdiqa4":
            kept = [shdiqa4_levels(i) for i in ids]
        elif levels == "all":
            kept = [tuple(range(N_LEVELS)) for _ in ids]
        else:
            levels = tuple(levels)
            if not levels or any(not 0 <= lv < N_LEVELS for lv in levels):
                raise ValueError(f"BlockDegradation: levels must be 'shdiqa4', 'all' or indices in 0..4, "
                                 f"got {levels!r}")
            kept = [levels for _ in ids]
        # Host tensors, not buffers: sampling stays on the CPU when the module moves to a GPU, so a
        # step never waits for the device.
        self._types = torch.tensor(ids, dtype=torch.int64)
        self._kept_levels = torch.tensor(kept, dtype=torch.int64)
        if max_per_block not in (1, 2):
            raise ValueError(f"BlockDegradation: max_per_block must be 1 or 2, got {max_per_block}")
        if not 0.0 <= chain_prob <= 1.0:
            raise ValueError(f"BlockDegradation: chain_prob must be in [0, 1], got {chain_prob}")
        if block_mode not in ("composite", "crop"):
            raise ValueError(f"BlockDegradation: block_mode must be 'composite' or 'crop', got {block_mode!r}")
        self.block_mode, self.max_per_block, self.chain_prob = block_mode, max_per_block, chain_prob
        self.patch_size, self.backend = patch_size, backend

    @property
    def n_levels(self) -> int:
        """Number of level labels (4 with ``levels="shdiqa4"``)."""
        return self._kept_levels.shape[1]

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[DistortionParams, Tensor,
                                                                                         Tensor]:
        """Draws (params, type_labels, level_labels) for a batch without applying them."""
        n_types = len(self.type_ids)
        choice = torch.rand(batch_size, n_types, generator=generator).argsort(dim=1)[:, : self.n_blocks]
        type_labels = self._types[choice]
        level_labels = torch.randint(0, self.n_levels, (batch_size, self.n_blocks), generator=generator)
        levels = self._kept_levels[choice, level_labels]
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        if self.max_per_block == 1:
            return sample_params(type_labels, levels, preset=self.preset, partition=self.partition,
                                 seed=seed), type_labels, level_labels
        # Re-IQA's chain rule (§8.1) adapted to labelled blocks [PROPOSAL]: the labelled first
        # distortion keeps its drawn level; with probability chain_prob a random second type
        # (may repeat, as in Re-IQA) follows at a level drawn uniformly from 0..that level.
        chained = torch.rand(batch_size, self.n_blocks, generator=generator) < self.chain_prob
        level2 = (torch.rand(batch_size, self.n_blocks, generator=generator) * (levels + 1)).long()
        second = self._types[torch.randint(0, n_types, (batch_size, self.n_blocks), generator=generator)]
        types = torch.stack([type_labels, torch.where(chained, second, -1)], dim=-1)
        all_levels = torch.stack([levels, torch.where(chained, level2, -1)], dim=-1)
        params = sample_params(types, all_levels, preset=self.preset, partition=self.partition, seed=seed)
        return params, type_labels, level_labels

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> BlockDegradationOutput:
        """Distorts a batch.

        Args:
            x: Tensor[B, 3, H, W] RGB in [0, 1] (uint8 accepted), H and W multiples of
                ``patch_size`` for the block map.
            generator: Draws types, levels and the Philox seed (torch's global one if None).
        """
        params, type_labels, level_labels = self.sample(x.shape[0], generator)
        from pyiqa_fast.ops.distort import distort

        degraded = distort(x, params, block_mode=self.block_mode, backend=self.backend)
        block_map = token_block_map(x.shape[2], x.shape[3], self.partition, self.patch_size)
        block_map = to_device(block_map, x.device).expand(x.shape[0], -1, -1).contiguous()
        return BlockDegradationOutput(degraded, block_map, to_device(type_labels, x.device),
                                      to_device(level_labels, x.device), params)

    def extra_repr(self) -> str:
        return (f"partition={self.partition}, types={len(self.type_ids)}, levels={self.n_levels}, "
                f"preset={self.preset!r}, block_mode={self.block_mode!r}, max_per_block={self.max_per_block}")
