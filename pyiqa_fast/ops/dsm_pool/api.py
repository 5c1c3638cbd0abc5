"""Public API of the DSMix ground-truth map: ``dsm_pool`` and ``DSMPool``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyiqa_fast import _native
from pyiqa_fast._backends import OpBackends
from pyiqa_fast.ops.dsm_pool.impl import cpu, cuda, reference, triton

OP = "dsm_pool"
DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)

BACKENDS = OpBackends(
    op=OP,
    backends={b.name: b for b in (reference.BACKEND, cpu.BACKEND, cuda.BACKEND, triton.BACKEND)},
    # The interpreter is for tests: auto never picks triton on CPU tensors.
    auto_order={"cuda": ("cuda", "triton", "reference"), "cpu": ("cpu", "reference")},
)


def _check_options(pool: int, ceil_mode: bool) -> None:
    if isinstance(pool, bool) or not isinstance(pool, int):
        raise TypeError(f"{OP}: pool must be an int, got {type(pool).__name__}")
    if pool < 1:
        raise ValueError(f"{OP}: pool must be >= 1, got {pool}")
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{OP}: ceil_mode must be a bool, got {type(ceil_mode).__name__}")


def _check_image(name: str, t: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{OP}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != 4 or t.shape[1] != 3:
        raise ValueError(f"{OP}: {name} must have shape (B, 3, H, W), got {tuple(t.shape)}")
    if t.dtype not in DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in DTYPES)
        raise TypeError(f"{OP}: {name} must have dtype {names}, got {str(t.dtype).removeprefix('torch.')}")
    return t


def dsm_pool(
    ref: Tensor,
    dist: Tensor,
    *,
    pool: int = 8,
    ceil_mode: bool = False,
    backend: str = "auto",
) -> Tensor:
    """DSMix's ground-truth distortion-sensitivity map (METHODS.md §4.1).

    ``D[b, 0, u, v] = 1/(3·n) · Σ_{(h, w) ∈ cell(u, v)} Σ_c |ref[b, c, h, w] − dist[b, c, h, w]|``
    over non-overlapping ``pool × pool`` cells (n = pool², or the real pixel count of a partial
    edge cell with ``ceil_mode``). One read of each input, one write of the map.

    Args:
        ref: Tensor[B, 3, H, W], the reference image: uint8 (read as value / 255, i.e. images
            in [0, 1]), float16, bfloat16, float32 or float64; any strides (channels-last
            included).
        dist: Tensor[B, 3, H, W], the distorted image: ``ref``'s shape, dtype and device.
        pool: Cell size p (kernel and stride of the average pooling); DSMix uses 8. A pool
            larger than the image (with ``ceil_mode``) gives one cell, the whole image's mean.
        ceil_mode: Keep the partial cells at the bottom and right edges when H or W is not a
            multiple of ``pool``, each averaged over its real pixel count. Without it, such a
            size is an error.
        backend: ``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``. ``auto``
            takes ``cuda`` → ``triton`` → ``reference`` for CUDA inputs and ``cpu`` →
            ``reference`` for CPU inputs. An explicit backend never falls back.

    Returns:
        Tensor[B, 1, H/p, W/p] (``ceil`` of each with ``ceil_mode``), contiguous, of the input
        dtype, or float32 for uint8 inputs. Differentiable with respect to both floating inputs:
        ``∂D/∂ref = g/(3·n)·sign(ref − dist)`` (0 at equality), ``∂D/∂dist = −∂D/∂ref``.

    Raises:
        TypeError: An input is not a tensor or has an unsupported dtype, the dtypes differ, or
            ``pool`` / ``ceil_mode`` has the wrong type.
        ValueError: A shape is not (B, 3, H, W), the shapes or devices differ, ``pool < 1``, or
            H or W is not divisible by ``pool`` without ``ceil_mode``.
        BackendUnavailableError: The requested backend cannot run these inputs.

    Notes:
        Accumulates in float32 (float64 for float64 inputs); 16-bit maps are rounded once at
        the end. Every backend is deterministic. Under ``torch.autocast`` the op runs in fp32.

    Example:
        >>> ref = torch.rand(2, 3, 224, 224)
        >>> dist = (ref + 0.1 * torch.randn_like(ref)).clamp(0, 1)
        >>> dsm_pool(ref, dist).shape
        torch.Size([2, 1, 28, 28])
    """
    ref = _check_image("ref", ref)
    dist = _check_image("dist", dist)
    _check_options(pool, ceil_mode)
    if dist.shape != ref.shape:
        raise ValueError(f"{OP}: dist must have the shape of ref {tuple(ref.shape)}, got {tuple(dist.shape)}")
    if dist.dtype != ref.dtype:
        raise TypeError(f"{OP}: dist must have the dtype of ref ({ref.dtype}), got {dist.dtype}")
    if dist.device != ref.device:
        raise ValueError(f"{OP}: dist must be on ref's device ({ref.device}), got {dist.device}")
    if not ceil_mode:
        for name, size in (("H", ref.shape[2]), ("W", ref.shape[3])):
            if size % pool:
                raise ValueError(
                    f"{OP}: {name} = {size} is not divisible by pool = {pool}; pass ceil_mode=True to pool "
                    "the partial cells over their real pixel count"
                )
    largest = max(ref.shape[2], ref.shape[3], 1)
    if pool > largest:
        # One cell covers the whole image (ceil_mode, or an empty image): pool = max(H, W) gives the
        # same map and keeps every backend's cell arithmetic within the image's own sizes.
        pool = largest
    needs_backward = torch.is_grad_enabled() and (ref.requires_grad or dist.requires_grad)
    chosen = BACKENDS.resolve(backend, ref.device, ref.dtype, needs_backward=needs_backward, pool=pool)
    if chosen.name == "reference" and backend == "auto":
        _native.warn_reference_fallback(OP)
    return chosen.run(ref, dist, pool, ceil_mode)


class DSMPool(nn.Module):
    """Module form of :func:`dsm_pool` (DSMix's ground-truth map).

    Args:
        pool: Cell size p (default 8, as DSMix).
        ceil_mode: Keep partial edge cells (averaged over their real pixel count).
        backend: Backend for every call (see :func:`dsm_pool`).

    Shape:
        ref, dist: (B, 3, H, W); output: (B, 1, H/p, W/p).

    Example:
        >>> dsm = DSMPool(pool=8)
        >>> dsm(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 1, 4, 4])
    """

    def __init__(self, pool: int = 8, ceil_mode: bool = False, backend: str = "auto") -> None:
        super().__init__()
        _check_options(pool, ceil_mode)
        self.pool = pool
        self.ceil_mode = ceil_mode
        self.backend = backend

    def forward(self, ref: Tensor, dist: Tensor) -> Tensor:
        return dsm_pool(ref, dist, pool=self.pool, ceil_mode=self.ceil_mode, backend=self.backend)

    def extra_repr(self) -> str:
        return f"pool={self.pool}, ceil_mode={self.ceil_mode}, backend={self.backend!r}"
