"""Public API of group-masked attention: ``block_attention`` and ``partition_groups``."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import OpBackends
from pyiqa_fast.ops.block_attention.impl import cpu, cuda, reference, triton

OP = "block_attention"

BACKENDS = OpBackends(
    op=OP,
    backends={b.name: b for b in (reference.BACKEND, cpu.BACKEND, cuda.BACKEND, triton.BACKEND)},
    # The interpreter is for tests: auto never picks triton on CPU tensors.
    auto_order={"cuda": ("cuda", "triton", "reference"), "cpu": ("cpu", "reference")},
)

_NAMED_PARTITIONS = {"vertical": (1, 2), "horizontal": (2, 1), "grid2x2": (2, 2)}


def partition_groups(
    mode: str | tuple[int, int],
    grid: tuple[int, int] = (14, 14),
    cls_tokens: int = 1,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    """Group ids of SHDIQA's spatial partitions for :func:`block_attention` (METHODS.md §3.2–3.3).

    The first ``cls_tokens`` tokens are global (id −1); the ``rows × cols`` patch tokens that
    follow (row-major, as a ViT flattens its patch grid) get the id of the block they lie in.
    ``"vertical"`` splits the grid by a vertical line into 2 side-by-side blocks (token columns
    0–6 / 7–13 of a 14×14 grid), ``"horizontal"`` into 2 stacked blocks, ``"grid2x2"`` into 4
    quadrants, and ``(block_rows, block_cols)`` into that block grid; block edges are at
    ``floor(i · size / blocks)``, so uneven grids give blocks differing by at most one token row
    or column. The reading of "vertical" is a reconstruction (METHODS.md §3.2 [PROPOSAL]).

    Args:
        mode: ``"vertical"``, ``"horizontal"``, ``"grid2x2"`` or ``(block_rows, block_cols)``.
        grid: Patch grid ``(rows, cols)``; ViT-S/16 at 224² has (14, 14).
        cls_tokens: Leading global tokens (CLS, registers); 0 for none.
        device: Device of the result.

    Returns:
        Tensor[cls_tokens + rows·cols] of int32 ids: −1 for the global tokens, else
        ``block_row · block_cols + block_col``.

    Raises:
        ValueError: Unknown mode, or sizes that are not positive / more blocks than grid cells.
        TypeError: ``mode``, ``grid`` or ``cls_tokens`` of the wrong type (bools included).

    Example:
        >>> partition_groups("vertical", grid=(2, 4), cls_tokens=1)
        tensor([-1,  0,  0,  1,  1,  0,  0,  1,  1], dtype=torch.int32)
    """
    if isinstance(mode, str):
        if mode not in _NAMED_PARTITIONS:
            raise ValueError(f"partition_groups: mode must be one of {', '.join(map(repr, _NAMED_PARTITIONS))} "
                             f"or a (block_rows, block_cols) tuple, got {mode!r}")
        blocks = _NAMED_PARTITIONS[mode]
    else:
        blocks = _int_pair("mode", mode)
    rows, cols = _int_pair("grid", grid)
    if isinstance(cls_tokens, bool) or not isinstance(cls_tokens, numbers.Integral):
        raise TypeError(f"partition_groups: cls_tokens must be an integer >= 0, got {cls_tokens!r} "
                        f"({type(cls_tokens).__name__})")
    if cls_tokens < 0:
        raise ValueError(f"partition_groups: cls_tokens must be an integer >= 0, got {cls_tokens!r}")
    if blocks[0] > rows or blocks[1] > cols:
        raise ValueError(f"partition_groups: a {blocks[0]}×{blocks[1]} block grid needs a patch grid of at least "
                         f"that size, got grid = {(rows, cols)}")
    block_row = torch.arange(rows, device=device) * blocks[0] // rows
    block_col = torch.arange(cols, device=device) * blocks[1] // cols
    patch_ids = (block_row[:, None] * blocks[1] + block_col[None, :]).reshape(-1)
    cls = torch.full((int(cls_tokens),), -1, dtype=patch_ids.dtype, device=device)
    return torch.cat([cls, patch_ids]).to(torch.int32)


def _int_pair(name: str, value: object) -> tuple[int, int]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in value)):
        raise TypeError(f"partition_groups: {name} must be a pair of integers, got {value!r}")
    if value[0] < 1 or value[1] < 1:
        raise ValueError(f"partition_groups: {name} must be positive, got {tuple(value)}")
    return int(value[0]), int(value[1])


def _check_tensor(name: str, t: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{OP}: {name} must be a torch.Tensor, got {type(t).__name__}")
    return t


def _check_groups(name: str, groups: object, length: int, q: Tensor) -> Tensor:
    groups = _check_tensor(name, groups)
    if groups.is_floating_point() or groups.is_complex() or groups.dtype == torch.bool:
        raise TypeError(f"{OP}: {name} must be an integer tensor of group ids, got dtype {groups.dtype}")
    if groups.dim() not in (1, 2) or groups.shape[-1] != length:
        raise ValueError(f"{OP}: {name} must have shape ({length},) or (B, {length}) (one id per token), got "
                         f"{tuple(groups.shape)}")
    if groups.dim() == 2 and groups.shape[0] != q.shape[0]:
        raise ValueError(f"{OP}: {name} of shape (B, N) must have B = {q.shape[0]} rows like q, got "
                         f"{tuple(groups.shape)}")
    if groups.device != q.device:
        raise ValueError(f"{OP}: {name} must be on q's device ({q.device}), got {groups.device}")
    return groups


def _host_id_max(*groups: Tensor) -> int | None:
    """The largest id of host groups wider than int32 (the compiled backends' limit); None when the
    ids fit by their dtype or live on a GPU (finding it there would synchronise)."""
    wide = [g for g in groups if g.numel() and g.device.type == "cpu" and g.dtype in (torch.int64, torch.uint64,
                                                                                      torch.uint32)]
    return max(int(g.max()) for g in wide) if wide and not torch.compiler.is_compiling() else None


def block_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_groups: Tensor,
    k_groups: Tensor,
    *,
    scale: float | None = None,
    backend: str = "auto",
) -> Tensor:
    """Attention in which tokens see only their own group and the global tokens.

    SHDIQA's Block-wise Aggregation (METHODS.md §3.3, a reconstruction): query i may attend
    key j iff ``q_groups[i] < 0`` or ``k_groups[j] < 0`` or ``q_groups[i] == k_groups[j]``
    (negative = global, −1 by convention; CLS is global, so it sees and is seen by every token).
    ``out = softmax(scale · q kᵀ + mask) v`` without ever building the N×N mask: the compiled
    backends compute only allowed pairs (half the patch pairs for 2 blocks, a quarter for 2×2).
    A query row with no allowed key returns zeros and gets zero gradients, never NaN.

    Args:
        q: Tensor[B, H, Nq, d] of queries; float16, bfloat16, float32 or float64; any strides.
        k: Tensor[B, H, Nk, d] of keys, q's dtype and device.
        v: Tensor[B, H, Nk, d] of values.
        q_groups: Tensor[Nq] (shared by the batch) or Tensor[B, Nq] of integer group ids, e.g.
            from :func:`partition_groups`. The compiled backends compare ids as int32: a larger
            host id makes them unavailable (``auto`` takes the reference), on a GPU it fails a
            device-side assertion; the reference takes any int64 id.
        k_groups: Tensor[Nk] or Tensor[B, Nk] of integer group ids.
        scale: Multiplies q·k; default ``1/sqrt(d)``. Finite in the compute precision
            (float32, float64 for float64 inputs).
        backend: ``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``. ``auto``
            takes ``cuda`` → ``triton`` → ``reference`` for CUDA inputs and ``cpu`` →
            ``reference`` for CPU inputs. An explicit backend never falls back.

    Returns:
        Tensor[B, H, Nq, d] of q's dtype, differentiable with respect to q, k and v.

    Raises:
        TypeError: A tensor argument is not a tensor, q/k/v dtypes differ or are not floating,
            groups are not integer, or scale is not a real number.
        ValueError: Wrong ranks, mismatched B/H/N/d, groups of the wrong shape or device, or a
            scale that is not finite in the compute precision.
        BackendUnavailableError: The requested backend cannot run these inputs.

    Notes:
        16-bit inputs are computed with float32 accumulation; under ``torch.autocast`` q, k and
        v are cast to the autocast dtype first (as SDPA does). The ``cuda`` backend takes
        head_dim 32, 64 or 128. Double backward is not supported. All backends are
        deterministic.

    Example:
        >>> groups = partition_groups("vertical")           # 197 ids: CLS + 14×14 patches
        >>> q = k = v = torch.randn(2, 6, 197, 64)
        >>> out = block_attention(q, k, v, groups, groups)  # (2, 6, 197, 64)
    """
    q, k, v = (_check_tensor(n, t) for n, t in (("q", q), ("k", k), ("v", v)))
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError(f"{OP}: {name} must have 4 dimensions (B, H, N, d), got shape {tuple(t.shape)}")
    if not q.is_floating_point():
        raise TypeError(f"{OP}: q must be a floating-point tensor, got dtype {q.dtype}")
    for name, t in (("k", k), ("v", v)):
        if t.dtype != q.dtype:
            raise TypeError(f"{OP}: {name} must have q's dtype ({q.dtype}), got {t.dtype}")
        if t.device != q.device:
            raise ValueError(f"{OP}: {name} must be on q's device ({q.device}), got {t.device}")
    if k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3]:
        raise ValueError(f"{OP}: k must have q's batch, heads and head_dim {(q.shape[0], q.shape[1], q.shape[3])}, "
                         f"got shape {tuple(k.shape)}")
    if v.shape != k.shape:
        raise ValueError(f"{OP}: v must have the shape of k {tuple(k.shape)}, got {tuple(v.shape)}")
    if q.shape[3] < 1:
        raise ValueError(f"{OP}: head_dim must be >= 1, got shape {tuple(q.shape)}")
    q_groups = _check_groups("q_groups", q_groups, q.shape[2], q)
    k_groups = _check_groups("k_groups", k_groups, k.shape[2], q)
    # Meta (and other) tensors have no autocast state to query; the backends then refuse them.
    if torch.amp.is_autocast_available(q.device.type) and torch.is_autocast_enabled(q.device.type):
        dtype = torch.get_autocast_dtype(q.device.type)
        q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    elif not torch.compiler.is_compiling():
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError(f"{OP}: scale must be None or a real number, got {type(scale).__name__}")
        if not math.isfinite(scale):
            raise ValueError(f"{OP}: scale must be finite, got {scale}")
        # The kernels take scale in their compute precision (float32 below float64 inputs, after
        # autocast), where a larger scale is inf and every output NaN.
        compute = torch.float64 if q.dtype == torch.float64 else torch.float32
        if abs(scale) > torch.finfo(compute).max:
            raise ValueError(f"{OP}: scale must be finite in {str(compute).removeprefix('torch.')} (the compute "
                             f"precision of {str(q.dtype).removeprefix('torch.')} inputs), got {scale:g}")

    needs_backward = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    chosen = BACKENDS.resolve(backend, q.device, q.dtype, needs_backward=needs_backward, head_dim=q.shape[3],
                              group_id_max=_host_id_max(q_groups, k_groups))
    if chosen.name == "reference" and backend == "auto":
        _native.warn_reference_fallback(OP)
    return chosen.run(q, k, v, q_groups, k_groups, scale)
