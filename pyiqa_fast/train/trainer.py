"""The :class:`Trainer`: DEIQT's recipe, protocols with repeats, atomic resumable checkpoints, DDP.

Determinism: every training crop (offset and flip) comes from a generator keyed by
``(seed, repeat, epoch, position in the epoch's global sample order)`` and every test crop from one
keyed by ``(seed, image index)``; the epoch order is a permutation keyed by ``(seed, repeat, epoch)``.
Results therefore do not depend on the number of DataLoader workers, a resume reproduces the
uninterrupted run bit for bit on CPU, and ``N`` processes with batch ``B`` see the same global
batches as one process with batch ``N·B`` (equal up to floating-point summation order).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from pyiqa_fast.data.build import build_dataset as default_build_dataset
from pyiqa_fast.train.checkpoint import (
    FORMAT_VERSION,
    RESUME_KEYS,
    WEIGHTS_KEYS,
    atomic_write_bytes,
    capture_rng_state,
    check_compatible,
    load_checkpoint,
    model_fingerprint,
    restore_rng_state,
    save_checkpoint,
)
from pyiqa_fast.train.config import Config, config_to_dict, validate_config
from pyiqa_fast.train.distributed import DistInfo, all_gather_objects, barrier, init_distributed
from pyiqa_fast.train.protocols import Protocol, aggregate, select_epoch

__all__ = [
    "Trainer", "TrainingDivergedError", "lr_at_step", "build_optimizer", "LOSSES", "TARGET_NORMS", "dataset_mos",
    "target_stats",
]

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "smooth_l1": lambda p, t: F.smooth_l1_loss(p, t, beta=1.0),
    "mse": F.mse_loss,
    "l1": F.l1_loss,
}


#: ``train.target_norm`` values.
TARGET_NORMS = ("none", "zscore")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last checkpoint."""


# ---------------------------------------------------------------------------------------------------
# data


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
    return [_image_and_mos(ds[i])[1] for i in range(len(ds))]  # type: ignore[arg-type]


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


def _image_and_mos(item: Any) -> tuple[torch.Tensor, float]:
    if isinstance(item, dict):
        img = item.get("image", item.get("img"))
        if img is None:
            raise KeyError(f"dataset items need an 'image' (or 'img') entry; got keys {sorted(item)}")
        return img, float(item["mos"])
    img, mos = item[0], item[1]
    return img, float(mos)


def _check_size(img: torch.Tensor, c: int) -> None:
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"dataset images must be Tensor[3, H, W] float; got shape {tuple(img.shape)}")
    if img.shape[1] < c or img.shape[2] < c:
        raise ValueError(f"a dataset image of {img.shape[2]}x{img.shape[1]} pixels is smaller than data.crop_size {c}; "
                         "lower data.crop_size or enlarge the images (data.resize)")


class _TrainCrops(Dataset):
    """``dataset[idx]`` cropped (and flipped) by a generator keyed by the sample's position."""

    def __init__(self, ds: Dataset, crop: int, hflip: bool, key: tuple[int, ...]) -> None:
        self.ds, self.crop, self.hflip, self.key = ds, crop, hflip, key

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, ip: tuple[int, int]) -> tuple[torch.Tensor, float]:
        idx, pos = ip
        img, mos = _image_and_mos(self.ds[idx])
        img = torch.as_tensor(img, dtype=torch.float32)
        _check_size(img, self.crop)
        rng = np.random.default_rng([*self.key, pos])
        top = int(rng.integers(0, img.shape[1] - self.crop + 1))
        left = int(rng.integers(0, img.shape[2] - self.crop + 1))
        out = img[:, top:top + self.crop, left:left + self.crop]
        if self.hflip and rng.random() < 0.5:
            out = out.flip(-1)
        return out.contiguous(), mos


class _TestCrops(Dataset):
    """``K`` test crops of image ``i`` per the protocol's crop mode (random crops keyed by ``(seed, i)``)."""

    def __init__(self, ds: Dataset, crop: int, k: int, mode: str, seed: int) -> None:
        self.ds, self.crop, self.k, self.mode, self.seed = ds, crop, k, mode, seed

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, float]:
        img, mos = _image_and_mos(self.ds[i])
        img = torch.as_tensor(img, dtype=torch.float32)
        c = self.crop
        if self.mode == "resize":
            crops = F.interpolate(img[None], size=(c, c), mode="bilinear", antialias=True, align_corners=False)
            return i, crops.expand(self.k, -1, -1, -1).contiguous(), mos
        _check_size(img, c)
        h, w = img.shape[1], img.shape[2]
        if self.mode == "random":
            rng = np.random.default_rng([self.seed, 7919, i])
            offs = [(int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))) for _ in range(self.k)]
        else:
            centre = ((h - c) // 2, (w - c) // 2)
            five = [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c), centre]
            base = [centre] if self.mode == "center" else five
            offs = [base[j % len(base)] for j in range(self.k)]
        return i, torch.stack([img[:, t:t + c, s:s + c] for t, s in offs]), mos


#: Test images a correlation (SRCC/PLCC/KRCC) needs.
MIN_TEST_IMAGES = 2


def _check_test_set(ds: Dataset, what: str) -> None:
    n = len(ds)  # type: ignore[arg-type]
    if n < MIN_TEST_IMAGES:
        raise ValueError(f"{what} has {n} image(s); SRCC/PLCC need at least {MIN_TEST_IMAGES} (a larger data set or "
                         "data.synthetic_size, or another split)")


def _collate_train(batch: list[tuple[torch.Tensor, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch], dtype=torch.float32)


def _collate_test(batch: list[tuple[int, torch.Tensor, float]]) -> tuple[list[int], torch.Tensor, list[float]]:
    return [b[0] for b in batch], torch.stack([b[1] for b in batch]), [b[2] for b in batch]


# ---------------------------------------------------------------------------------------------------
# optimisation


def lr_at_step(step: int, steps_per_epoch: int, o: Any) -> float:
    """DEIQT's per-iteration learning rate (timm ``StepLRScheduler`` with warm-up, METHODS.md §2.3).

    Linear warm-up from ``warmup_lr`` over ``warmup_epochs`` epochs, then
    ``lr · decay_rate ** (step // decay_steps)`` (counted from step 0), floored at ``min_lr``.

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


def _versions() -> dict[str, Any]:
    import pyiqa_fast

    v: dict[str, Any] = {"pyiqa_fast": pyiqa_fast.__version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": sys.version.split()[0], "platform": platform.platform(),
                         "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        v["gpu"] = torch.cuda.get_device_name()
    try:
        import timm

        v["timm"] = timm.__version__
    except ImportError:
        pass
    return v


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------------
# trainer


class Trainer:
    """Train and evaluate a BIQA model under a protocol, with resumable checkpoints.

    Args:
        cfg: The run configuration.
        train_dataset: Training set (items ``{"image": Tensor[3, H, W] float in [0, 1], "mos": float}``);
            used for every repeat. If omitted, ``build_dataset(cfg, "train", repeat)`` is called.
        eval_dataset: Test set, likewise (``build_dataset(cfg, "test", repeat)`` if omitted).
        build_dataset: Hook ``(cfg, phase, repeat) -> Dataset``; default :func:`pyiqa_fast.data.build.build_dataset`.
        model_factory: ``(cfg) -> nn.Module`` returning ``Tensor[B]`` scores; default
            ``pyiqa_fast.models.create_model(cfg.model.name, **cfg.model.kwargs)``.

    Under ``torchrun`` the process group is joined on construction (see
    :mod:`pyiqa_fast.train.distributed`); ``data.batch_size`` is per process.

    Raises:
        ConfigError: A config field of the wrong type or out of range, an unknown loss, target
            normalisation or protocol (:func:`~pyiqa_fast.train.config.validate_config`).

    Example:
        >>> from pyiqa_fast.train import Trainer, load_config
        >>> cfg = load_config("deiqt_demo", ["train.epochs=1", "train.out_dir=/tmp/demo"])  # doctest: +SKIP
        >>> results = Trainer(cfg).fit()  # doctest: +SKIP
    """

    def __init__(self, cfg: Config, *, train_dataset: Dataset | None = None, eval_dataset: Dataset | None = None,
                 build_dataset: Callable[[Config, str, int], Dataset] | None = None,
                 model_factory: Callable[[Config], nn.Module] | None = None) -> None:
        self.cfg = validate_config(cfg)
        self.protocol = Protocol.preset(cfg.protocol, **cfg.protocol_overrides)
        dev = cfg.train.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        self.dist: DistInfo = init_distributed("cuda" if dev.startswith("cuda") else "cpu")
        if dev == "cuda":
            dev = f"cuda:{self.dist.local_rank}" if self.dist.enabled else "cuda"
        self.device = torch.device(dev)
        self.amp = bool(cfg.train.amp) and self.device.type == "cuda"
        self._train_ds, self._eval_ds = train_dataset, eval_dataset
        self._build_dataset = build_dataset or default_build_dataset
        self._model_factory = model_factory
        self.out_dir = cfg.train.out_dir
        self.ckpt_path = os.path.join(self.out_dir, "checkpoints", "last.pt")
        self.last_checkpoint: str | None = None
        self.messages: list[str] = []
        self.model: nn.Module | None = None
        #: The target normalisation in use (``None``: raw MOS); set by :meth:`fit`, or by hand (from a
        #: checkpoint's ``"target_stats"``) before :meth:`evaluate`.
        self.target_stats: dict[str, Any] | None = None

    # -- helpers ------------------------------------------------------------------------------------

    def _log(self, msg: str) -> None:
        if self.dist.is_main:
            self.messages.append(msg)
            print(msg, flush=True)

    def _make_model(self) -> nn.Module:
        if self._model_factory is not None:
            return self._model_factory(self.cfg)
        from pyiqa_fast.models import create_model

        return create_model(self.cfg.model.name, **self.cfg.model.kwargs)

    def _datasets(self, repeat: int) -> tuple[Dataset, Dataset]:
        tr = self._train_ds if self._train_ds is not None else self._build_dataset(self.cfg, "train", repeat)
        te = self._eval_ds if self._eval_ds is not None else self._build_dataset(self.cfg, "test", repeat)
        return tr, te

    def identity(self, model: nn.Module) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: model structure and result-changing config."""
        c = self.cfg
        d = c.data
        return {
            "model": {"name": c.model.name, "kwargs": json.loads(json.dumps(c.model.kwargs, default=str)),
                      **model_fingerprint(model)},
            "data": {"dataset": d.dataset, "split": d.split, "resize": d.resize, "crop_size": d.crop_size,
                     "patch_num": d.patch_num, "hflip": d.hflip, "batch_size": d.batch_size},
            "optim": json.loads(json.dumps(dataclasses.asdict(c.optim))),
            "train": {"epochs": c.train.epochs, "seed": c.train.seed, "amp": self.amp,
                      # only when on: checkpoints written before the option existed stay resumable
                      **({"target_norm": c.train.target_norm} if c.train.target_norm != "none" else {})},
            "protocol": self.protocol.to_dict(),
            "world_size": self.dist.world_size,
        }

    def _results_base(self) -> dict[str, Any]:
        return {"protocol": self.protocol.to_dict(), "seed": self.cfg.train.seed, "config": config_to_dict(self.cfg),
                "versions": _versions(), "world_size": self.dist.world_size, "device": str(self.device),
                "amp": self.amp, "plcc_fit": self.protocol.plcc_fit,
                "epoch_selection": self.protocol.select, "repeats": []}

    # -- evaluation ---------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, model: nn.Module, dataset: Dataset,
                 target_stats: dict[str, Any] | None = None) -> dict[str, float]:
        """Per-image mean of the protocol's test crops, gathered over ranks; SRCC/PLCC/KRCC/RMSE.

        Args:
            model: The (unwrapped) model.
            dataset: Test items.
            target_stats: The target normalisation the model was trained with (a checkpoint's
                ``"target_stats"``); predictions become ``pred · std + mean``. Default
                :attr:`target_stats` (set by :meth:`fit`).

        Returns:
            ``{"srcc", "plcc", "krcc", "rmse", "n"}`` (identical on every rank).

        Raises:
            ValueError: Fewer than :data:`MIN_TEST_IMAGES` test images.
        """
        from pyiqa_fast.metrics import krcc, plcc, rmse, srcc

        p, c = self.protocol, self.cfg
        _check_test_set(dataset, "the test set")
        crops = _TestCrops(dataset, c.data.crop_size, p.test_crops, p.test_crop_mode, c.train.seed)
        mine = list(range(self.dist.rank, len(crops), self.dist.world_size))
        loader = DataLoader(Subset(crops, mine), batch_size=c.data.eval_batch_size, shuffle=False,
                            num_workers=c.data.num_workers, collate_fn=_collate_test)
        was_training = model.training
        model.eval()
        local: list[tuple[int, float, float]] = []
        for idx, x, mos in loader:
            b, k = x.shape[:2]
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                s = model(x.flatten(0, 1).to(self.device, non_blocking=True))
            s = s.float().view(b, k).mean(1).cpu().tolist()
            local.extend(zip(idx, s, mos, strict=True))
        model.train(was_training)
        rows = sorted(r for part in all_gather_objects(local, self.dist) for r in part)
        pred = torch.tensor([r[1] for r in rows], dtype=torch.float64)
        stats = target_stats if target_stats is not None else self.target_stats
        if stats is not None:
            pred = pred * stats["std"] + stats["mean"]
        gt = torch.tensor([r[2] for r in rows], dtype=torch.float64)
        return {"srcc": float(srcc(pred, gt)), "plcc": float(plcc(pred, gt, fit=p.plcc_fit)),
                "krcc": float(krcc(pred, gt)), "rmse": float(rmse(pred, gt)), "n": len(rows)}

    # -- training -----------------------------------------------------------------------------------

    def _save(self, state: dict[str, Any]) -> None:
        if self.dist.is_main:
            save_checkpoint(self.ckpt_path, state)
        barrier(self.dist)
        self.last_checkpoint = self.ckpt_path

    def _write_results(self, results: dict[str, Any]) -> None:
        if self.dist.is_main:
            atomic_write_bytes(os.path.join(self.out_dir, "results.json"),
                               json.dumps(results, indent=2, allow_nan=True).encode())

    def fit(self, resume: bool | str | os.PathLike = False) -> dict[str, Any]:
        """Run every repeat of the protocol (or continue from a checkpoint) and write the results.

        Args:
            resume: ``True`` continues from ``<out_dir>/checkpoints/last.pt`` if it exists; a path
                continues from that file (which must exist).

        Returns:
            The results record (also written to ``<out_dir>/results.json``; curves to ``curves.png``).
            ``results["stopped_early"]`` is True when ``train.max_steps`` stopped the run.

        Raises:
            TrainingDivergedError: Non-finite loss (names the step and the last checkpoint).
            CheckpointMismatchError: The checkpoint belongs to another model or config.
            CheckpointError: The checkpoint is empty, unreadable, lacks entries of a resumable
                checkpoint, or holds non-finite weights.
        """
        ckpt = None
        if resume:
            path = self.ckpt_path if resume is True else os.fspath(resume)
            if resume is not True or os.path.exists(path):
                ckpt = load_checkpoint(path, require=WEIGHTS_KEYS + RESUME_KEYS)
                self.last_checkpoint = path
                self._log(f"resuming from {path} (repeat {ckpt['repeat']}, step {ckpt['step']})")
        prev_det = torch.are_deterministic_algorithms_enabled()
        prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        if self.cfg.train.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            results = self._fit(ckpt)
        finally:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        if self.dist.is_main and not results.get("stopped_early"):
            from pyiqa_fast.train.plots import plot_training_curves

            reason = plot_training_curves(results, os.path.join(self.out_dir, "curves.png"))
            if reason:
                self._log(reason)
        return results

    def _fit(self, ckpt: dict[str, Any] | None) -> dict[str, Any]:
        p = self.protocol
        results = self._results_base()
        start_repeat = 0
        if ckpt is not None:
            results["repeats"] = list(ckpt["completed_repeats"])
            start_repeat = int(ckpt["repeat"])
        for repeat in range(start_repeat, p.repeats):
            rec = self._fit_repeat(repeat, ckpt if ckpt is not None and repeat == start_repeat else None, results)
            if rec is None:
                results["stopped_early"] = True
                self._write_results(results)
                return results
            results["repeats"].append(rec)
        summary: dict[str, Any] = {"statistic": p.statistic}
        for key in ("srcc", "plcc", "krcc", "rmse"):
            vals = [r["selected"][key] for r in results["repeats"] if r.get("selected")]
            summary[key] = aggregate(vals, p.statistic)
            summary[f"{key}_per_repeat"] = vals
        results["summary"] = summary
        results["stopped_early"] = False
        self._write_results(results)
        self._log(f"done: {p.statistic} over {len(results['repeats'])} repeat(s): SRCC {summary['srcc']:.4f} "
                  f"PLCC {summary['plcc']:.4f}")
        return results

    def _fit_repeat(self, repeat: int, ckpt: dict[str, Any] | None,
                    results: dict[str, Any]) -> dict[str, Any] | None:
        cfg, p, info = self.cfg, self.protocol, self.dist
        train_ds, eval_ds = self._datasets(repeat)
        _check_test_set(eval_ds, f"the test set of repeat {repeat}")  # before any training
        # the stats of this repeat's training set; a resume keeps the checkpoint's
        if ckpt is not None and "target_stats" in ckpt:
            stats = ckpt["target_stats"]
        else:
            stats = target_stats(cfg.train.target_norm, train_ds)
        self.target_stats = stats
        t_mean, t_std = (stats["mean"], stats["std"]) if stats is not None else (0.0, 1.0)
        _seed_everything(cfg.train.seed + info.rank)
        model = self._make_model().to(self.device)
        identity = self.identity(model)
        if ckpt is not None:
            check_compatible(ckpt, identity, model, path=self.last_checkpoint or "checkpoint")
            model.load_state_dict(ckpt["model"])
        opt = build_optimizer(model, cfg.optim)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        net: nn.Module = model
        if info.enabled:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        loss_fn = LOSSES[cfg.optim.loss]

        n = len(train_ds)  # type: ignore[arg-type]
        global_batch = cfg.data.batch_size * info.world_size
        samples = n * cfg.data.patch_num
        steps_per_epoch = samples // global_batch
        if steps_per_epoch < 1:
            raise ValueError(f"{n} training images × patch_num {cfg.data.patch_num} < one global batch of "
                             f"{global_batch}; lower data.batch_size")
        total = steps_per_epoch * cfg.train.epochs
        step, history = 0, []
        loss_sum, loss_count = 0.0, 0
        if ckpt is not None:
            opt.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            step, history = int(ckpt["step"]), list(ckpt["history"])
            loss_sum, loss_count = float(ckpt["epoch_loss_sum"]), int(ckpt["epoch_loss_count"])
            restore_rng_state(ckpt["rng"][info.rank] if isinstance(ckpt["rng"], list) else ckpt["rng"])

        def state() -> dict[str, Any]:
            rngs = all_gather_objects(capture_rng_state(), info)
            return {"format": FORMAT_VERSION, "identity": identity, "config": config_to_dict(cfg),
                    "repeat": repeat, "step": step, "history": history, "completed_repeats": results["repeats"],
                    "epoch_loss_sum": loss_sum, "epoch_loss_count": loss_count,
                    "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                    "rng": rngs, "target_stats": stats}

        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            tqdm = None
        max_steps = cfg.train.max_steps
        net.train()
        while step < total:
            epoch = step // steps_per_epoch
            first = step % steps_per_epoch
            g = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + repeat * 10_007 + epoch)
            order = (torch.randperm(samples, generator=g) % n).tolist()
            b = cfg.data.batch_size
            batches = []
            for k in range(first, steps_per_epoch):
                lo = k * global_batch + info.rank * b
                batches.append([(order[q], q) for q in range(lo, lo + b)])
            crops = _TrainCrops(train_ds, cfg.data.crop_size, cfg.data.hflip, (cfg.train.seed, repeat, epoch))
            loader = DataLoader(crops, batch_sampler=batches, num_workers=cfg.data.num_workers,
                                collate_fn=_collate_train, pin_memory=self.device.type == "cuda")
            show = info.is_main and cfg.train.progress
            bar = tqdm(total=steps_per_epoch, initial=first, desc=f"repeat {repeat} epoch {epoch + 1}/"
                       f"{cfg.train.epochs}", leave=False, dynamic_ncols=True) if show and tqdm else None
            t0 = time.time()
            for x, y in loader:
                lr = lr_at_step(step, steps_per_epoch, cfg.optim)
                for group in opt.param_groups:
                    group["lr"] = lr
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                if stats is not None:
                    y = (y - t_mean) / t_std
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                    pred = net(x)
                loss = loss_fn(pred.float(), y)
                seen = loss.detach().clone()
                if info.enabled:
                    torch.distributed.all_reduce(seen)
                    seen /= info.world_size
                value = float(seen)
                if not math.isfinite(value):
                    where = self.last_checkpoint or "none written yet"
                    raise TrainingDivergedError(
                        f"loss is {value} at step {step} (repeat {repeat}, epoch {epoch}, batch "
                        f"{step % steps_per_epoch}, lr {lr:.3g}); stopping. Last checkpoint: {where}")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.optim.clip_grad:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad)
                scaler.step(opt)
                scaler.update()
                step += 1
                loss_sum += value
                loss_count += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4g}", lr=f"{lr:.2e}")
                elif show and step % max(1, cfg.train.log_every) == 0:
                    self._log(f"repeat {repeat} step {step}/{total} loss {value:.4g} lr {lr:.2e}")
                epoch_done = step % steps_per_epoch == 0
                if epoch_done:
                    break
                if max_steps is not None and step >= max_steps:
                    if bar is not None:
                        bar.close()
                    self._save(state())
                    self.model = model
                    self._log(f"stopped at step {step} (train.max_steps); checkpoint {self.ckpt_path}")
                    return None
                if cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0:
                    self._save(state())
            if bar is not None:
                bar.close()
            rec: dict[str, Any] = {"epoch": epoch, "step": step, "train_loss": loss_sum / max(1, loss_count),
                                   "lr": lr_at_step(step - 1, steps_per_epoch, cfg.optim),
                                   "time_s": time.time() - t0}
            if (epoch + 1) % max(1, cfg.train.eval_every) == 0 or epoch + 1 == cfg.train.epochs:
                rec.update(self.evaluate(model, eval_ds, stats))
                self._log(f"repeat {repeat} epoch {epoch + 1}: loss {rec['train_loss']:.4g} SRCC {rec['srcc']:.4f} "
                          f"PLCC {rec['plcc']:.4f}")
            history.append(rec)
            loss_sum, loss_count = 0.0, 0
            self._save(state())
            self._write_results({**results, "repeats": [*results["repeats"],
                                                        {"repeat": repeat, "epochs": history, "partial": True}]})
            if max_steps is not None and step >= max_steps and step < total:
                self.model = model
                self._log(f"stopped at step {step} (train.max_steps); checkpoint {self.ckpt_path}")
                return None
        self.model = model
        weights = os.path.join(self.out_dir, f"model_repeat{repeat:02d}.pt")
        if info.is_main:
            save_checkpoint(weights, {"format": FORMAT_VERSION, "identity": identity, "model": model.state_dict(),
                                      "target_stats": stats})
        return {"repeat": repeat, "epochs": history, "selected": select_epoch(history, p.select), "steps": total,
                "weights": weights, "target_stats": stats}
