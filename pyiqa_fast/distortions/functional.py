"""One distortion type as a module: ``create_distortion(name, preset=..., levels=...)``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyiqa_fast.distortions.params import DistortionParams, sample_params
from pyiqa_fast.distortions.registry import N_LEVELS, check_preset, spec


class Distortion(nn.Module):
    """Applies one distortion type to whole images, at a fixed level or a random one per sample.

    Args:
        name: Distortion name or id (``list_distortions()``).
        preset: ``"reiqa"`` (default), ``"kadis"`` or ``"arniqa"``.
        levels: Level indices to draw from per sample (default all five), or one int (fixed).
        backend: ``distort``'s backend.
    """

    def __init__(self, name: str | int, preset: str = "reiqa", levels: int | tuple[int, ...] | None = None,
                 backend: str = "auto") -> None:
        super().__init__()
        self.spec = spec(name)
        self.preset = check_preset(preset)
        self.spec.values(preset)  # raises if the preset does not define the type
        levels = tuple(range(N_LEVELS)) if levels is None else ((levels,) if isinstance(levels, int) else tuple(levels))
        if not levels or any(isinstance(v, bool) or not 0 <= v < N_LEVELS for v in levels):
            raise ValueError(f"create_distortion: levels must be indices in 0..{N_LEVELS - 1}, got {levels!r}")
        self.levels, self.backend = levels, backend

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> DistortionParams:
        """A parameter record for a batch (levels drawn uniformly from ``levels``)."""
        choice = torch.randint(0, len(self.levels), (batch_size,), generator=generator)
        levels = torch.tensor(self.levels)[choice]
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return sample_params(torch.full((batch_size,), self.spec.id), levels, preset=self.preset, seed=seed)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Tensor[B, 3, H, W] → the distorted batch (same dtype)."""
        from pyiqa_fast.ops.distort import distort

        return distort(x, self.sample(x.shape[0], generator), backend=self.backend)

    def extra_repr(self) -> str:
        return f"{self.spec.name!r}, preset={self.preset!r}, levels={self.levels}"


def create_distortion(name: str | int, preset: str = "reiqa", levels: int | tuple[int, ...] | None = None,
                      backend: str = "auto") -> Distortion:
    """The :class:`Distortion` module of one type (DISTORTIONS.md §10.6).

    Raises:
        ValueError: Unknown name, a preset that does not define the type, or bad levels.
    """
    return Distortion(name, preset=preset, levels=levels, backend=backend)
