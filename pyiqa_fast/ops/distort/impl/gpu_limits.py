"""What the GPU backends of ``distort`` (cuda, triton) refuse, shared by both records."""

from __future__ import annotations

from torch import Tensor

from pyiqa_fast.distortions.registry import SPECS

# (type, preset) pairs no GPU kernel computes: kadis' denoise (MATLAB's DnCNN) and quantization
# (multi-level Otsu) are reference-only; reiqa quantization is undefined.
PRESET_GAPS = frozenset({(SPECS[18].id, "kadis"), (SPECS[27].id, "kadis"), (SPECS[27].id, "reiqa")})


def unsupported(name: str, kernels: frozenset[int], types: Tensor | None = None, preset: str = "reiqa",
                compat: bool = False, **_) -> list[str]:
    """Reasons a GPU backend called ``name`` with kernels for the type ids ``kernels`` refuses a table."""
    reasons = []
    if compat:
        reasons.append("compat=True (the reference bugs) is implemented by the reference and cpu backends only")
    if types is None:
        return reasons
    present = {t for t in types.unique().tolist() if t >= 0}
    gaps = sorted(t for t in present if (t, preset) in PRESET_GAPS)
    missing = sorted(present - kernels - set(gaps))
    if missing:
        reasons.append(f"has no {name} kernel for {', '.join(SPECS[t].name for t in missing)}")
    if gaps:
        reasons.append(f"has no {preset} {name} kernel for {', '.join(SPECS[t].name for t in gaps)}")
    return reasons
