"""Stages and recipes: what the one training loop (:class:`~pyiqa_fast.train.Trainer`) needs to
train any method (docs/design/training.md).

A *recipe* is a sequence of :class:`Stage` objects run in order. A stage says which model it
trains (:meth:`Stage.build_model`), which it keeps frozen (:meth:`Stage.build_frozen`, e.g. a
teacher read from an earlier stage's weights), how a batch becomes *named* losses on the training
device (:meth:`Stage.losses`; the optimised loss is their sum), how it is optimised
(:meth:`Stage.optimizer`, :meth:`Stage.lr`) and evaluated (:meth:`Stage.evaluate`), and which
earlier stages it reads (:attr:`Stage.inputs`): the loop hands it their weights files for the same
repeat as paths in :attr:`StageContext.inputs`, never through a global. The loop owns everything
else: the deterministic data order, AMP, gradient clipping, progress bars, atomic checkpoints,
resume (also across stage boundaries), DDP, the results JSON and the curves.

:class:`MOSStage` is the base every stage extends: DEIQT's recipe (regress the MOS with
``optim.loss`` on random crops, test on the protocol's crops) is the single-stage recipe
``"deiqt"``.

Example:
    >>> class Student(MOSStage):                                       # doctest: +SKIP
    ...     name, inputs = "student", ("teacher",)
    ...     def build_frozen(self, ctx):
    ...         return {"teacher": load_weights(ctx.inputs["teacher"])}
    ...     def losses(self, model, frozen, batch, ctx):
    ...         x, y = batch
    ...         return {**super().losses(model, frozen, batch, ctx),
    ...                 "kd": F.mse_loss(model(x).float(), frozen["teacher"](x).float())}
    >>> register_recipe("distilled", lambda cfg: [MOSStage("teacher"), Student()])  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

__all__ = ["Stage", "MOSStage", "StageContext", "RECIPES", "register_recipe", "recipe_stages", "check_stages",
           "LOSSES", "TARGET_NORMS", "lr_at_step", "build_optimizer", "dataset_mos", "target_stats", "TrainCrops",
           "to_device"]

#: ``optim.loss`` values of a MOS regression stage.
LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "smooth_l1": lambda p, t: F.smooth_l1_loss(p, t, beta=1.0),
    "mse": F.mse_loss,
    "l1": F.l1_loss,
}

#: ``train.target_norm`` values.
TARGET_NORMS = ("none", "zscore")


@dataclass
class StageContext:
    """What a stage sees during one repeat.

    Attributes:
        cfg: The stage's configuration: the run's, with the stage's ``stages.<name>`` overrides.
        repeat: Repeat index of the protocol.
        device: The training device.
        amp: Whether autocast (fp16) is on.
        inputs: ``{stage name: path}`` of the weights files (``model_repeatNN.pt``) that the
            stages named in :attr:`Stage.inputs` wrote for this repeat.
        target_stats: The MOS normalisation of this repeat (``None``: raw MOS).
        step: The step about to be taken (0-based, within the stage's repeat), and ``rank`` the
            process's rank: with ``cfg.train.seed`` and ``repeat`` they key any randomness a
            stage draws on the device (BDM, DSMix), so a resume draws what the uninterrupted run
            drew.
    """

    cfg: Any
    repeat: int
    device: torch.device
    amp: bool = False
    inputs: dict[str, str] = field(default_factory=dict)
    target_stats: dict[str, Any] | None = None
    step: int = 0
    rank: int = 0

    def generator(self, stream: int = 0) -> torch.Generator:
        """A host generator keyed by (seed, repeat, step, rank, stream): the same draws on resume,
        on any number of DataLoader workers, different on every rank."""
        key = (((self.cfg.train.seed * 1_000_003 + self.repeat) * 1_000_003 + self.step) * 1_009 + self.rank)
        return torch.Generator().manual_seed((key * 101 + stream) % (2**63 - 1))


# ---- the pieces of DEIQT's recipe (docs/design/training.md, "DEIQT's recipe") -----------------------

def lr_at_step(step: int, steps_per_epoch: int, o: Any) -> float:
    """DEIQT's per-iteration learning rate: timm ≤ 0.6's ``StepLRScheduler`` with warm-up, the
    scheduler of the DEIQT paper's code (docs/design/training.md).

    Linear warm-up from ``warmup_lr`` over ``warmup_epochs`` epochs, then
    ``lr · decay_rate ** (step // decay_steps)`` counted from step 0, floored at ``min_lr``.
    timm ≥ 0.9 counts the decay from the end of the warm-up instead, which gives a 10× higher lr
    in epochs 3–8 of DEIQT's schedule; we keep the paper's era.

    Example:
        >>> from pyiqa_fast.train.config import OptimConfig
        >>> f"{lr_at_step(300, 100, OptimConfig()):.1e}"
        '2.0e-05'
    """
    warm = int(round(o.warmup_epochs * steps_per_epoch))
    if step < warm:
        return o.warmup_lr + step * (o.lr - o.warmup_lr) / warm
    decay = max(1, int(round(o.decay_epochs * steps_per_epoch)))
    return max(o.lr * o.decay_rate ** (step // decay), o.min_lr)


def build_optimizer(model: nn.Module, o: Any) -> torch.optim.Optimizer:
    """AdamW with no weight decay on 1-D parameters, biases and ``model.no_weight_decay()`` names."""
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias") or name in skip or name.split(".")[-1] in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=o.warmup_lr, betas=tuple(o.betas), eps=o.eps)


def image_and_mos(item: Any) -> tuple[Tensor, float]:
    """``(image, mos)`` of a dataset item: a dict with ``image`` (or ``img``) and ``mos``, or a pair."""
    if isinstance(item, dict):
        img = item.get("image", item.get("img"))
        if img is None:
            raise KeyError(f"dataset items need an 'image' (or 'img') entry; got keys {sorted(item)}")
        return img, float(item["mos"])
    img, mos = item[0], item[1]
    return img, float(mos)


def dataset_mos(ds: Dataset) -> list[float]:
    """The MOS of every item of ``ds``, in order, without loading images where the dataset allows.

    Uses a ``mos`` attribute (tensor or list of length ``len(ds)``) when present, follows
    :class:`~torch.utils.data.Subset` indices, and otherwise reads the items.
    """
    if isinstance(ds, Subset):
        inner = dataset_mos(ds.dataset)
        return [inner[i] for i in ds.indices]
    mos = getattr(ds, "mos", None)
    if mos is not None and not callable(mos):
        vals = mos.tolist() if hasattr(mos, "tolist") else list(mos)
        if len(vals) == len(ds):  # type: ignore[arg-type]
            return [float(v) for v in vals]
    return [image_and_mos(ds[i])[1] for i in range(len(ds))]  # type: ignore[arg-type]


def target_stats(mode: str, ds: Dataset) -> dict[str, Any] | None:
    """The ``train.target_norm`` statistics of a training set: ``None`` for ``"none"``, else
    ``{"mode": "zscore", "mean": float, "std": float}`` (population std; 1 if the MOS is constant)."""
    if mode not in TARGET_NORMS:
        raise ValueError(f"unknown train.target_norm {mode!r}; available: {', '.join(TARGET_NORMS)}")
    if mode == "none":
        return None
    m = torch.tensor(dataset_mos(ds), dtype=torch.float64)
    std = float(m.std(unbiased=False)) if len(m) > 1 else 0.0
    return {"mode": mode, "mean": float(m.mean()), "std": std if std > 0 and math.isfinite(std) else 1.0}


def check_image_size(img: Tensor, crop: int) -> None:
    """Raises a ValueError naming ``data.crop_size`` when ``img`` (Tensor[3, H, W]) cannot be cropped."""
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"dataset images must be Tensor[3, H, W] float; got shape {tuple(img.shape)}")
    if img.shape[1] < crop or img.shape[2] < crop:
        raise ValueError(f"a dataset image of {img.shape[2]}x{img.shape[1]} pixels is smaller than data.crop_size "
                         f"{crop}; lower data.crop_size or enlarge the images (data.resize)")


class TrainCrops(Dataset):
    """``dataset[idx]`` cropped (and flipped) by a generator keyed by the sample's position ``pos`` in
    the epoch's global order, so crops do not depend on workers, resumes or the world size."""

    def __init__(self, ds: Dataset, crop: int, hflip: bool, key: tuple[int, ...]) -> None:
        self.ds, self.crop, self.hflip, self.key = ds, crop, hflip, key

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, ip: tuple[int, int]) -> tuple[Tensor, float]:
        idx, pos = ip
        img, mos = image_and_mos(self.ds[idx])
        img = torch.as_tensor(img, dtype=torch.float32)
        check_image_size(img, self.crop)
        rng = np.random.default_rng([*self.key, pos])
        top = int(rng.integers(0, img.shape[1] - self.crop + 1))
        left = int(rng.integers(0, img.shape[2] - self.crop + 1))
        out = img[:, top:top + self.crop, left:left + self.crop]
        if self.hflip and rng.random() < 0.5:
            out = out.flip(-1)
        return out.contiguous(), mos


def to_device(batch: Any, device: torch.device) -> Any:
    """A batch (tensors, or tuples/lists/dicts of them) on ``device``; other leaves unchanged."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def collate_crops(batch: list[tuple[Tensor, float]]) -> tuple[Tensor, Tensor]:
    """(Tensor[B, 3, c, c], float32 Tensor[B] MOS)."""
    return torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch], dtype=torch.float32)


# ---- stages ------------------------------------------------------------------------------------

class Stage(abc.ABC):
    """One stage of a recipe. Subclass :class:`MOSStage` (which implements every hook) and override
    what differs; a direct subclass must implement the four abstract hooks."""

    #: Name: the stage's output folder in a multi-stage run and its key in ``stages.<name>`` overrides.
    name: str = "main"
    #: Earlier stages whose weights this stage reads (``StageContext.inputs``).
    inputs: tuple[str, ...] = ()

    @abc.abstractmethod
    def build_model(self, ctx: StageContext, factory: Callable[[Any], nn.Module]) -> nn.Module:
        """The module this stage trains (its weights are what the stage hands on)."""

    def build_frozen(self, ctx: StageContext) -> dict[str, nn.Module]:
        """Modules used but not trained (e.g. a teacher from ``ctx.inputs``); put in eval mode."""
        return {}

    def target_stats(self, train_ds: Dataset, ctx: StageContext) -> dict[str, Any] | None:
        """The MOS normalisation of a repeat's training set (``None``: none)."""
        return None

    @abc.abstractmethod
    def train_samples(self, train_ds: Dataset, ctx: StageContext, epoch: int) -> Dataset:
        """A dataset indexed by ``(item index, position in the epoch)`` giving one training sample."""

    @abc.abstractmethod
    def collate(self, samples: list[Any]) -> Any:
        """A batch (tensors, tuples or dicts of tensors: the loop moves them to the device)."""

    @abc.abstractmethod
    def losses(self, model: nn.Module, frozen: dict[str, nn.Module], batch: Any, ctx: StageContext
               ) -> dict[str, Tensor]:
        """Named scalar losses of a batch already on ``ctx.device``; the loop minimises their sum."""

    def optimizer(self, model: nn.Module, ctx: StageContext) -> torch.optim.Optimizer:
        """The optimiser of :meth:`build_model`'s parameters."""
        return build_optimizer(model, ctx.cfg.optim)

    def lr(self, step: int, steps_per_epoch: int, ctx: StageContext) -> float:
        """Learning rate at ``step`` (set on every parameter group before the step)."""
        return lr_at_step(step, steps_per_epoch, ctx.cfg.optim)

    def evaluate(self, trainer: Any, model: nn.Module, eval_ds: Dataset, ctx: StageContext
                 ) -> dict[str, float] | None:
        """Test metrics of an epoch (``srcc``/``plcc`` drive the protocol's epoch selection), or
        None when the stage has no test (the last epoch is kept)."""
        return None


class MOSStage(Stage):
    """Regress the MOS of random crops with ``optim.loss`` and test on the protocol's crops: DEIQT's
    recipe (docs/design/training.md), and the base of every stage that trains a quality model.

    Args:
        name: The stage's name.
    """

    def __init__(self, name: str = "main") -> None:
        self.name = name

    def build_model(self, ctx: StageContext, factory: Callable[[Any], nn.Module]) -> nn.Module:
        return factory(ctx.cfg)

    def target_stats(self, train_ds: Dataset, ctx: StageContext) -> dict[str, Any] | None:
        return target_stats(ctx.cfg.train.target_norm, train_ds)

    def train_samples(self, train_ds: Dataset, ctx: StageContext, epoch: int) -> Dataset:
        d = ctx.cfg.data
        return TrainCrops(train_ds, d.crop_size, d.hflip, (ctx.cfg.train.seed, ctx.repeat, epoch))

    def collate(self, samples: list[Any]) -> Any:
        return collate_crops(samples)

    def losses(self, model: nn.Module, frozen: dict[str, nn.Module], batch: Any, ctx: StageContext
               ) -> dict[str, Tensor]:
        x, y = batch
        if ctx.target_stats is not None:
            y = (y - ctx.target_stats["mean"]) / ctx.target_stats["std"]
        with torch.autocast(ctx.device.type, dtype=torch.float16, enabled=ctx.amp):
            pred = model(x)
        return {"mos": LOSSES[ctx.cfg.optim.loss](pred.float(), y)}

    def evaluate(self, trainer: Any, model: nn.Module, eval_ds: Dataset, ctx: StageContext
                 ) -> dict[str, float] | None:
        return trainer.evaluate(model, eval_ds, ctx.target_stats)


# ---- recipes -----------------------------------------------------------------------------------

#: Recipe name → ``(cfg) -> [Stage, ...]``.
RECIPES: dict[str, Callable[[Any], list[Stage]]] = {
    "deiqt": lambda cfg: [MOSStage("main")],
}


def register_recipe(name: str, make: Callable[[Any], Sequence[Stage]]) -> None:
    """Adds (or replaces) a recipe: ``make(cfg)`` returns its stages, in order."""
    RECIPES[name] = lambda cfg: list(make(cfg))


def recipe_stages(cfg: Any) -> list[Stage]:
    """The stages of ``cfg.recipe``, checked: distinct names, inputs naming earlier stages only.

    Raises:
        ValueError: An unknown recipe (with close names), repeated stage names, an input that is not
            an earlier stage, or ``stages.<name>`` overrides naming no stage.
    """
    import pyiqa_fast.train.recipes  # noqa: F401  (registers the method recipes)

    if cfg.recipe not in RECIPES:
        close = difflib.get_close_matches(cfg.recipe, list(RECIPES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown recipe {cfg.recipe!r}{hint} (available: {', '.join(RECIPES)})")
    stages = RECIPES[cfg.recipe](cfg)
    check_stages(stages, cfg)
    return stages


def check_stages(stages: Sequence[Stage], cfg: Any) -> None:
    """See :func:`recipe_stages`."""
    if not stages:
        raise ValueError(f"recipe {cfg.recipe!r} has no stages")
    seen: list[str] = []
    for stage in stages:
        if stage.name in seen:
            raise ValueError(f"recipe {cfg.recipe!r}: two stages are named {stage.name!r}")
        missing = [i for i in stage.inputs if i not in seen]
        if missing:
            raise ValueError(f"recipe {cfg.recipe!r}: stage {stage.name!r} reads {missing}, which are not earlier "
                             f"stages (earlier: {seen or 'none'})")
        seen.append(stage.name)
    unknown = sorted(set(cfg.stages) - set(seen))
    if unknown:
        raise ValueError(f"stages: overrides for {unknown}, but recipe {cfg.recipe!r} has stages {seen}")
