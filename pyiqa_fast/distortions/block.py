"""SHDIQA's Block-wise Degradation Model (METHODS.md §3.2, DISTORTIONS.md §8.5).

Distinct distortion types on the spatial blocks of each training crop, so that every ViT token
lies in exactly one block and the student's block-masked attention (``block_attention``) can
aggregate per block. SHDIQA confirms the 24 Re-IQA types, "four levels" and the vertical /
horizontal / 2×2 partitions; the rest is [PROPOSAL] as METHODS.md §3.2 reconstructs it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
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
from pyiqa_fast.distortions.registry import N_LEVELS, SPECS, check_preset, shdiqa4_levels, spec, type_list


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


def _type_ids(types: object, preset: str) -> tuple[int, ...]:
    """The type ids of ``BlockDegradation``'s ``types`` argument, each checked by ``registry.spec``."""
    if isinstance(types, str):
        return _defined_in(type_list(types), preset)
    if not isinstance(types, Sequence):
        raise TypeError(f"BlockDegradation: types must be a type list name or a sequence of type ids / names, "
                        f"got {type(types).__name__}")
    ids: list[int] = []
    for i, t in enumerate(types):
        if isinstance(t, bool) or not isinstance(t, (numbers.Integral, str)):
            raise TypeError(f"BlockDegradation: types[{i}] must be a type id (int) or name (str), got {t!r} "
                            f"({type(t).__name__})")
        try:
            type_id = spec(t if isinstance(t, str) else int(t)).id
        except ValueError as e:
            raise ValueError(f"BlockDegradation: types[{i}]: {e}") from None
        if type_id in ids:
            j = ids.index(type_id)
            raise ValueError(f"BlockDegradation: types[{i}] = {t!r} repeats types[{j}] = {types[j]!r} "
                             f"({SPECS[type_id].name}); the blocks of a sample get distinct types, so each type "
                             "may appear once")
        ids.append(type_id)
    return _defined_in(tuple(ids), preset)


def _defined_in(ids: tuple[int, ...], preset: str) -> tuple[int, ...]:
    missing = [SPECS[i].name for i in ids if preset not in SPECS[i].levels]
    if missing:
        raise ValueError(f"BlockDegradation: types {missing} are not defined in preset {preset!r}")
    return ids


def _kept_levels(levels: object, ids: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Per type, the level indices that the labels 0..n_levels−1 name."""
    if levels == "shdiqa4":
        return [shdiqa4_levels(i) for i in ids]
    if levels == "all":
        return [tuple(range(N_LEVELS)) for _ in ids]
    expected = f"'shdiqa4', 'all' or distinct level indices (ints) in 0..{N_LEVELS - 1}"
    if isinstance(levels, str) or not isinstance(levels, Sequence):
        raise ValueError(f"BlockDegradation: levels must be {expected}, got {levels!r}")
    levels = tuple(levels)
    if (not levels or any(isinstance(lv, bool) or not isinstance(lv, numbers.Integral) or not 0 <= lv < N_LEVELS
                          for lv in levels) or len(set(levels)) != len(levels)):
        raise ValueError(f"BlockDegradation: levels must be {expected}, got {levels!r}")
    return [tuple(int(lv) for lv in levels) for _ in ids]


def _min_regions(ids: tuple[int, ...]) -> Tensor:
    """int64 Tensor[n_types, 2]: the smallest region (height, width) each type's operator accepts
    (``DistortionSpec.min_region``, from ``registry.MIN_REGION``)."""
    return torch.tensor([SPECS[i].min_region for i in ids], dtype=torch.int64).view(len(ids), 2)


class BlockDegradation(nn.Module):
    """Distorts the blocks of each image with distinct types (SHDIQA's BDM).

    Each sample draws ``n_blocks`` distinct types uniformly without replacement, one per block
    (row-major), and for each a level label uniformly from the kept levels.

    **Types that cannot fit the blocks are not drawn.** Some operators need a minimum region
    (``registry.MIN_REGION``: non_eccentricity needs 49×49 pixels); the region is the block
    in both block modes. Per call, a type is drawn only if it fits every block of the partition
    at this image size, so the type distribution depends on the image size only where a type
    cannot fit (e.g. the default vertical split of a 64×64 crop never draws non_eccentricity;
    224×224 crops draw all 24 types). When fewer types fit than there are blocks the call is
    refused, naming the image size, the partition and each type's minimum. Labels are the ids
    of the types drawn, as always.

    Args:
        partition: ``"vertical"`` (default: 2 blocks side by side, split by a vertical line),
            ``"horizontal"``, ``"grid2x2"`` or (rows, cols).
        types: Type list to draw from: ``"shdiqa24"`` (default), ``"reiqa26"``, ``"arniqa24"``
            or a sequence of distinct type ids / names (``registry.spec``), each defined in
            ``preset``.
        levels: ``"shdiqa4"`` (default: the four levels of DISTORTIONS.md §10.3 [PROPOSAL],
            labels 0..3), ``"all"`` (0..4) or a sequence of distinct level indices kept for
            every type (label i = the i-th of them).
        preset: Level tables: ``"reiqa"`` (default), ``"kadis"``, ``"arniqa"``.
        block_mode: ``"composite"`` (default) or ``"crop"`` (DISTORTIONS.md §8.5).
        max_per_block: 1 (default) or 2: with 2, each block follows Re-IQA's chain rule
            (§8.1): with probability ``chain_prob`` a second random type is applied after the
            first at a level in 0..the first's [PROPOSAL]. Labels name the first distortion.
            The second type is drawn from the types that fit, too.
        chain_prob: Probability of a chain when ``max_per_block = 2`` (Re-IQA: 0.1).
        patch_size: Token size of the block map (16 for ViT-S/16).
        backend: ``distort``'s backend.

    Raises:
        TypeError: A type entry is neither an int nor a str (bools included), or an option has
            the wrong type.
        ValueError: An unknown type id or name (the entry is named), a repeated type, a type the
            preset does not define, fewer types than blocks, bad levels or options.

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
        ids = _type_ids(types, preset)
        self.n_blocks = self.partition[0] * self.partition[1]
        if self.n_blocks > len(ids):
            raise ValueError(f"BlockDegradation: {self.n_blocks} blocks need as many distinct types, "
                             f"the type list has {len(ids)}")
        self.type_ids = ids
        kept = _kept_levels(levels, ids)
        # Host tensors, not buffers: sampling stays on the CPU when the module moves to a GPU, so a
        # step never waits for the device.
        self._types = torch.tensor(ids, dtype=torch.int64)
        self._kept_levels = torch.tensor(kept, dtype=torch.int64)
        self._min_region = _min_regions(ids)
        if isinstance(max_per_block, bool) or max_per_block not in (1, 2):
            raise ValueError(f"BlockDegradation: max_per_block must be 1 or 2, got {max_per_block!r}")
        if isinstance(chain_prob, bool) or not isinstance(chain_prob, numbers.Real):
            raise TypeError(f"BlockDegradation: chain_prob must be a real number, got {type(chain_prob).__name__}")
        if not 0.0 <= chain_prob <= 1.0:
            raise ValueError(f"BlockDegradation: chain_prob must be in [0, 1], got {chain_prob}")
        if block_mode not in ("composite", "crop"):
            raise ValueError(f"BlockDegradation: block_mode must be 'composite' or 'crop', got {block_mode!r}")
        if isinstance(patch_size, bool) or not isinstance(patch_size, numbers.Integral):
            raise TypeError(f"BlockDegradation: patch_size must be an int, got {type(patch_size).__name__}")
        if patch_size < 1:
            raise ValueError(f"BlockDegradation: patch_size must be >= 1, got {patch_size}")
        self.block_mode, self.max_per_block, self.chain_prob = block_mode, int(max_per_block), float(chain_prob)
        self.patch_size, self.backend = int(patch_size), backend

    @property
    def n_levels(self) -> int:
        """Number of level labels (4 with ``levels="shdiqa4"``)."""
        return self._kept_levels.shape[1]

    def fitting_types(self, height: int, width: int) -> Tensor:
        """bool Tensor[n_types]: which of ``type_ids`` fit every block of a ``height × width`` image.

        Raises:
            ValueError: Fewer types fit than there are blocks (the message names the image size,
                the partition, the block size and each too-large type's minimum region).
        """
        for name, size in (("height", height), ("width", width)):
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"BlockDegradation: image {name} must be a positive int, got {size!r}")
        bounds = block_bounds(height, width, self.partition)
        block_h = min(y1 - y0 for y0, y1, _, _ in bounds)
        block_w = min(x1 - x0 for _, _, x0, x1 in bounds)
        fits = (self._min_region[:, 0] <= block_h) & (self._min_region[:, 1] <= block_w)
        n_fit = int(fits.sum())
        if n_fit < self.n_blocks:
            too_large = ", ".join(f"{SPECS[t].name} needs {'×'.join(map(str, SPECS[t].min_region))}"
                                  for t, ok in zip(self.type_ids, fits.tolist(), strict=True) if not ok)
            rows, cols = self.partition
            raise ValueError(f"BlockDegradation: a {height}×{width} image split into {rows}×{cols} blocks has blocks "
                             f"of {block_h}×{block_w} pixels (the smallest); {too_large}, so only {n_fit} of the "
                             f"{len(self.type_ids)} types fit, fewer than the {self.n_blocks} distinct types the "
                             "blocks need")
        return fits

    def sample(self, batch_size: int, generator: torch.Generator | None = None, *,
               image_size: tuple[int, int] | None = None) -> tuple[DistortionParams, Tensor, Tensor]:
        """Draws (params, type_labels, level_labels) for a batch without applying them.

        Args:
            batch_size: B.
            generator: Draws types, levels and the Philox seed (torch's global one if None).
            image_size: (H, W) of the images the record is for: only the types that fit their
                blocks are drawn (:meth:`fitting_types`). None draws from every type, which
                ``distort`` refuses on images whose blocks are too small for one of them.

        Returns:
            The :class:`DistortionParams` record (B, n_blocks, max_per_block), and int64
            Tensor[B, n_blocks] type and level labels.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 0:
            raise ValueError(f"BlockDegradation: batch_size must be an int >= 0, got {batch_size!r}")
        n_types = len(self.type_ids)
        if image_size is None:
            fits = torch.ones(n_types, dtype=torch.bool)
        else:
            if not (isinstance(image_size, Sequence) and len(image_size) == 2):
                raise ValueError(f"BlockDegradation: image_size must be (height, width), got {image_size!r}")
            fits = self.fitting_types(*image_size)
        scores = torch.rand(batch_size, n_types, generator=generator)
        if not bool(fits.all()):  # types that do not fit sort last: never among the first n_blocks
            scores = scores.masked_fill(~fits, 2.0)
        choice = scores.argsort(dim=1)[:, : self.n_blocks]
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
        fitting = self._types[fits]
        chained = torch.rand(batch_size, self.n_blocks, generator=generator) < self.chain_prob
        level2 = (torch.rand(batch_size, self.n_blocks, generator=generator) * (levels + 1)).long()
        second = fitting[torch.randint(0, len(fitting), (batch_size, self.n_blocks), generator=generator)]
        types = torch.stack([type_labels, torch.where(chained, second, -1)], dim=-1)
        all_levels = torch.stack([levels, torch.where(chained, level2, -1)], dim=-1)
        params = sample_params(types, all_levels, preset=self.preset, partition=self.partition, seed=seed)
        return params, type_labels, level_labels

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> BlockDegradationOutput:
        """Distorts a batch.

        Args:
            x: Tensor[B, 3, H, W] RGB in [0, 1] (uint8 accepted; ``distort``'s dtypes), H and W
                multiples of ``patch_size`` for the block map.
            generator: Draws types, levels and the Philox seed (torch's global one if None).

        Raises:
            TypeError: x is not a tensor (``distort`` checks its dtype).
            ValueError: x is not (B, 3, H, W), H or W is not a multiple of ``patch_size``, or
                fewer types fit the blocks of an H×W image than there are blocks.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"BlockDegradation: x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"BlockDegradation: x must have shape (B, 3, H, W), got {tuple(x.shape)}")
        height, width = x.shape[2], x.shape[3]
        if height % self.patch_size or width % self.patch_size or height == 0 or width == 0:
            raise ValueError(f"BlockDegradation: H and W must be positive multiples of patch_size = "
                             f"{self.patch_size} (one block id per token), got {height}×{width}")
        params, type_labels, level_labels = self.sample(x.shape[0], generator, image_size=(height, width))
        from pyiqa_fast.ops.distort import distort

        degraded = distort(x, params, block_mode=self.block_mode, backend=self.backend)
        block_map = token_block_map(height, width, self.partition, self.patch_size)
        block_map = to_device(block_map, x.device).expand(x.shape[0], -1, -1).contiguous()
        return BlockDegradationOutput(degraded, block_map, to_device(type_labels, x.device),
                                      to_device(level_labels, x.device), params)

    def extra_repr(self) -> str:
        return (f"partition={self.partition}, types={len(self.type_ids)}, levels={self.n_levels}, "
                f"preset={self.preset!r}, block_mode={self.block_mode!r}, max_per_block={self.max_per_block}")
