"""Reference operators, stencil class (DISTORTIONS.md §6)."""

from __future__ import annotations
