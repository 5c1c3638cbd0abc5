"""Atomic checkpoints, RNG state capture, and compatibility checks.

Files are written to a temporary file in the destination directory, flushed, ``fsync``-ed and
renamed over the destination (``os.replace``, atomic on POSIX), then the directory is ``fsync``-ed:
a run killed at any point leaves either the previous checkpoint or the new one, never a torn file.
Checkpoints load with ``torch.load(weights_only=True)``: they hold only tensors and plain Python data.
:func:`load_checkpoint` refuses, with a one-line :class:`CheckpointError` naming the file, an empty or
truncated file, a file that is not a pyiqa_fast checkpoint, one that lacks an entry its user needs,
and weights or target statistics that are not finite (a diverged or corrupted run).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import tempfile
from typing import Any

import numpy as np
import torch

from pyiqa_fast.utils.state_dict import SHOWN as _SHOWN
from pyiqa_fast.utils.state_dict import state_dict_differences

__all__ = [
    "CheckpointError", "CheckpointMismatchError", "atomic_write_bytes", "save_checkpoint", "load_checkpoint",
    "capture_rng_state", "restore_rng_state", "model_fingerprint", "check_compatible",
    "FORMAT_VERSION", "WEIGHTS_KEYS", "RESUME_KEYS",
]

FORMAT_VERSION = 1

#: Entries of every checkpoint written by the trainer (``model_repeatNN.pt`` holds these and
#: ``target_stats``): what ``pyiqa-fast eval`` and ``score`` need.
WEIGHTS_KEYS = ("format", "identity", "model")
#: Entries a resumable ``checkpoints/last.pt`` holds besides :data:`WEIGHTS_KEYS` (and ``target_stats``).
RESUME_KEYS = ("config", "repeat", "step", "history", "completed_repeats", "epoch_loss_sum", "epoch_loss_count",
               "optimizer", "scaler", "rng")

class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: empty, unreadable, not a pyiqa_fast checkpoint, lacking
    entries, or holding non-finite weights; the message names the file and what is wrong."""


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


def _nonfinite(tensors: dict[str, Any]) -> list[str]:
    """``"name (k NaN, j inf of n)"`` for each floating-point tensor of ``tensors`` with non-finite values."""
    bad = []
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()) and not bool(t.isfinite().all()):
            n_nan = int(t.isnan().sum())
            bad.append(f"{name} ({n_nan} NaN, {int((~t.isfinite()).sum()) - n_nan} inf of {t.numel()})")
    return bad


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu",
                    require: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``) and check it.

    Args:
        path: The file.
        map_location: As for ``torch.load``.
        require: Entries the caller needs (e.g. :data:`WEIGHTS_KEYS`, :data:`RESUME_KEYS`); a
            checkpoint lacking any is refused, naming them.

    Returns:
        The checkpoint's dict.

    Raises:
        FileNotFoundError: No file at ``path``.
        CheckpointError: An empty (0-byte) or truncated/unreadable file, not a pyiqa_fast checkpoint
            (format :data:`FORMAT_VERSION`), a missing required entry, a ``"model"`` state dict with
            NaN/inf values (the first tensors named) or non-finite ``target_stats``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): truncated, or its writer was killed before "
                              "writing anything")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for bad files
        why = " ".join(str(e).split()) or type(e).__name__
        if len(why) > 300:  # weights_only refusals explain at length; keep the gist on one line
            why = why[:300] + " …"
        raise CheckpointError(f"cannot read checkpoint {path} ({size} bytes; truncated or not a torch.save file?): "
                              f"{why}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        found = f"format {state.get('format')!r}" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise CheckpointError(f"{path} is not a pyiqa_fast training checkpoint (format {FORMAT_VERSION}; it holds "
                              f"{found})")
    missing = [k for k in require if k not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks {', '.join(map(repr, missing))}: a training checkpoint (checkpoints/last.pt) "
            f"holds {', '.join(WEIGHTS_KEYS + RESUME_KEYS)}, target_stats; a model_repeatNN.pt file holds "
            f"{', '.join(WEIGHTS_KEYS)}, target_stats (was it edited, or written by another program?)")
    model = state.get("model")
    if model is not None:
        if not isinstance(model, dict):
            raise CheckpointError(f"checkpoint {path}: 'model' is a {type(model).__name__}, not a state dict")
        bad = _nonfinite(model)
        if bad:
            more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
            raise CheckpointError(f"checkpoint {path} holds non-finite weights in {len(bad)} of {len(model)} tensors: "
                                  f"{', '.join(bad[:_SHOWN])}{more}; refusing to use it (saved after the run "
                                  "diverged, or corrupted)")
    stats = state.get("target_stats")
    if stats is not None:
        ok = isinstance(stats, dict) and all(isinstance(stats.get(k), (int, float)) and math.isfinite(stats[k])
                                             for k in ("mean", "std")) and stats["std"] > 0
        if not ok:
            raise CheckpointError(f"checkpoint {path}: target_stats {stats!r} must hold a finite mean and a finite "
                                  "std > 0")
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
        diffs += state_dict_differences(ckpt["model"], model.state_dict())
    if diffs:
        raise CheckpointMismatchError(f"refusing to resume from {path}: it was written by another model or "
                                      "config: " + "; ".join(diffs))


