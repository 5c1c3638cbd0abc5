"""Host-built tables of the statistics class CUDA kernels (see the package docstring).

color_shift (id 22, ``distort_statistics_cuda.cu``):

- ftable float64 [N, 2r + 1]: the normalised sampled Gaussian taps (σ = 4; r = 16 reiqa, 8 kadis
  and arniqa), exactly as the reference's ``gaussian_replicate`` builds them;
- itable int64 [N, 2]: the integer shift vector (s₀ rows, s₁ columns) of
  :func:`pyiqa_fast.distortions.filters.color_shift_vector`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast.distortions.filters import color_shift_vector

SIGMA = 4.0


def gaussian_taps(radius: int, sigma: float = SIGMA) -> Tensor:
    """The 2·radius + 1 normalised taps of the reference's ``gaussian_replicate`` (float64)."""
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2 / (2 * sigma * sigma))
    return taps / taps.sum()


def color_shift_tables(group) -> tuple[Tensor, Tensor]:
    n = group.size
    taps = gaussian_taps(16 if group.preset == "reiqa" else 8)
    ftable = taps.view(1, -1).expand(n, -1).contiguous()
    aux, values = group.host_aux, group.host_values
    itable = torch.tensor([color_shift_vector(aux[i], float(values[i])) for i in range(n)],
                          dtype=torch.int64).view(n, 2)
    return ftable, itable


TABLES: dict = {22: color_shift_tables}
