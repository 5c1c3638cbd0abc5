"""CPU backend of ``distort``: the C++ kernels in ``_C`` (one pass over the batch)."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.distortions.registry import SPECS


def cpu_types() -> frozenset[int]:
    """Type ids with a C++ operator in this build (``_C.build_info()["distort_cpu_types"]``)."""
    ok, _ = _native.has_cpu_kernels("distort")
    return frozenset(_native.build_info().get("distort_cpu_types", ())) if ok else frozenset()


def distort(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
            preset: int, crop: bool, compat: bool) -> Tensor:
    return torch.ops.pyiqa_fast.distort(x, types, values, seeds, aux, rows, cols, preset, crop, compat)


# (type, preset) pairs no backend computes: kadis' denoise needs MATLAB's DnCNN. Refused here so
# that ``auto`` reaches the reference, whose error names the reason.
PRESET_GAPS = frozenset({(SPECS[18].id, "kadis")})


def _limits(types: Tensor | None = None, preset: str = "reiqa", compat: bool = False, **_) -> list[str]:
    if types is None:
        return []
    present = {t for t in types.unique().tolist() if t >= 0}
    missing = sorted(present - cpu_types())
    if missing:
        return [f"has no C++ kernel for {', '.join(SPECS[t].name for t in missing)}"]
    gaps = sorted(t for t in present if (t, preset) in PRESET_GAPS)
    if gaps:
        return [f"has no {preset} kernel for {', '.join(SPECS[t].name for t in gaps)}"]
    return []


BACKEND = Backend(
    name="cpu",
    run=distort,
    devices=("cpu",),
    dtypes=(torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=False,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 0.0), torch.float64: (1e-12, 0.0)},
    availability=lambda: _native.has_cpu_kernels("distort"),
    limits=_limits,
)
