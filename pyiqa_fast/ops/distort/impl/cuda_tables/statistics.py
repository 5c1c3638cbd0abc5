"""Host-built tables of the statistics class CUDA kernels (see the package docstring)."""

from __future__ import annotations

TABLES: dict = {}
