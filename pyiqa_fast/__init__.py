"""pyiqa_fast: fused kernels, models and trainers for distortion-aware blind IQA.

Importing the package imports torch only: ``_C``, Triton and model dependencies load on first
use.
"""

from __future__ import annotations

from pyiqa_fast._backends import (
    BackendUnavailableError,
    get_default_backend,
    set_default_backend,
)
from pyiqa_fast._native import build_info

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "__version__",
    "build_info",
    "distortions",
    "get_default_backend",
    "losses",
    "metrics",
    "models",
    "ops",
    "set_default_backend",
]


def __getattr__(name: str):
    # Lazy submodules keep `import pyiqa_fast` cheap.
    if name in ("ops", "losses", "distortions", "metrics", "models"):
        import importlib

        return importlib.import_module(f"pyiqa_fast.{name}")
    raise AttributeError(f"module 'pyiqa_fast' has no attribute {name!r}")
