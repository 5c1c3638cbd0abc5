"""CUDA backend of ``distort``: the shared GPU schedule (``schedule.py``) with one launcher for every
type, the private C++ op ``pyiqa_fast::_distort_cuda_group`` (kernels in
``csrc/kernels/distort/distort_<class>_cuda.cu``), registered as the CUDA kernel of
``pyiqa_fast::distort`` so that ``torch.compile`` sees one opaque op."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import Backend
from pyiqa_fast.distortions.registry import PRESET_IDS
from pyiqa_fast.ops.distort.impl import schedule
from pyiqa_fast.ops.distort.impl.cuda_tables import TABLES
from pyiqa_fast.ops.distort.impl.gpu_limits import unsupported

_EMPTY_F = torch.empty(0, dtype=torch.float64)
_EMPTY_I = torch.empty(0, dtype=torch.int64)


def run_group_on_device(group: schedule.Group, ftable: Tensor | None, itable: Tensor | None) -> None:
    """One launch group through ``_distort_cuda_group``."""
    device = group.src.device
    ftable = _EMPTY_F.to(device) if ftable is None else ftable.to(device, non_blocking=True)
    itable = _EMPTY_I.to(device) if itable is None else itable.to(device, non_blocking=True)
    torch.ops.pyiqa_fast._distort_cuda_group(group.src, group.dst, group.entries, group.values, group.aux, ftable,
                                             itable, group.type_id, PRESET_IDS[group.preset], group_maxima(group))


def group_maxima(group: schedule.Group) -> list[int]:
    """(max_h, max_w, max_out_h, max_out_w) of a group."""
    e = group.host_entries
    return [int(e[:, schedule.H].max()), int(e[:, schedule.W].max()),
            group.max_extent(schedule.OY0, schedule.OY1), group.max_extent(schedule.OX0, schedule.OX1)]


def launcher(run_group: Callable[[schedule.Group, Tensor | None, Tensor | None], None]) -> Callable:
    """A schedule launcher: builds the group's tables (``cuda_tables``), then ``run_group``."""

    def launch(group: schedule.Group) -> None:
        tables = TABLES.get(group.type_id)
        ftable, itable = tables(group) if tables is not None else (None, None)
        run_group(group, ftable, itable)

    return launch


def cuda_types() -> frozenset[int]:
    """Type ids with a CUDA kernel in this build (``_C.build_info()["distort_cuda_types"]``)."""
    ok, _ = _native.has_cuda_kernels("distort")
    return frozenset(_native.build_info().get("distort_cuda_types", ())) if ok else frozenset()


def run_schedule(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
                 preset: int, crop: bool, compat: bool) -> Tensor:
    launch = launcher(run_group_on_device)
    return schedule.run(x, types, values, seeds, aux, rows, cols, preset, crop, compat,
                        {t: launch for t in cuda_types()})


def distort(x: Tensor, types: Tensor, values: Tensor, seeds: Tensor, aux: Tensor, rows: int, cols: int,
            preset: int, crop: bool, compat: bool) -> Tensor:
    return torch.ops.pyiqa_fast.distort(x, types, values, seeds, aux, rows, cols, preset, crop, compat)


def _limits(**inputs) -> list[str]:
    return unsupported("CUDA", cuda_types(), **inputs)


BACKEND = Backend(
    name="cuda",
    run=distort,
    devices=("cuda",),
    dtypes=(torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64),
    supports_backward=False,
    deterministic=True,
    tolerances={torch.float32: (1e-5, 0.0), torch.float64: (1e-10, 0.0)},
    availability=lambda: _native.has_cuda_kernels("distort"),
    limits=_limits,
)
