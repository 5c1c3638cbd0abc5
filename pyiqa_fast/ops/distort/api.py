"""Public API of the synthetic distortions: ``distort``."""

from __future__ import annotations

import torch
from torch import Tensor

from pyiqa_fast import _native
from pyiqa_fast._backends import OpBackends
from pyiqa_fast.distortions.params import DistortionParams, validate_params
from pyiqa_fast.distortions.registry import PRESET_IDS
from pyiqa_fast.ops.distort.impl import cpu, cuda, reference, triton

OP = "distort"
DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)
BLOCK_MODES = ("composite", "crop")

BACKENDS = OpBackends(
    op=OP,
    backends={b.name: b for b in (reference.BACKEND, cpu.BACKEND, cuda.BACKEND, triton.BACKEND)},
    auto_order={"cuda": ("cuda", "triton", "reference"), "cpu": ("cpu", "reference")},
)

def distort(
    x: Tensor,
    params: DistortionParams,
    *,
    block_mode: str = "composite",
    compat: bool = False,
    backend: str = "auto",
) -> Tensor:
    """Applies a per-sample, per-block table of synthetic distortions (DISTORTIONS.md).

    Each sample ``b`` is split into the blocks of ``params.partition`` (row-major); block ``k``
    gets the chain ``params.types[b, k, :]`` (in order, -1 = empty slot) at the table's levels,
    with the output clipped to [0, 1] after every operator.

    Args:
        x: Tensor[B, 3, H, W], RGB in [0, 1]: float16, bfloat16, float32 or float64, or uint8
            (read as value / 255, returned as uint8 with ⌊255·y + 0.5⌋). 16-bit inputs are
            computed in float32. Any strides.
        params: The record of :func:`pyiqa_fast.distortions.sample_params` with batch size B
            (on any device; the tables are small).
        block_mode: ``"composite"`` (default: each block's pixels come from the whole image
            distorted with the block's parameters; stencils read across block edges) or
            ``"crop"`` (each block is distorted alone, replicate borders at its edges).
            DISTORTIONS.md §8.5.
        compat: Reproduce the reference implementations' bugs where implemented (parity tests
            only, DISTORTIONS.md §7).
        backend: ``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"`` or ``"triton"``. ``auto``
            takes ``cpu`` for CPU tensors and ``cuda``, then ``triton``, for CUDA tensors when
            it has every type of the table, else ``reference``.

    Returns:
        Tensor[B, 3, H, W] of x's dtype, contiguous. The same record gives bitwise the same
        output for a sample at any batch position; backends agree to the tolerances of
        DISTORTIONS.md §10.5.

    Raises:
        TypeError: x is not a tensor of a supported dtype, params is not a DistortionParams,
            or x requires grad (the op is forward-only).
        ValueError: Shapes disagree, an unknown block mode, a record no backend can apply (an
            unknown type, a value outside its type's range, per-call uniforms outside [0, 1):
            :func:`~pyiqa_fast.distortions.params.validate_params` names the entry), or a region
            below an operator's minimum size (the message names the operator and the minimum).
        BackendUnavailableError: The requested backend cannot run this table or these inputs.

    Example:
        >>> from pyiqa_fast.distortions import sample_params
        >>> x = torch.rand(2, 3, 64, 64)
        >>> params = sample_params(["gaussian_blur", "jpeg"], [2, 4], seed=0)
        >>> distort(x, params).shape
        torch.Size([2, 3, 64, 64])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{OP}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{OP}: x must have shape (B, 3, H, W), got {tuple(x.shape)}")
    if x.dtype not in DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in DTYPES)
        raise TypeError(f"{OP}: x must have dtype {names}, got {str(x.dtype).removeprefix('torch.')}")
    if not isinstance(params, DistortionParams):
        raise TypeError(f"{OP}: params must be a DistortionParams (from sample_params), got {type(params).__name__}")
    if params.batch_size != x.shape[0]:
        raise ValueError(f"{OP}: params has batch size {params.batch_size}, x has {x.shape[0]}")
    if block_mode not in BLOCK_MODES:
        raise ValueError(f"{OP}: block_mode must be one of {', '.join(BLOCK_MODES)}, got {block_mode!r}")
    if not isinstance(compat, bool):
        raise TypeError(f"{OP}: compat must be a bool, got {type(compat).__name__}")
    if torch.is_grad_enabled() and x.requires_grad:
        raise TypeError(f"{OP}: x requires grad, but distort is forward-only; pass x.detach()")
    params = params.to("cpu")
    validate_params(params, x.shape[2], x.shape[3], where=OP)
    chosen = BACKENDS.resolve(backend, x.device, x.dtype, needs_backward=False, types=params.types,
                              preset=params.preset, compat=compat)
    if chosen.name == "reference" and backend == "auto" and x.device.type == "cpu":
        _native.warn_reference_fallback(OP)
    rows, cols = params.partition
    return chosen.run(x, params.types, params.values, params.seeds, params.aux, rows, cols,
                      PRESET_IDS[params.preset], block_mode == "crop", compat)
