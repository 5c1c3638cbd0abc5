"""DSMix: cut-mix of differently distorted images with DSM-weighted soft labels (METHODS.md §4.3).

Confirmed by the paper: a box of image B pasted into the same region of image A; each source's
label weighted by a confidence from its distortion-sensitivity map (DSM) upsampled bilinearly
to image size, together with its visible area; Mix = 3 in the paper's setting; reference images
are not mixed. The exact weights (eqs. 4–5) are stripped from the available text; this module
implements METHODS.md's reconstruction [PROPOSAL]:

    e_j = Σ_{h,w} V_j ⊙ up(D_j),   w_j = e_j / Σ_i e_i   (area share if Σ_i e_i < eps)

with V_j the pixels of source j still visible after all pastes. ``weights="area"`` gives plain
CutMix (w_j = visible area share), for the ablation.

Negative DSM values are clamped to 0 before the upsampling (see :class:`DSMix`); NaN or ±inf
in a DSM is an error.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyiqa_fast.distortions.params import to_device


class DSMixOutput(NamedTuple):
    """What :class:`DSMix` returns.

    Attributes:
        mixed: Tensor[B, 3, H, W], the mixed images (the input's dtype).
        type_targets: float32 Tensor[B, n_types], soft type labels (rows sum to 1).
        level_targets: float32 Tensor[B, n_levels], soft level labels.
        sources: int64 Tensor[B, mix], batch indices of the sources (column 0 = the sample
            itself), -1 where unused.
        weights: float32 Tensor[B, mix], each source's label weight (0 where unused).
        masks: bool Tensor[B, mix, H, W], each source's visible pixels.
    """

    mixed: Tensor
    type_targets: Tensor
    level_targets: Tensor
    sources: Tensor
    weights: Tensor
    masks: Tensor


def cutmix_box(height: int, width: int, generator: torch.Generator | None) -> tuple[int, int, int, int]:
    """CutMix box (y0, y1, x0, x1): λ ~ U(0, 1), size (H√(1−λ), W√(1−λ)), centre uniform, clipped."""
    lam = float(torch.rand((), generator=generator))
    cut_h, cut_w = int(height * (1 - lam) ** 0.5), int(width * (1 - lam) ** 0.5)
    cy = int(torch.randint(0, height, (), generator=generator))
    cx = int(torch.randint(0, width, (), generator=generator))
    return (max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height), max(cx - cut_w // 2, 0),
            min(cx + cut_w // 2, width))


IMAGE_DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"DSMix: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"DSMix: {name} must be >= {minimum}, got {value}")
    return int(value)


def _check_per_sample(name: str, t: object, batch: int) -> Tensor:
    """A per-sample tensor of shape (B,) or (B, 1), flattened to (B,) (on its own device)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"DSMix: {name} must be a torch.Tensor, got {type(t).__name__}")
    if tuple(t.shape) not in ((batch,), (batch, 1)):
        raise ValueError(f"DSMix: {name} must have shape ({batch},) or ({batch}, 1) (one entry per sample of x), "
                         f"got {tuple(t.shape)}")
    return t.reshape(batch)


def _check_image(name: str, t: object, x: Tensor) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"DSMix: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != 4 or t.shape[1] != 3:
        raise ValueError(f"DSMix: {name} must have shape (B, 3, H, W), got {tuple(t.shape)}")
    if t.shape[2] < 1 or t.shape[3] < 1:
        raise ValueError(f"DSMix: {name} must have H, W >= 1, got shape {tuple(t.shape)}")
    if t.dtype not in IMAGE_DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in IMAGE_DTYPES)
        raise TypeError(f"DSMix: {name} must have dtype {names}, got {str(t.dtype).removeprefix('torch.')}")
    if t is not x:
        if t.shape != x.shape:
            raise ValueError(f"DSMix: {name} must have the shape of x {tuple(x.shape)}, got {tuple(t.shape)}")
        if t.dtype != x.dtype:
            raise TypeError(f"DSMix: {name} must have the dtype of x ({x.dtype}), got {t.dtype}")
        if t.device != x.device:
            raise ValueError(f"DSMix: {name} must be on x's device ({x.device}), got {t.device}")
    return t


class DSMix(nn.Module):
    """DSMix augmentation (METHODS.md §4.3 [PROPOSAL weights]).

    **Signed DSMs are clamped at 0.** A DSM is a non-negative sensitivity (the ground truth
    ``dsm_pool`` is a mean absolute difference), but the maps of a DSM predictor are raw
    regressor outputs that dip below 0 where the true sensitivity is near 0. Clamping projects
    such a map onto the field's domain (a negative value reads as "no sensitivity"), keeps every
    weight in [0, 1] and the soft labels a distribution (each row sums to 1), and does not fail a
    training step for a prediction that is valid up to its error; refusing would. A map that is 0
    (or negative) everywhere has no energy and falls back to the area share, as any map below
    ``eps``. NaN or ±inf in a DSM is an error (on CUDA tensors checked on the device, without
    a host synchronisation, like the labels).

    Args:
        mix: Images per mixed sample, 2 or 3 (the paper: 3). Each sample draws k ∈ {1..mix−1}
            extra sources uniformly, each of a category (type, level) different from the base
            and from each other; samples without enough such partners mix fewer.
        weights: ``"dsm"`` (default: DSM energy share) or ``"area"`` (plain CutMix).
        n_types: Size of the type label space (KADIS: 25; SHDIQA's list: 24).
        n_levels: Size of the level label space (5).
        pool: DSM cell size p for ``dsm_pool`` when references are given (DSMix: 8).
        eps: Energy below which the weights fall back to the area share (finite, > 0).
        backend: ``dsm_pool``'s backend when references are given.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range.
    """

    def __init__(self, mix: int = 3, weights: str = "dsm", n_types: int = 25, n_levels: int = 5, pool: int = 8,
                 eps: float = 1e-8, backend: str = "auto") -> None:
        super().__init__()
        if isinstance(mix, bool) or mix not in (2, 3):
            raise ValueError(f"DSMix: mix must be 2 or 3, got {mix!r}")
        if weights not in ("dsm", "area"):
            raise ValueError(f"DSMix: weights must be 'dsm' or 'area', got {weights!r}")
        n_types, n_levels, pool = (_check_int(name, v, 1) for name, v in
                                   (("n_types", n_types), ("n_levels", n_levels), ("pool", pool)))
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(f"DSMix: eps must be a real number, got {type(eps).__name__}")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"DSMix: eps must be a finite number > 0, got {eps}")
        self.mix, self.weights, self.n_types, self.n_levels = int(mix), weights, n_types, n_levels
        self.pool, self.eps, self.backend = pool, float(eps), backend

    def _dsm(self, x: Tensor, ref: Tensor | None, dsm: Tensor | None) -> Tensor | None:
        """The DSMs of x, clamped at 0 and upsampled bilinearly to H×W: float Tensor[B, 1, H, W]
        (float64 for a float64 DSM, else float32), or None for ``weights="area"``."""
        what = "dsm"
        if dsm is None:
            if self.weights == "area":
                return None
            if ref is None:
                raise ValueError("DSMix: weights='dsm' needs dsm= (predicted maps) or ref= (references for the "
                                 "ground-truth map)")
            from pyiqa_fast.ops.dsm_pool import dsm_pool

            dsm = dsm_pool(ref, x, pool=self.pool, ceil_mode=True, backend=self.backend)
            what = "the ground-truth DSM dsm_pool(ref, x)"
        if not isinstance(dsm, Tensor):
            raise TypeError(f"DSMix: dsm must be a torch.Tensor, got {type(dsm).__name__}")
        if dsm.dim() != 4 or dsm.shape[0] != x.shape[0] or dsm.shape[1] != 1 or dsm.shape[2] < 1 or dsm.shape[3] < 1:
            raise ValueError(f"DSMix: dsm must have shape (B, 1, h, w) with B = {x.shape[0]} and h, w >= 1, got "
                             f"{tuple(dsm.shape)}")
        if not dsm.is_floating_point():
            raise TypeError(f"DSMix: dsm must be a floating-point tensor, got dtype {dsm.dtype}")
        if dsm.device != x.device:
            raise ValueError(f"DSMix: dsm must be on x's device ({x.device}), got {dsm.device}")
        if dsm.device.type == "cpu":
            if not bool(torch.isfinite(dsm).all()):
                bad = dsm[~torch.isfinite(dsm)][0].item()
                raise ValueError(f"DSMix: {what} must be finite, got {bad} (a sensitivity map has no NaN or ±inf)")
        else:  # checked on the device: no host synchronisation per step
            torch._assert_async(torch.isfinite(dsm).all(), f"DSMix: {what} must be finite (no NaN or ±inf)")
        if self.weights == "area":
            return None
        dsm = dsm.detach().to(torch.float64 if dsm.dtype == torch.float64 else torch.float32).clamp_min(0)
        return F.interpolate(dsm, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def forward(
        self,
        x: Tensor,
        type_labels: Tensor,
        level_labels: Tensor,
        *,
        dsm: Tensor | None = None,
        ref: Tensor | None = None,
        is_reference: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> DSMixOutput:
        """Mixes a batch.

        Args:
            x: Tensor[B, 3, H, W], distorted images: uint8, float16, bfloat16, float32 or
                float64.
            type_labels: int Tensor[B] (or [B, 1]), type ids in [0, n_types).
            level_labels: int Tensor[B] (or [B, 1]), level ids in [0, n_levels).
            dsm: floating Tensor[B, 1, h, w] on x's device, the DSMs of x (e.g. predicted by the
                frozen DSM model): finite, negative values clamped to 0, upsampled bilinearly
                to H×W. Used when given, even with ``ref``.
            ref: Tensor[B, 3, H, W] of x's shape, dtype and device, references of x: the
                ground-truth DSM ``dsm_pool(ref, x)`` is used when ``dsm`` is None.
            is_reference: bool Tensor[B] (or [B, 1]), pristine samples: neither mixed nor used as
                sources.
            generator: Random source of partners and boxes.

        Returns:
            :class:`DSMixOutput`; every row of ``type_targets`` and ``level_targets`` sums to 1.

        Raises:
            TypeError: A tensor argument is not a tensor or has the wrong dtype (labels must be
                integer, ``is_reference`` bool, ``dsm`` floating).
            ValueError: Wrong shapes or devices, labels out of range, or a non-finite ``dsm``
                (on CUDA: a device-side assertion instead, raised at the next synchronisation).
        """
        x = _check_image("x", x, x)
        batch, _, height, width = x.shape
        device = x.device
        labels = []
        for name, t, n in (("type_labels", type_labels, self.n_types), ("level_labels", level_labels, self.n_levels)):
            t = _check_per_sample(name, t, batch)
            if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
                raise TypeError(f"DSMix: {name} must be an integer tensor, got dtype {t.dtype}")
            if t.device.type == "cpu":
                if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
                    raise ValueError(f"DSMix: {name} must be in [0, {n}), got values in [{int(t.min())}, "
                                     f"{int(t.max())}]")
            else:  # checked on the device: no host synchronisation per step
                torch._assert_async(((t >= 0) & (t < n)).all(), f"DSMix: {name} must be in [0, {n})")
            labels.append(to_device(t.long(), device))
        type_labels, level_labels = labels
        if is_reference is None:
            pristine = torch.zeros(batch, dtype=torch.bool, device=device)
        else:
            pristine = _check_per_sample("is_reference", is_reference, batch)
            if pristine.dtype != torch.bool:
                raise TypeError(f"DSMix: is_reference must be a bool tensor, got dtype {pristine.dtype}")
            pristine = to_device(pristine, device)
        if ref is not None:
            ref = _check_image("ref", ref, x)
        up = self._dsm(x, ref, dsm)
        if batch == 0:
            return DSMixOutput(x.clone(), torch.zeros(0, self.n_types, device=device),
                               torch.zeros(0, self.n_levels, device=device),
                               torch.zeros(0, self.mix, dtype=torch.long, device=device),
                               torch.zeros(0, self.mix, device=device),
                               torch.zeros(0, self.mix, height, width, dtype=torch.bool, device=device))
        category = type_labels * self.n_levels + level_labels
        # Data-independent draws on the host (the generator's device), then the pairing on x's
        # device: partner col of sample b is the best-scored candidate (a uniformly random one) that
        # is not b, not pristine, and of a category not yet used by b; samples take k_b ~ U{1..mix−1}.
        extra = self.mix - 1
        wanted = torch.randint(1, self.mix, (batch,), generator=generator)
        scores = torch.rand(batch, batch, generator=generator)
        boxes = torch.tensor([cutmix_box(height, width, generator) for _ in range(batch * extra)],
                             dtype=torch.long).view(batch, extra, 4)
        wanted, scores, boxes = (to_device(t, device) for t in (wanted, scores, boxes))
        candidate = ~torch.eye(batch, dtype=torch.bool, device=device) & ~pristine.view(1, -1) & ~pristine.view(-1, 1)
        candidate &= category.view(1, -1) != category.view(-1, 1)
        sources = torch.full((batch, self.mix), -1, dtype=torch.long, device=device)
        sources[:, 0] = torch.arange(batch, device=device)
        found = torch.ones(batch, dtype=torch.bool, device=device)
        for col in range(1, self.mix):
            found &= wanted >= col
            ranked = torch.where(candidate, scores, -1.0)
            best = ranked.argmax(1)
            found &= ranked.gather(1, best.view(-1, 1)).view(-1) >= 0
            sources[:, col] = torch.where(found, best, -1)
            candidate &= category.view(1, -1) != category[best].view(-1, 1)
        ys = torch.arange(height, device=device).view(1, -1, 1)
        xs = torch.arange(width, device=device).view(1, 1, -1)
        owner = torch.zeros(batch, height, width, dtype=torch.long, device=device)  # column of the visible source
        for col in range(1, self.mix):  # later boxes overwrite earlier ones
            y0, y1, x0, x1 = (boxes[:, col - 1, i].view(-1, 1, 1) for i in range(4))
            inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1) & (sources[:, col] >= 0).view(-1, 1, 1)
            owner = torch.where(inside, col, owner)
        masks = owner.unsqueeze(1) == torch.arange(self.mix, device=device).view(1, -1, 1, 1)
        masks &= (sources >= 0).view(batch, self.mix, 1, 1)
        gather = sources.clamp(min=0)
        mixed = torch.zeros_like(x)
        for col in range(self.mix):
            mixed = torch.where(masks[:, col : col + 1], x[gather[:, col]], mixed)
        area = masks.flatten(2).sum(-1).float()
        share = area / area.sum(1, keepdim=True)
        if up is None:
            weights = share
        else:
            # Summed in float64: a float32 map of large finite values cannot overflow the energy.
            energy = (masks * up[gather].view(batch, self.mix, height, width)).flatten(2).sum(-1, dtype=torch.float64)
            total = energy.sum(1, keepdim=True)
            weights = torch.where(total < self.eps, share, (energy / total.clamp_min(self.eps)).float())
        valid = sources >= 0
        types = torch.where(valid, type_labels[gather], 0)
        levels = torch.where(valid, level_labels[gather], 0)
        weights = torch.where(valid, weights, 0.0)
        type_targets = torch.zeros(batch, self.n_types, device=x.device).scatter_add_(1, types, weights)
        level_targets = torch.zeros(batch, self.n_levels, device=x.device).scatter_add_(1, levels, weights)
        return DSMixOutput(mixed, type_targets, level_targets, sources, weights, masks)

    def extra_repr(self) -> str:
        return f"mix={self.mix}, weights={self.weights!r}, n_types={self.n_types}, n_levels={self.n_levels}"
