"""Reference operators, codec class (DISTORTIONS.md §6)."""

from __future__ import annotations
