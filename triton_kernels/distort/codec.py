"""codec class of the distortion kernels (DISTORTIONS.md §6)."""

from __future__ import annotations

LAUNCHERS: dict = {}
