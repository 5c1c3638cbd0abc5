"""Environment report: versions, devices, build information, backend availability per op."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from typing import Any

import torch

from pyiqa_fast import __version__, _native, ops


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect_env() -> dict[str, Any]:
    """Everything ``pyiqa-fast env`` prints, as a JSON-serialisable dict."""
    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(index)
            devices.append({"index": index, "name": torch.cuda.get_device_name(index),
                            "compute_capability": f"{major}.{minor}"})
    return {
        "pyiqa_fast": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": devices,
        "cpu_threads": torch.get_num_threads(),
        "triton": _version("triton"),
        "numpy": _version("numpy"),
        "build_info": _native.build_info(),
        "backends": {
            op: {name: {"available": ok, "reason": why} for name, (ok, why) in ops.available_backends(op).items()}
            for op in ops.list_ops()
        },
    }


def format_env(env: dict[str, Any]) -> str:
    """Human-readable form of :func:`collect_env`."""
    lines = [
        f"pyiqa_fast {env['pyiqa_fast']}   python {env['python']}   {env['platform']}",
        f"torch {env['torch']} (CUDA {env['torch_cuda'] or 'none'})   triton {env['triton'] or 'not installed'}"
        f"   numpy {env['numpy'] or 'not installed'}   CPU threads {env['cpu_threads']}",
    ]
    if env["cuda_devices"]:
        lines += [f"GPU {d['index']}: {d['name']} (compute capability {d['compute_capability']})"
                  for d in env["cuda_devices"]]
    else:
        lines.append("GPU: none visible (torch.cuda.is_available() is False)")
    info = env["build_info"]
    if info.get("available"):
        lines.append("build: " + ", ".join(f"{k}={v}" for k, v in info.items() if k != "available"))
    else:
        lines.append(f"build: pyiqa_fast._C unavailable, only the reference backends run — {info['reason']}")
    lines.append("")
    width = max(len(op) for op in env["backends"])
    for op, backends in env["backends"].items():
        for i, (name, state) in enumerate(backends.items()):
            mark = "yes" if state["available"] else "no "
            reason = "" if state["available"] else f"  ({state['reason']})"
            lines.append(f"{op if i == 0 else '':<{width}}  {name:<9} {mark}{reason}")
    return "\n".join(lines)
