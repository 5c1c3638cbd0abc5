"""Atomic checkpoints, RNG state capture, and compatibility checks.

Files are written to a temporary file in the destination directory, flushed, ``fsync``-ed and
renamed over the destination (``os.replace``, atomic on POSIX), then the directory is ``fsync``-ed:
a run killed at any point leaves either the previous checkpoint or the new one, never a torn file.
Checkpoints load with ``torch.load(weights_only=True)``: they hold only tensors and plain Python data.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tempfile
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckpointMismatchError", "atomic_write_bytes", "save_checkpoint", "load_checkpoint",
    "capture_rng_state", "restore_rng_state", "model_fingerprint", "check_compatible", "FORMAT_VERSION",
]

FORMAT_VERSION = 1


class CheckpointMismatchError(RuntimeError):
    """A checkpoint that belongs to another model or config; the message lists the differences."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename + directory fsync).

    Args:
        path: Destination; its directory is created if needed.
        data: File content.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Serialise ``state`` with ``torch.save`` and write it atomically to ``path``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        FileNotFoundError: No file at ``path``.
        RuntimeError: The file is not a readable checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise RuntimeError(f"cannot read checkpoint {path}: {e}") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise RuntimeError(f"{path} is not a pyiqa_fast training checkpoint (format {FORMAT_VERSION})")
    return state


def capture_rng_state() -> dict[str, Any]:
    """Torch (CPU and every CUDA device), NumPy legacy global and Python ``random`` states."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "key": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_fingerprint(model: torch.nn.Module) -> dict[str, Any]:
    """Class name, parameter count and a hash of the state-dict keys and shapes."""
    sd = model.state_dict()
    spec = [(k, list(v.shape), str(v.dtype)) for k, v in sd.items()]
    digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]
    return {"class": type(model).__name__, "numel": int(sum(v.numel() for v in sd.values())),
            "structure_sha": digest}


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def check_compatible(ckpt: dict[str, Any], identity: dict[str, Any], model: torch.nn.Module | None = None,
                     path: str = "checkpoint") -> None:
    """Refuse a checkpoint whose model or training-relevant config differs.

    Args:
        ckpt: A loaded checkpoint.
        identity: The current run's identity (the ``"identity"`` entry a checkpoint stores: model
            fingerprint plus the config fields that change the result).
        model: If given, also compare state-dict keys and shapes and list the first differences.
        path: Name used in the message.

    Raises:
        CheckpointMismatchError: Listing each differing field as ``key: checkpoint=…, current=…``.
    """
    theirs, ours = _flatten(ckpt.get("identity", {})), _flatten(identity)
    diffs = [f"{k}: checkpoint={theirs.get(k, '<absent>')!r}, current={ours.get(k, '<absent>')!r}"
             for k in sorted(set(theirs) | set(ours)) if theirs.get(k, "<absent>") != ours.get(k, "<absent>")]
    if model is not None and "model" in ckpt:
        cur = model.state_dict()
        saved = ckpt["model"]
        missing = [k for k in cur if k not in saved]
        extra = [k for k in saved if k not in cur]
        shapes = [f"{k} {list(saved[k].shape)} vs {list(cur[k].shape)}" for k in cur
                  if k in saved and saved[k].shape != cur[k].shape]
        if missing:
            diffs.append(f"parameters missing from checkpoint ({len(missing)}): {', '.join(missing[:5])}")
        if extra:
            diffs.append(f"unexpected parameters in checkpoint ({len(extra)}): {', '.join(extra[:5])}")
        if shapes:
            diffs.append(f"shape mismatches ({len(shapes)}): {'; '.join(shapes[:5])}")
    if diffs:
        raise CheckpointMismatchError(f"refusing to resume from {path}: it was written by another model or "
                                      "config:\n  " + "\n  ".join(diffs))
