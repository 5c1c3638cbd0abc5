"""The distort CUDA kernels on the CPU: ``csrc/kernels/distort/*_cuda.cu`` compiled as host C++ with
``tools/cuda_host_emu/cuda_runtime.h`` (every block on std::threads, ``__syncthreads`` as a
barrier) into a shared library, called through ctypes by the shared GPU schedule.

This checks the kernels' index arithmetic and algorithms against the reference on GPU-less
machines; races, timing and device numerics are the GPU run's and compute-sanitizer's job.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from pyiqa_fast.distortions.registry import PRESET_IDS
from pyiqa_fast.ops.distort.impl import schedule
from pyiqa_fast.ops.distort.impl.cuda import group_maxima, launcher

ROOT = Path(__file__).resolve().parents[2]
EMU = ROOT / "tools" / "cuda_host_emu"
CUDA_INCLUDE = Path("/usr/local/cuda/include")


def _sources() -> list[Path]:
    return sorted((ROOT / "csrc" / "kernels" / "distort").glob("*_cuda.cu")) + [EMU / "distort_capi.cpp"]


@functools.cache
def library() -> tuple[ctypes.CDLL | None, str]:
    """(the emulated library, "") or (None, why it cannot be built here)."""
    if shutil.which("g++") is None:
        return None, "g++ is not installed"
    if not (CUDA_INCLUDE / "cuda_fp16.h").exists():
        return None, f"the CUDA headers are not in {CUDA_INCLUDE}"
    headers = sorted((ROOT / "csrc").rglob("*.h")) + [EMU / "cuda_runtime.h"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in _sources() + headers)).hexdigest()[:16]
    out_dir = Path(tempfile.gettempdir()) / "pyiqa_fast_cuda_emu"
    out_dir.mkdir(exist_ok=True)
    lib = out_dir / f"distort_emu_{digest}.so"
    if not lib.exists():
        flags = ["-std=c++20", "-O1", "-fPIC", "-DPYIQA_FAST_CUDA_HOST_EMU=1", "-I", str(EMU), "-I",
                 str(ROOT / "csrc"), "-isystem", str(CUDA_INCLUDE), "-include", str(EMU / "cuda_runtime.h")]
        tmp = lib.with_suffix(f".{id(lib)}.tmp")
        cmd = ["g++", *flags, "-shared", "-x", "c++", *map(str, _sources()), "-o", str(tmp), "-lpthread"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the emulated CUDA kernels failed:\n{' '.join(cmd)}\n{result.stderr[-6000:]}")
        tmp.replace(lib)
    return ctypes.CDLL(str(lib)), ""


def _ptr(t: torch.Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr() if t is not None and t.numel() else 0)


def run_group_emulated(group: schedule.Group, ftable: torch.Tensor | None, itable: torch.Tensor | None) -> None:
    lib, why = library()
    assert lib is not None, why
    ftable = None if ftable is None else ftable.to(torch.float64).contiguous()
    itable = None if itable is None else itable.to(torch.int64).contiguous()
    entries = group.entries.contiguous()
    values = group.values.contiguous()
    aux = group.aux.contiguous()
    i64 = ctypes.c_int64
    status = lib.emu_distort_group(
        _ptr(group.src), _ptr(group.dst), ctypes.c_int(group.src.dtype == torch.float64), _ptr(entries),
        _ptr(values), _ptr(aux), _ptr(ftable), _ptr(itable), i64(0 if ftable is None else ftable.shape[1]),
        i64(0 if itable is None else itable.shape[1]), i64(group.size), ctypes.c_int(group.type_id),
        ctypes.c_int(PRESET_IDS[group.preset]), *map(i64, group_maxima(group)))
    assert status == 0, f"emulated CUDA launch of type {group.type_id} returned status {status}"


def emulated_types() -> frozenset[int]:
    lib, _ = library()
    return frozenset(t for t in range(29) if lib is not None and lib.emu_distort_has_type(t))


def distort_emulated(x: torch.Tensor, params, block_mode: str = "composite") -> torch.Tensor:
    """``distort`` of CPU tensors through the emulated CUDA kernels (the cuda backend's schedule)."""
    launch = launcher(run_group_emulated)
    rows, cols = params.partition
    return schedule.run(x, params.types, params.values, params.seeds, params.aux, rows, cols,
                        PRESET_IDS[params.preset], block_mode == "crop", False, {t: launch for t in emulated_types()})
