"""The :class:`Trainer`: one training loop for every recipe (a sequence of stages), protocols with
repeats, atomic resumable checkpoints, DDP, results JSON and curves (docs/design/training.md).

What a stage trains and how a batch becomes losses is the stage's (:mod:`pyiqa_fast.train.stages`);
everything else is this loop's. Determinism: every training sample (for MOS stages, a crop's offset
and flip) comes from a generator keyed by ``(seed, repeat, epoch, position in the epoch's global
sample order)`` and every test crop from one keyed by ``(seed, image index)``; the epoch order is a
permutation keyed by ``(seed, repeat, epoch)``. Results therefore do not depend on the number of
DataLoader workers, a resume (also across a stage boundary) reproduces the uninterrupted run bit for
bit on CPU, and ``N`` processes with batch ``B`` see the same global batches as one process with
batch ``N·B`` (equal up to floating-point summation order).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
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
from pyiqa_fast.train.config import Config, config_to_dict, stage_config, validate_config
from pyiqa_fast.train.distributed import DistInfo, all_gather_objects, barrier, init_distributed
from pyiqa_fast.train.protocols import Protocol, aggregate, select_epoch
from pyiqa_fast.train.stages import (
    LOSSES,
    TARGET_NORMS,
    Stage,
    StageContext,
    build_optimizer,
    check_image_size,
    check_stages,
    dataset_mos,
    image_and_mos,
    lr_at_step,
    recipe_stages,
    target_stats,
    to_device,
)

__all__ = [
    "Trainer", "TrainingDivergedError", "lr_at_step", "build_optimizer", "LOSSES", "TARGET_NORMS", "dataset_mos",
    "target_stats",
]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last checkpoint."""


# ---------------------------------------------------------------------------------------------------
# evaluation data


class _TestCrops(Dataset):
    """``K`` test crops of image ``i`` per the protocol's crop mode (random crops keyed by ``(seed, i)``)."""

    def __init__(self, ds: Dataset, crop: int, k: int, mode: str, seed: int) -> None:
        self.ds, self.crop, self.k, self.mode, self.seed = ds, crop, k, mode, seed

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, float]:
        img, mos = image_and_mos(self.ds[i])
        img = torch.as_tensor(img, dtype=torch.float32)
        c = self.crop
        if self.mode == "resize":
            crops = F.interpolate(img[None], size=(c, c), mode="bilinear", antialias=True, align_corners=False)
            return i, crops.expand(self.k, -1, -1, -1).contiguous(), mos
        check_image_size(img, c)
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


def _collate_test(batch: list[tuple[int, torch.Tensor, float]]) -> tuple[list[int], torch.Tensor, list[float]]:
    return [b[0] for b in batch], torch.stack([b[1] for b in batch]), [b[2] for b in batch]


# ---------------------------------------------------------------------------------------------------
# run metadata


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
    """Train and evaluate BIQA models: every stage of a recipe, every repeat of the protocol,
    with resumable checkpoints.

    Args:
        cfg: The run configuration (``cfg.recipe`` names the stages; ``cfg.stages.<name>``
            overrides the config per stage).
        train_dataset: Training set (items ``{"image": Tensor[3, H, W] float in [0, 1], "mos": float}``);
            used for every stage and repeat. If omitted, ``build_dataset(stage_cfg, "train", repeat)``.
        eval_dataset: Test set, likewise (``build_dataset(stage_cfg, "test", repeat)`` if omitted).
        build_dataset: Hook ``(cfg, phase, repeat) -> Dataset``; default
            :func:`pyiqa_fast.data.build.build_dataset`.
        model_factory: ``(cfg) -> nn.Module`` returning ``Tensor[B]`` scores, what
            :class:`~pyiqa_fast.train.stages.MOSStage` trains; default
            ``pyiqa_fast.models.create_model(cfg.model.name, pretrained=cfg.model.pretrained,
            **cfg.model.kwargs)``.
        stages: The stages to run instead of ``cfg.recipe``'s (e.g. a recipe under development).

    A single-stage run writes into ``train.out_dir``; a multi-stage run gives each stage the folder
    ``<train.out_dir>/<stage name>`` (checkpoints, weights, results, curves) and writes the run's
    ``results.json`` (every stage's summary) at the top. Under ``torchrun`` the process group is
    joined on construction (see :mod:`pyiqa_fast.train.distributed`); ``data.batch_size`` is per
    process.

    Raises:
        ConfigError: A config field of the wrong type or out of range, an unknown loss, target
            normalisation or protocol (:func:`~pyiqa_fast.train.config.validate_config`).
        ValueError: An unknown recipe, or stages that do not fit together (repeated names, inputs
            from no earlier stage, overrides for no stage).

    Example:
        >>> from pyiqa_fast.train import Trainer, load_config
        >>> cfg = load_config("deiqt_demo", ["train.epochs=1", "train.out_dir=/tmp/demo"])  # doctest: +SKIP
        >>> results = Trainer(cfg).fit()  # doctest: +SKIP
    """

    def __init__(self, cfg: Config, *, train_dataset: Dataset | None = None, eval_dataset: Dataset | None = None,
                 build_dataset: Callable[[Config, str, int], Dataset] | None = None,
                 model_factory: Callable[[Config], nn.Module] | None = None,
                 stages: Sequence[Stage] | None = None) -> None:
        self.cfg = validate_config(cfg)
        if stages is not None:
            self.stages = list(stages)
            check_stages(self.stages, cfg)
        else:
            self.stages = recipe_stages(cfg)
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
        #: The stage being trained and its config (the run's before :meth:`fit`).
        self.stage: Stage = self.stages[0]
        self._stage_cfg: Config = cfg
        self.ckpt_path = os.path.join(self.stage_dir(self.stage), "checkpoints", "last.pt")
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

    def _make_model(self, cfg: Config | None = None, *, pretrained: bool = True) -> nn.Module:
        """The model of ``cfg`` (default: the stage's), its encoder from ``model.pretrained`` unless
        ``pretrained=False`` (a checkpoint's weights replace them anyway: resume, eval, score)."""
        cfg = cfg if cfg is not None else self._stage_cfg
        if self._model_factory is not None:
            return self._model_factory(cfg)
        from pyiqa_fast.models import create_model

        weights = cfg.model.pretrained if pretrained else None
        return create_model(cfg.model.name, pretrained=weights, **cfg.model.kwargs)

    def _datasets(self, repeat: int) -> tuple[Dataset, Dataset]:
        cfg = self._stage_cfg
        tr = self._train_ds if self._train_ds is not None else self._build_dataset(cfg, "train", repeat)
        te = self._eval_ds if self._eval_ds is not None else self._build_dataset(cfg, "test", repeat)
        return tr, te

    @property
    def multi_stage(self) -> bool:
        """Whether the recipe has more than one stage (each then has its own folder)."""
        return len(self.stages) > 1

    def stage_dir(self, stage: Stage) -> str:
        """The folder of ``stage``'s checkpoints, weights and results."""
        return os.path.join(self.out_dir, stage.name) if self.multi_stage else self.out_dir

    def stage_weights(self, stage: Stage, repeat: int) -> str:
        """The weights file ``stage`` writes at the end of ``repeat``."""
        return os.path.join(self.stage_dir(stage), f"model_repeat{repeat:02d}.pt")

    def _inputs(self, stage: Stage, repeat: int) -> dict[str, str]:
        """The weights files of the stages ``stage`` reads, for ``repeat`` (a stage with fewer
        repeats hands on its last)."""
        by_name = {s.name: s for s in self.stages}
        paths = {}
        for name in stage.inputs:
            source = by_name[name]
            cfg = stage_config(self.cfg, name)
            repeats = Protocol.preset(cfg.protocol, **cfg.protocol_overrides).repeats
            path = self.stage_weights(source, min(repeat, repeats - 1))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"stage {stage.name!r} reads the weights of stage {name!r} for repeat "
                                        f"{repeat}, but {path} does not exist (stage {name!r} has not finished)")
            paths[name] = path
        return paths

    def identity(self, model: nn.Module, ctx: StageContext | None = None) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: model structure and result-changing config
        (and, in a multi-stage run, the stage and the weights it read)."""
        c = self._stage_cfg
        d = c.data
        ident = {
            "model": {"name": c.model.name, "kwargs": json.loads(json.dumps(c.model.kwargs, default=str)),
                      # only when set: checkpoints of random-init runs written before it stay resumable
                      **({"pretrained": c.model.pretrained} if c.model.pretrained else {}),
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
        if self.multi_stage:  # single-stage identities are unchanged: older checkpoints resume
            ident["stage"] = {"recipe": self.cfg.recipe, "name": self.stage.name,
                              "inputs": dict(ctx.inputs) if ctx is not None else {},
                              **({"options": c.recipe_options} if c.recipe_options else {})}
        return ident

    def _results_base(self) -> dict[str, Any]:
        cfg = self._stage_cfg
        base = {"protocol": self.protocol.to_dict(), "seed": cfg.train.seed, "config": config_to_dict(cfg),
                "versions": _versions(), "world_size": self.dist.world_size, "device": str(self.device),
                "amp": self.amp, "plcc_fit": self.protocol.plcc_fit,
                "epoch_selection": self.protocol.select, "repeats": []}
        if self.multi_stage:
            base["stage"] = self.stage.name
        return base

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

        p, c = self.protocol, self._stage_cfg
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

    def stage_losses(self, stage: Stage, net: nn.Module, frozen: dict[str, nn.Module], batch: Any,
                     ctx: StageContext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The first half of a training step (also what bench/bench_train_step.py times): the batch
        moved to the device, the stage's named losses, and their sum (the loss minimised)."""
        named = stage.losses(net, frozen, to_device(batch, self.device), ctx)
        terms = list(named.values())
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        return loss, named

    def _seen(self, loss: torch.Tensor, named: dict[str, torch.Tensor]) -> list[float]:
        """[total, *terms] averaged over ranks: one all-reduce for all of them."""
        seen = torch.stack([loss.detach().float(), *(t.detach().float() for t in named.values())])
        if self.dist.enabled:
            torch.distributed.all_reduce(seen)
            seen /= self.dist.world_size
        return seen.tolist()

    @staticmethod
    def optimise(loss: torch.Tensor, model: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 cfg: Config) -> None:
        """The second half of a training step: backward (scaled under AMP), ``optim.clip_grad``,
        the optimiser step."""
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.optim.clip_grad:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad)
        scaler.step(opt)
        scaler.update()

    def _save(self, state: dict[str, Any]) -> None:
        if self.dist.is_main:
            save_checkpoint(self.ckpt_path, state)
        barrier(self.dist)
        self.last_checkpoint = self.ckpt_path

    def _write_results(self, results: dict[str, Any], folder: str | None = None) -> None:
        if self.dist.is_main:
            atomic_write_bytes(os.path.join(folder or self.stage_dir(self.stage), "results.json"),
                               json.dumps(results, indent=2, allow_nan=True).encode())

    def fit(self, resume: bool | str | os.PathLike = False) -> dict[str, Any]:
        """Run every stage and repeat (or continue from checkpoints) and write the results.

        Args:
            resume: ``True`` continues from the checkpoints under ``train.out_dir`` where they exist
                (a multi-stage run skips the stages that finished and continues the one that did
                not); a path continues a single-stage run from that file (which must exist).

        Returns:
            The results record (also written to ``<out_dir>/results.json``; curves to
            ``curves.png`` per stage). ``results["stopped_early"]`` is True when ``train.max_steps``
            (counted within the stage being trained) stopped the run.

        Raises:
            TrainingDivergedError: Non-finite loss (names the step and the last checkpoint).
            CheckpointMismatchError: The checkpoint belongs to another model or config.
            CheckpointError: The checkpoint is empty, unreadable, lacks entries of a resumable
                checkpoint, or holds non-finite weights.
            ValueError: A checkpoint path given to a multi-stage run.
        """
        if self.multi_stage and resume not in (True, False):
            raise ValueError(f"a multi-stage run resumes from its folder (resume=True), not from a file: "
                             f"got {resume!r}")
        prev_det = torch.are_deterministic_algorithms_enabled()
        prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        if self.cfg.train.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            if not self.multi_stage:
                return self._fit_stage(self.stages[0], resume)
            return self._fit_stages(bool(resume))
        finally:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)

    def _finished(self, stage: Stage) -> dict[str, Any] | None:
        """The results of ``stage`` if an earlier run finished it (every weights file written)."""
        path = os.path.join(self.stage_dir(stage), "results.json")
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as fh:
            results = json.load(fh)
        done = results.get("stopped_early") is False and "summary" in results
        return results if done and all(os.path.isfile(r["weights"]) for r in results["repeats"]) else None

    def _fit_stages(self, resume: bool) -> dict[str, Any]:
        run: dict[str, Any] = {"recipe": self.cfg.recipe, "config": config_to_dict(self.cfg), "stages": []}
        results: dict[str, Any] = {}
        for stage in self.stages:
            done = self._finished(stage) if resume else None
            if done is not None:
                self._log(f"stage {stage.name}: finished in an earlier run ({self.stage_dir(stage)})")
                results = done
            else:
                self._log(f"stage {stage.name} ({self.stages.index(stage) + 1}/{len(self.stages)})")
                results = self._fit_stage(stage, resume)
            run["stages"].append({"name": stage.name, "dir": self.stage_dir(stage),
                                  "stopped_early": results["stopped_early"], "summary": results.get("summary")})
            if results["stopped_early"]:
                break
        run["stopped_early"] = results["stopped_early"]
        if not run["stopped_early"]:
            run["summary"] = results.get("summary")
        self._write_results(run, self.out_dir)
        return run

    def _fit_stage(self, stage: Stage, resume: bool | str | os.PathLike) -> dict[str, Any]:
        self.stage = stage
        self._stage_cfg = stage_config(self.cfg, stage.name)
        self.protocol = Protocol.preset(self._stage_cfg.protocol, **self._stage_cfg.protocol_overrides)
        self.ckpt_path = os.path.join(self.stage_dir(stage), "checkpoints", "last.pt")
        self.last_checkpoint = None
        ckpt = None
        if resume:
            path = self.ckpt_path if resume is True else os.fspath(resume)
            if resume is not True or os.path.exists(path):
                ckpt = load_checkpoint(path, require=WEIGHTS_KEYS + RESUME_KEYS)
                self.last_checkpoint = path
                self._log(f"resuming from {path} (repeat {ckpt['repeat']}, step {ckpt['step']})")
        results = self._fit(stage, ckpt)
        if self.dist.is_main and not results.get("stopped_early"):
            from pyiqa_fast.train.plots import plot_training_curves

            reason = plot_training_curves(results, os.path.join(self.stage_dir(stage), "curves.png"))
            if reason:
                self._log(reason)
        return results

    def _fit(self, stage: Stage, ckpt: dict[str, Any] | None) -> dict[str, Any]:
        p = self.protocol
        results = self._results_base()
        start_repeat = 0
        if ckpt is not None:
            results["repeats"] = list(ckpt["completed_repeats"])
            start_repeat = int(ckpt["repeat"])
        for repeat in range(start_repeat, p.repeats):
            rec = self._fit_repeat(stage, repeat, ckpt if ckpt is not None and repeat == start_repeat else None,
                                   results)
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
        what = f"stage {stage.name}: " if self.multi_stage else ""
        if summary["srcc_per_repeat"]:
            self._log(f"done: {what}{p.statistic} over {len(results['repeats'])} repeat(s): SRCC "
                      f"{summary['srcc']:.4f} PLCC {summary['plcc']:.4f}")
        else:
            self._log(f"done: {what}{len(results['repeats'])} repeat(s) (no test metrics)")
        return results

    def _fit_repeat(self, stage: Stage, repeat: int, ckpt: dict[str, Any] | None,
                    results: dict[str, Any]) -> dict[str, Any] | None:
        cfg, p, info = self._stage_cfg, self.protocol, self.dist
        train_ds, eval_ds = self._datasets(repeat)
        evaluates = type(stage).evaluate is not Stage.evaluate
        if evaluates:
            _check_test_set(eval_ds, f"the test set of repeat {repeat}")  # before any training
        ctx = StageContext(cfg, repeat, self.device, self.amp, inputs=self._inputs(stage, repeat), rank=info.rank)
        # the stats of this repeat's training set; a resume keeps the checkpoint's
        if ckpt is not None and "target_stats" in ckpt:
            stats = ckpt["target_stats"]
        else:
            stats = stage.target_stats(train_ds, ctx)
        self.target_stats = ctx.target_stats = stats
        _seed_everything(cfg.train.seed + info.rank)
        # A resumed run's weights come from its checkpoint: no need for the pretrained file.
        model = stage.build_model(ctx, functools.partial(self._make_model, pretrained=ckpt is None)).to(self.device)
        frozen = {name: m.to(self.device).eval().requires_grad_(False) for name, m in stage.build_frozen(ctx).items()}
        identity = self.identity(model, ctx)
        if ckpt is not None:
            check_compatible(ckpt, identity, model, path=self.last_checkpoint or "checkpoint")
            model.load_state_dict(ckpt["model"])
        opt = stage.optimizer(model, ctx)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        net: nn.Module = model
        if info.enabled:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

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
        named_sums: dict[str, float] = {}
        if ckpt is not None:
            opt.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            step, history = int(ckpt["step"]), list(ckpt["history"])
            loss_sum, loss_count = float(ckpt["epoch_loss_sum"]), int(ckpt["epoch_loss_count"])
            named_sums = dict(ckpt.get("epoch_losses", {}))
            restore_rng_state(ckpt["rng"][info.rank] if isinstance(ckpt["rng"], list) else ckpt["rng"])

        def state() -> dict[str, Any]:
            rngs = all_gather_objects(capture_rng_state(), info)
            return {"format": FORMAT_VERSION, "identity": identity, "config": config_to_dict(cfg),
                    "repeat": repeat, "step": step, "history": history, "completed_repeats": results["repeats"],
                    "epoch_loss_sum": loss_sum, "epoch_loss_count": loss_count, "epoch_losses": named_sums,
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
            loader = DataLoader(stage.train_samples(train_ds, ctx, epoch), batch_sampler=batches,
                                num_workers=cfg.data.num_workers, collate_fn=stage.collate,
                                pin_memory=self.device.type == "cuda")
            show = info.is_main and cfg.train.progress
            what = f"{stage.name} " if self.multi_stage else ""
            bar = tqdm(total=steps_per_epoch, initial=first, desc=f"{what}repeat {repeat} epoch {epoch + 1}/"
                       f"{cfg.train.epochs}", leave=False, dynamic_ncols=True) if show and tqdm else None
            t0 = time.time()
            for batch in loader:
                lr = stage.lr(step, steps_per_epoch, ctx)
                for group in opt.param_groups:
                    group["lr"] = lr
                ctx.step = step
                loss, named = self.stage_losses(stage, net, frozen, batch, ctx)
                value, *term_values = self._seen(loss, named)
                if not math.isfinite(value):
                    where = self.last_checkpoint or "none written yet"
                    terms_seen = "".join(f"{k} {v:.4g}, " for k, v in zip(named, term_values, strict=True)
                                         if len(named) > 1)
                    raise TrainingDivergedError(
                        f"loss is {value} at step {step} ({terms_seen}{what}repeat {repeat}, epoch {epoch}, batch "
                        f"{step % steps_per_epoch}, lr {lr:.3g}); stopping. Last checkpoint: {where}")
                self.optimise(loss, model, opt, scaler, cfg)
                step += 1
                loss_sum += value
                loss_count += 1
                for k, v in zip(named, term_values, strict=True):
                    named_sums[k] = named_sums.get(k, 0.0) + v
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4g}", lr=f"{lr:.2e}")
                elif show and step % max(1, cfg.train.log_every) == 0:
                    self._log(f"{what}repeat {repeat} step {step}/{total} loss {value:.4g} lr {lr:.2e}")
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
            count = max(1, loss_count)
            rec: dict[str, Any] = {"epoch": epoch, "step": step, "train_loss": loss_sum / count,
                                   "losses": {k: v / count for k, v in named_sums.items()},
                                   "lr": stage.lr(step - 1, steps_per_epoch, ctx), "time_s": time.time() - t0}
            if (epoch + 1) % max(1, cfg.train.eval_every) == 0 or epoch + 1 == cfg.train.epochs:
                metrics = stage.evaluate(self, model, eval_ds, ctx)
                if metrics:
                    rec.update(metrics)
                    self._log(f"{what}repeat {repeat} epoch {epoch + 1}: loss {rec['train_loss']:.4g} SRCC "
                              f"{rec['srcc']:.4f} PLCC {rec['plcc']:.4f}")
                else:
                    self._log(f"{what}repeat {repeat} epoch {epoch + 1}: loss {rec['train_loss']:.4g}")
            history.append(rec)
            loss_sum, loss_count, named_sums = 0.0, 0, {}
            self._save(state())
            self._write_results({**results, "repeats": [*results["repeats"],
                                                        {"repeat": repeat, "epochs": history, "partial": True}]})
            if max_steps is not None and step >= max_steps and step < total:
                self.model = model
                self._log(f"stopped at step {step} (train.max_steps); checkpoint {self.ckpt_path}")
                return None
        self.model = model
        weights = self.stage_weights(stage, repeat)
        if info.is_main:
            save_checkpoint(weights, {"format": FORMAT_VERSION, "identity": identity, "model": model.state_dict(),
                                      "target_stats": stats})
        barrier(info)  # the next stage reads it
        return {"repeat": repeat, "epochs": history, "selected": select_epoch(history, p.select), "steps": total,
                "weights": weights, "target_stats": stats}
