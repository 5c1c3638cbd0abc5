"""Benchmark of one training step: images per second of the data path (crops of a batch collated and
moved to the training device), forward, backward and optimiser step, per model × provider, side by
side in one process (bench/harness.py), with the step's phases timed separately.

Providers:
    stage: the trainer's own step (``Trainer.stage_losses`` + ``Trainer.optimise`` on the
        recipe's first stage: ``MOSStage`` for DEIQT, i.e. autocast on CUDA, SmoothL1, DEIQT's
        AdamW groups, gradient clipping at ``optim.clip_grad``).
    plain: the baseline a user would write by hand: ``model(x)``, SmoothL1, ``backward``,
        ``clip_grad_norm_``, ``AdamW.step`` (one parameter group), no stage machinery.
The correctness gate: one step of each from the same initial weights and batch gives the same
loss and the same updated weights as the other (the parameter groups differ only in weight decay,
so the gate compares with weight decay 0).

Phases (``notes.phases_ms``, medians over ``--phase-steps`` steps): data, forward (losses),
backward, optimiser; on CUDA each phase ends with a synchronisation, so the sum exceeds the
un-synchronised step that the p50 times.

Models (``--models``): ``deiqt_tiny`` (the demo's: 64² crops, 8×8 patches) and
``deiqt_vit_s16`` (the paper's ViT-S/16 at 224²), batch ``--batch`` (16, DEIQT's per-GPU batch).
The method issues add their stages' steps here (``--models`` entries naming a recipe stage).
Usage: ``python -m bench.bench_train_step [--models deiqt_tiny] [--smoke]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench import harness

FAMILY, OP = "train", "train_step"
_TINY = {"img_size": 64, "patch_size": 8, "normalize_input": True}
#: Model entries: the recipe and stage whose step is timed, the model (and the teacher a student reads).
MODELS: dict[str, dict[str, Any]] = {
    "deiqt_tiny": {"kwargs": _TINY, "crop": 64},
    "deiqt_vit_s16": {"kwargs": {"normalize_input": True}, "crop": 224},
    "shdiqa_teacher_tiny": {"kwargs": _TINY, "crop": 64, "recipe": "shdiqa", "stage": "teacher"},
    "shdiqa_student_tiny": {"kwargs": _TINY, "crop": 64, "recipe": "shdiqa", "stage": "student",
                            "teacher": "shdiqa_teacher_tiny"},
    "shdiqa_teacher": {"kwargs": {"normalize_input": True}, "crop": 224, "recipe": "shdiqa", "stage": "teacher"},
    "shdiqa_student": {"kwargs": {"normalize_input": True}, "crop": 224, "recipe": "shdiqa", "stage": "student",
                       "teacher": "shdiqa_teacher"},
}
PROVIDERS = {
    "stage": "Trainer.stage_losses + Trainer.optimise (the loop's step: the stage's losses, its optimiser, clip 5; "
             "SHDIQA: block_attention's cpu/cuda kernels, BDM through distort on the training device)",
    "plain": "DEIQT only: hand-written step: model(x), smooth_l1, backward, clip_grad_norm_, AdamW.step (baseline)",
    "stock": "SHDIQA student only: the same step from stock parts: BAF as dense boolean-masked attention in plain "
             "PyTorch (block_attention's reference), the BDM view per image and block through the ARNIQA-style "
             "functions bench_distort's loop uses (tests/references/arniqa.py) (baseline)",
}


def make_config(model: str, batch: int, device: torch.device, weight_decay: float | None = None):
    from pyiqa_fast.train.config import Config, apply_overrides

    spec = MODELS[model]
    # SHDIQA entries: the student is the run's model, the teacher the teacher stage's
    stage = spec.get("stage")
    student = model.replace("teacher", "student") if stage else model
    teacher = spec.get("teacher", model) if stage else None
    overrides = [f"model.name={student}", f"model.kwargs={spec['kwargs']}", "data.dataset=synthetic",
                 *([f"recipe={spec['recipe']}", f"stages.teacher.model.name={teacher}"] if stage else []),
                 f"data.crop_size={spec['crop']}", f"data.batch_size={batch}", "data.num_workers=0",
                 f"train.device={device.type}", "train.progress=false", "train.out_dir=/tmp/bench_train_step"]
    if weight_decay is not None:
        overrides.append(f"optim.weight_decay={weight_decay}")
    return apply_overrides(Config(), overrides)


class StepInputs:
    """Batches of training crops cycled through (the data path of the trainer: keyed crops of a
    dataset, collated by the stage)."""

    def __init__(self, cfg, batch: int, seed: int) -> None:
        from pyiqa_fast.data import SyntheticIQADataset
        from pyiqa_fast.train.stages import MOSStage, StageContext

        crop = cfg.data.crop_size
        self.stage, self.dataset = MOSStage(), SyntheticIQADataset(4 * batch, crop + 16, seed=seed)
        ctx = StageContext(cfg, 0, torch.device(cfg.train.device))
        self.samples = self.stage.train_samples(self.dataset, ctx, epoch=0)
        self.batches = [[((k * batch + i) % len(self.dataset), k * batch + i) for i in range(batch)] for k in range(4)]
        self.k = 0

    def next(self) -> Any:
        """A collated batch (host tensors)."""
        idx = self.batches[self.k % len(self.batches)]
        self.k += 1
        return self.stage.collate([self.samples[i] for i in idx])


class StageStep:
    """The trainer's step on the model entry's stage (provider ``stage``); a student stage reads a
    random-init teacher written to a temporary weights file."""

    def __init__(self, cfg, seed: int, stage_name: str | None = None) -> None:
        from pyiqa_fast.train import Trainer
        from pyiqa_fast.train.config import stage_config
        from pyiqa_fast.train.stages import StageContext

        self.trainer = Trainer(cfg)
        self.stage = next(s for s in self.trainer.stages if stage_name in (None, s.name))
        stage_cfg = self.trainer._stage_cfg = stage_config(cfg, self.stage.name)
        self.ctx = StageContext(stage_cfg, 0, self.trainer.device, self.trainer.amp, inputs=self._teacher_file())
        torch.manual_seed(seed)
        self.model = self.stage.build_model(self.ctx, self.trainer._make_model).to(self.trainer.device).train()
        self.frozen = {k: m.to(self.trainer.device).eval().requires_grad_(False)
                       for k, m in self.stage.build_frozen(self.ctx).items()}
        self.opt = self.stage.optimizer(self.model, self.ctx)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.trainer.amp)
        self.cfg, self.clip = stage_cfg, stage_cfg.optim.clip_grad

    def _teacher_file(self) -> dict[str, str]:
        if "teacher" not in self.stage.inputs:
            return {}
        import tempfile

        from pyiqa_fast.models import create_model
        from pyiqa_fast.train.checkpoint import save_checkpoint
        from pyiqa_fast.train.config import stage_config

        t = stage_config(self.trainer.cfg, "teacher").model
        path = f"{tempfile.mkdtemp()}/teacher.pt"
        save_checkpoint(path, {"format": 1, "identity": {"model": {"name": t.name, "kwargs": t.kwargs}},
                               "model": create_model(t.name, **t.kwargs).state_dict()})
        return {"teacher": path}

    def losses(self, batch: Any) -> torch.Tensor:
        self.ctx.step += 1  # a new BDM draw each step, as in training
        return self.trainer.stage_losses(self.stage, self.model, self.frozen, batch, self.ctx)[0]

    def optimise(self, loss: torch.Tensor) -> None:
        self.trainer.optimise(loss, self.model, self.opt, self.scaler, self.cfg)


class PlainStep:
    """The hand-written baseline (provider ``plain``)."""

    def __init__(self, cfg, seed: int, stage_name: str | None = None) -> None:
        from pyiqa_fast.models import create_model

        self.device = torch.device(cfg.train.device)
        torch.manual_seed(seed)
        self.model = create_model(cfg.model.name, **cfg.model.kwargs).to(self.device).train()
        o = cfg.optim
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=o.warmup_lr, betas=tuple(o.betas), eps=o.eps,
                                     weight_decay=o.weight_decay)
        self.clip = o.clip_grad
        self.amp = self.device.type == "cuda" and cfg.train.amp

    def losses(self, batch: Any) -> torch.Tensor:
        x, y = (t.to(self.device, non_blocking=True) for t in batch)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            pred = self.model(x)
        return F.smooth_l1_loss(pred.float(), y, beta=1.0)

    def optimise(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()


class StockBDM:
    """BDM from stock parts: the block model's draws, applied per image and block by the ARNIQA-style
    per-image functions (tests/references/arniqa.py, bench_distort's loop), composited per block."""

    def __init__(self, bdm) -> None:
        self.bdm, self.type_ids = bdm, bdm.type_ids

    def __call__(self, x, generator=None):
        from pyiqa_fast.distortions.block import BlockDegradationOutput, token_block_map
        from pyiqa_fast.distortions.params import block_bounds
        from pyiqa_fast.distortions.registry import SPECS
        from tests.references import arniqa

        params, types, levels = self.bdm.sample(x.shape[0], generator, image_size=tuple(x.shape[2:]))
        out = x.clone()
        for b in range(x.shape[0]):
            for k, (y0, y1, x0, x1) in enumerate(block_bounds(x.shape[2], x.shape[3], params.partition)):
                fn = arniqa.FUNCTIONS[SPECS[int(params.types[b, k, 0])].name]
                out[b, :, y0:y1, x0:x1] = fn(x[b], int(params.levels[b, k, 0])).clamp(0, 1)[:, y0:y1, x0:x1]
        block_map = token_block_map(x.shape[2], x.shape[3], self.bdm.partition, self.bdm.patch_size)
        return BlockDegradationOutput(out, block_map.expand(x.shape[0], -1, -1).to(x.device), types.to(x.device),
                                      levels.to(x.device), params)


class StockStep(StageStep):
    """The SHDIQA student's step from stock parts (provider ``stock``)."""

    def __init__(self, cfg, seed: int, stage_name: str | None = None) -> None:
        from pyiqa_fast.train.config import apply_overrides

        super().__init__(apply_overrides(cfg, ["model.kwargs.backend=reference"]), seed, stage_name)
        self.losses(StepInputs(self.cfg, 2, seed).next())  # builds the stage's BDM module, then swap it
        self.stage._bdm = StockBDM(self.stage._bdm)


STEPS: dict[str, Callable[..., Any]] = {"stage": StageStep, "plain": PlainStep, "stock": StockStep}


def providers_of(model: str, asked: list[str]) -> list[str]:
    """The providers that apply to ``model``: ``plain`` for DEIQT, ``stock`` for the SHDIQA student."""
    stage = MODELS[model].get("stage")
    fits = {"stage": True, "plain": stage is None, "stock": stage == "student"}
    return [p for p in asked if fits[p]]


def one_step(step: Any, inputs: StepInputs) -> Callable[[], None]:
    def run() -> None:
        step.optimise(step.losses(inputs.next()))
    return run


def phases_ms(step: Any, inputs: StepInputs, device: torch.device, n: int) -> dict[str, float]:
    """Median milliseconds of each phase over ``n`` steps (synchronised on CUDA)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times: dict[str, list[float]] = {"data": [], "forward": [], "backward": [], "optimiser": []}
    for _ in range(n):
        t0 = time.perf_counter()
        batch = inputs.next()
        sync()
        t1 = time.perf_counter()
        loss = step.losses(batch)
        sync()
        t2 = time.perf_counter()
        # backward and optimiser apart (optimise() = zero_grad, backward, clip, step; unscaled here)
        step.opt.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t3 = time.perf_counter()
        if step.clip:
            torch.nn.utils.clip_grad_norm_(step.model.parameters(), step.clip)
        step.opt.step()
        sync()
        t4 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            times[key].append(dt * 1e3)
    return {key: statistics.median(v) for key, v in times.items()}


def gate(model: str, batch: int, device: torch.device, seed: int) -> str | None:
    """``None`` if one step of ``stage`` and of ``plain`` from the same weights and batch give the
    same loss and weights (weight decay 0: the two providers group parameters differently)."""
    cfg = make_config(model, batch, device, weight_decay=0.0)
    cfg.train.amp = False  # compare in float32 (GradScaler vs none)
    inputs = StepInputs(cfg, batch, seed)
    steps = [STEPS[p](cfg, seed) for p in ("stage", "plain")]  # DEIQT entries only
    batch_data = inputs.next()
    losses = []
    for s in steps:
        for g in s.opt.param_groups:
            g["lr"] = 1e-4
        loss = s.losses(batch_data)
        losses.append(float(loss))
        s.optimise(loss)
    if abs(losses[0] - losses[1]) > 1e-5 * max(1.0, abs(losses[1])):
        return f"losses differ: stage {losses[0]:.7g}, plain {losses[1]:.7g}"
    a, b = (dict(s.model.named_parameters()) for s in steps)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    return None if worst <= 1e-5 else f"weights differ after one step by up to {worst:.3g}"


def run_model(args: argparse.Namespace, model: str, device: torch.device) -> list[harness.Row]:
    cfg = make_config(model, args.batch, device)
    spec = MODELS[model]
    crop = spec["crop"]
    shape = (args.batch, 3, crop, crop)
    plain = "stage" not in spec
    why_gate = gate(model, args.batch, device, args.seed) if plain else None
    contenders = []
    for p in providers_of(model, args.providers):
        step, inputs = STEPS[p](cfg, args.seed, spec.get("stage")), StepInputs(cfg, args.batch, args.seed)
        correctness = ("stage vs plain after one step (weight decay 0, fp32)" if plain else
                       "not checked here: tests/models/test_shdiqa.py holds block_attention's backends equal; the "
                       "stock BDM is ARNIQA's maths, not distort's")
        notes = {"phases_ms": phases_ms(step, inputs, device, args.phase_steps), "correctness": correctness,
                 "images_per_step": args.batch}
        contenders.append(harness.Contender(
            harness.BenchCase(FAMILY, OP, p, "train", shape, "float32", {"model": model}),
            fn=one_step(step, inputs), check=(lambda why=why_gate: why) if plain else None, notes=notes))
    print(f"{model} B={args.batch} {crop}x{crop} on {device}", flush=True)
    return harness.run_side_by_side(contenders, device, rounds=args.rounds, min_run_time=args.min_run_time,
                                    measure_memory=not args.no_memory)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_train_step", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--models", type=harness.csv_list(harness.one_of(MODELS)), help=f"subset of {','.join(MODELS)}")
    add("--providers", type=harness.csv_list(harness.one_of(PROVIDERS)), help=f"subset of {','.join(PROVIDERS)}")
    add("--batch", type=int, help="images per step (default 16)")
    add("--phase-steps", type=int, help="steps over which phases are timed (default 5)")
    add("--rounds", type=int)
    add("--min-run-time", type=float)
    add("--no-memory", action="store_true")
    add("--seed", type=int, default=0)
    add("--device", choices=("cpu", "cuda"))
    add("--suite", default="train_step")
    add("--out", help="results folder (default bench/results/<version>)")
    add("--smoke", action="store_true", help="deiqt_tiny, batch 4, one round (tests)")
    args = ap.parse_args(argv)
    defaults = {
        "models": ["deiqt_tiny", "shdiqa_student_tiny"] if args.smoke else list(MODELS),
        "providers": list(PROVIDERS),
        "batch": 4 if args.smoke else 16,
        "phase_steps": 2 if args.smoke else 5,
        "rounds": 1 if args.smoke else 3,
        "min_run_time": 0.05 if args.smoke else 3.0,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def phase_report(records: list[dict]) -> str:
    lines = ["model            provider  img/s   step p50   data  forward backward optimiser (ms, medians)"]
    for r in records:
        if r.get("p50") is None:
            lines.append(f"{r['extra']['model']:<16} {r['provider']:<8} skipped: {r.get('skipped_reason')}")
            continue
        ph = r["notes"]["phases_ms"]
        ips = r["shape"][0] / (r["p50"] * 1e-6)
        lines.append(f"{r['extra']['model']:<16} {r['provider']:<8} {ips:6.1f} {r['p50'] / 1e3:8.1f} ms "
                     f"{ph['data']:6.1f} {ph['forward']:8.1f} {ph['backward']:8.1f} {ph['optimiser']:9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    metadata = harness.environment(device)
    metadata.update(providers={p: PROVIDERS[p] for p in args.providers}, batch=args.batch)
    if metadata.get("loadavg_start") and metadata["loadavg_start"][0] > 1.0:
        print(f"warning: load average {metadata['loadavg_start'][0]:.2f}; other work distorts CPU timings",
              file=sys.stderr)
    rows = [row for model in args.models for row in run_model(args, model, device)]
    records = harness.to_records(rows, metadata)
    out = Path(args.out) if args.out else harness.default_out_dir()
    json_path, csv_path = harness.write_results(records, metadata, out,
                                                harness.result_stem(args.suite, device))
    print(phase_report(records))
    print(f"\nwrote {json_path}\n      {csv_path}")
    return 0 if all(r.get("p50") is not None for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
