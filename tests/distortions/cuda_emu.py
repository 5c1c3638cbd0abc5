"""The distort CUDA kernels on the CPU: ``csrc/kernels/distort/*_cuda.cu`` compiled as host C++ with
``tools/cuda_host_emu/cuda_runtime.h`` (every block on std::threads, ``__syncthreads`` as a
barrier) into a shared library, called through ctypes by the shared GPU schedule.

This checks the kernels' index arithmetic and algorithms against the reference on GPU-less
machines; timing and device numerics are the GPU run's job, and compute-sanitizer's there.
``PYIQA_FAST_EMU_SANITIZE=address`` or ``thread`` builds the library with that sanitizer, the
closest host stand-ins for memcheck and racecheck (threads of a block race on shared memory
exactly when a ``__syncthreads`` is missing); run with the runtime preloaded and without the
tests that import Triton (its extension does not start under ASan)::

    PYIQA_FAST_EMU_SANITIZE=thread LD_PRELOAD=$(gcc -print-file-name=libtsan.so) \
        python -m pytest tests/distortions -k "emulated and not vectors and not many_tiles and not one_tap"
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
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


STUB = """#include "kernels/distort/distort_cuda.h"
namespace pyiqa_fast::distort {
const CudaClass k%sCuda{[](int32_t) { return false; }, [](const GroupArgs&) -> size_t { return 0; },
                        [](const GroupArgs&, cudaStream_t) { return Status::kUnsupportedDType; }};
}
"""


def _compile(source: Path, flags: list[str], out_dir: Path, header_digest: str) -> tuple[Path | None, str]:
    """One object per source (cached by its text and the headers'); (None, compiler output) on failure."""
    digest = hashlib.sha256(source.read_bytes() + header_digest.encode()).hexdigest()[:16]
    obj = out_dir / f"{source.stem}_{digest}.o"
    if obj.exists():
        return obj, ""
    tmp = obj.with_suffix(f".{os.getpid()}.tmp")
    cmd = ["g++", *flags, "-c", "-x", "c++", str(source), "-o", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        return None, f"{' '.join(cmd)}\n{result.stderr[-6000:]}"
    tmp.replace(obj)
    return obj, ""


@functools.cache
def library() -> tuple[ctypes.CDLL | None, str]:
    """(the emulated library, "") or (None, why it cannot be built here).

    A kernel file that does not compile raises, unless ``PYIQA_FAST_EMU_TOLERANT=1`` (kernels being
    written in parallel): then its class is replaced by a stub without types, and a warning says so.
    """
    if shutil.which("g++") is None:
        return None, "g++ is not installed"
    if not (CUDA_INCLUDE / "cuda_fp16.h").exists():
        return None, f"the CUDA headers are not in {CUDA_INCLUDE}"
    headers = sorted((ROOT / "csrc").rglob("*.h")) + [EMU / "cuda_runtime.h"]
    header_digest = hashlib.sha256(b"".join(p.read_bytes() for p in headers)).hexdigest()
    out_dir = Path(tempfile.gettempdir()) / "pyiqa_fast_cuda_emu"
    out_dir.mkdir(exist_ok=True)
    flags = ["-std=c++20", "-O1", "-fPIC", "-DPYIQA_FAST_CUDA_HOST_EMU=1", "-I", str(EMU), "-I", str(ROOT / "csrc"),
             "-isystem", str(CUDA_INCLUDE), "-include", str(EMU / "cuda_runtime.h")]
    sanitizer = os.environ.get("PYIQA_FAST_EMU_SANITIZE")  # address | thread: see tools/cuda_host_emu
    if sanitizer:
        flags += [f"-fsanitize={sanitizer}", "-g", "-fno-omit-frame-pointer"]
        header_digest += sanitizer
    if os.environ.get("PYIQA_FAST_EMU_FMA") == "1":  # contract a*b + c into FMAs, as nvcc does by default
        flags += ["-mfma", "-ffp-contract=fast"]
        header_digest += "fma"
    objects = []
    for source in _sources():
        obj, error = _compile(source, flags, out_dir, header_digest)
        if obj is None:
            cls = source.stem.removeprefix("distort_").removesuffix("_cuda")
            if os.environ.get("PYIQA_FAST_EMU_TOLERANT") != "1" or cls == source.stem or source.suffix != ".cu":
                raise RuntimeError(f"building the emulated CUDA kernels failed:\n{error}")
            warnings.warn(f"cuda_emu: {source.name} does not compile; its types are left out:\n{error[-2000:]}",
                          stacklevel=2)
            stub = out_dir / f"stub_{cls}.cpp"
            stub.write_text(STUB % cls.capitalize())
            obj, error = _compile(stub, flags, out_dir, header_digest)
            assert obj is not None, error
        objects.append(obj)
    lib = out_dir / f"distort_emu_{hashlib.sha256(''.join(map(str, objects)).encode()).hexdigest()[:16]}.so"
    if not lib.exists():
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        link = [f"-fsanitize={sanitizer}"] if sanitizer else []
        result = subprocess.run(["g++", "-shared", *link, *map(str, objects), "-o", str(tmp), "-lpthread"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"linking the emulated CUDA kernels failed:\n{result.stderr[-6000:]}")
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
