"""What differs between a saved state dict and a model's: the one description every loader uses
(``models.load_checkpoint``, resuming, ``eval``/``score``), so a mismatch reads the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SHOWN = 5  # keys listed per kind of difference


def state_dict_differences(saved: Mapping[str, Any], expected: Mapping[str, Any], shown: int = SHOWN) -> list[str]:
    """One string per kind of difference (missing, unexpected, other shape), each with its count
    and the first ``shown`` keys; empty when ``saved`` fits ``expected`` (e.g. ``model.state_dict()``)."""
    def listed(keys: list[str]) -> str:
        more = f", … (+{len(keys) - shown} more)" if len(keys) > shown else ""
        return ", ".join(keys[:shown]) + more

    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    shapes = [f"{k}: checkpoint {tuple(saved[k].shape)} vs model {tuple(expected[k].shape)}" for k in expected
              if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(expected[k].shape)]
    diffs = []
    if missing:
        diffs.append(f"{len(missing)} missing keys ({listed(missing)})")
    if unexpected:
        diffs.append(f"{len(unexpected)} unexpected keys ({listed(unexpected)})")
    if shapes:
        diffs.append(f"{len(shapes)} shape mismatches ({listed(shapes)})")
    return diffs
