"""Loading of the compiled extension ``pyiqa_fast._C``.

``_C`` is imported lazily, on the first op that needs it, always after torch. When it is
missing (a pure-Python install) or broken (built against another torch), every C++ backend
reports the reason and the ``reference`` backend still works.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
import warnings
from types import ModuleType
from typing import Any

import torch

_lock = threading.RLock()
_module: ModuleType | None = None
_info: dict[str, Any] = {}
_error: str | None = None
_loaded = False
_warned_fallback = False

_REBUILD_HINT = "rebuild with `pip install --no-build-isolation -e .` (or `make build`) against this torch"


def load_native() -> ModuleType | None:
    """Imports ``pyiqa_fast._C`` once and returns it, or ``None`` if it cannot be imported."""
    global _module, _info, _error, _loaded
    if _loaded:
        return _module
    with _lock:
        if _loaded:
            return _module
        try:
            module = importlib.import_module("pyiqa_fast._C")
        except ImportError as exc:
            _error = f"pyiqa_fast._C is not importable ({exc}); {_REBUILD_HINT}"
        else:
            info = module.build_info()
            built = info.get("torch_version")
            if built != torch.__version__:
                _error = (
                    f"pyiqa_fast._C was built against torch {built} but torch {torch.__version__} "
                    f"is running; {_REBUILD_HINT}"
                )
            else:
                _module, _info = module, info
                # Fake kernels and autocast policies of the C++ ops live in Python.
                importlib.import_module("pyiqa_fast.ops._registrations").register_cpp_ops()
        _loaded = True  # last: the fast path above must never see a half-registered module
    return _module


def build_info() -> dict[str, Any]:
    """The build information of ``_C`` (versions, options, compiled kernels).

    Returns ``{"available": False, "reason": ...}`` when ``_C`` cannot be loaded.
    """
    if load_native() is None:
        return {"available": False, "reason": _error}
    return {"available": True, **_info}


def constant_under_compile(fn):
    """Marks ``fn`` as ``torch.compiler.assume_constant_result`` does, without importing
    ``torch._dynamo`` (and with it Triton) when pyiqa_fast is imported.

    For process-constant answers (availability): torch.compile calls ``fn`` once while tracing
    and keeps the result instead of tracing into the import machinery and pybind11.
    """
    fn._dynamo_marked_constant = True
    return fn


@constant_under_compile
def has_triton() -> tuple[bool, str]:
    """Whether Triton kernels can run here: Triton importable, and a GPU or the interpreter."""
    import os

    if importlib.util.find_spec("triton") is None:
        return False, "triton is not installed (pip install triton)"
    interpreter = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
    if not torch.cuda.is_available() and not interpreter:
        return False, "no CUDA device is available and TRITON_INTERPRET is not set"
    return True, ""


@constant_under_compile
def has_cpu_kernels(op: str) -> tuple[bool, str]:
    """Whether the CPU kernel of ``op`` is compiled in, and why not."""
    if load_native() is None:
        return False, str(_error)
    if op not in _info["cpu_kernels"]:
        return False, f"pyiqa_fast._C was built without a CPU kernel for {op}; {_REBUILD_HINT}"
    return True, ""


@constant_under_compile
def has_cuda_kernels(op: str) -> tuple[bool, str]:
    """Whether the CUDA kernel of ``op`` is compiled in and a CUDA device is visible."""
    if load_native() is None:
        return False, str(_error)
    info = _info
    if not info["with_cuda"]:
        return False, (
            'pyiqa_fast._C was built without CUDA kernels (build_info()["with_cuda"] is False); '
            "rebuild with PYIQA_FAST_CUDA=ON"
        )
    if op not in info["cuda_kernels"]:
        return False, f"pyiqa_fast._C was built without a CUDA kernel for {op}"
    if not torch.cuda.is_available():
        return False, "no CUDA device is available (torch.cuda.is_available() is False)"
    major, minor = torch.cuda.get_device_capability()
    device_arch = 10 * major + minor
    archs = [a.split("-") for a in (info.get("cuda_archs") or "").split(",") if a]
    real = {int(a[0]) for a in archs if a[-1] != "virtual"}
    virtual = {int(a[0]) for a in archs if a[-1] == "virtual"}  # PTX: JIT-compiled for newer GPUs
    if device_arch not in real and not any(v <= device_arch for v in virtual):
        return False, (
            f"pyiqa_fast._C has CUDA code for {info['cuda_archs']}, the device is sm_{device_arch}; "
            f'rebuild with TORCH_CUDA_ARCH_LIST="{major}.{minor}"'
        )
    return True, ""


def warn_reference_fallback(op: str) -> None:
    """Says once per process that ``auto`` ran the reference because ``_C`` is missing."""
    global _warned_fallback
    if _warned_fallback or _error is None:
        return
    _warned_fallback = True
    warnings.warn(
        f"pyiqa_fast: {op} runs on the slow reference backend: {_error}",
        RuntimeWarning,
        stacklevel=3,
    )
