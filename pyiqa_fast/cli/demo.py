"""``pyiqa-fast demo`` / ``make demo``: train a small DEIQT on ``skimage-synth`` on the CPU and test it.

The run is configured by ``pyiqa_fast/configs/deiqt_demo.yaml`` (``--config`` / ``--set`` change it):
a reduced DEIQT (``deiqt_tiny``: width 96, 2 encoder blocks; 64² crops) trained from scratch on the
embedded :mod:`pyiqa_fast.data.synth` set (scikit-image photos × 24 distortion types × 5 levels,
pseudo-MOS = 100·SSIM against the clean photo) and evaluated on held-out reference photos (split by
photo). It prints SRCC/PLCC and writes ``results.json`` and ``curves.png`` to the run folder
(default ``runs/demo``). A smoke-scale demo, not a benchmark.

``--ops`` also (or ``--ops-only`` only) runs the per-op kernel comparison: DP-IQA's margin ranking
loss, DSMix's ground-truth map and SHDIQA's block-masked attention (forward + backward) on each
backend that can run here, timed and checked against the float64 reference.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from typing import Any

import torch

from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.ops import margin_ranking_loss
from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS

__all__ = ["run_demo", "run_ops_demo", "run_train_demo"]

#: ``--quick``: a seconds-long run of the same pipeline (tests, CI): 2 epochs, smaller images.
QUICK_OVERRIDES = ["data.resize=[64, 64]", "model.kwargs.img_size=32", "data.crop_size=32", "data.patch_num=1",
                   "train.epochs=2", "optim.warmup_epochs=0.5", "protocol_overrides.test_crops=1"]


def run_train_demo(config: str = "deiqt_demo", overrides: list[str] | None = None, out_dir: str | None = None,
                   quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train and test the demo model; print the summary table. Returns the trainer's results record."""
    from pyiqa_fast.data import build_dataset
    from pyiqa_fast.train import Trainer, load_config

    sets = [*(QUICK_OVERRIDES if quick else []), *(overrides or [])]
    if out_dir is not None:
        sets.append(f"train.out_dir={out_dir}")
    cfg = load_config(config, sets)
    if not progress:
        cfg.train.progress = False
    torch.manual_seed(cfg.train.seed)
    d = cfg.data
    print(f"demo: {cfg.model.name} {cfg.model.kwargs} on {d.dataset} ({d.resize or 'default'} px, "
          f"crop {d.crop_size}, {cfg.train.epochs} epochs, batch {d.batch_size}) on {cfg.train.device}, "
          f"{torch.get_num_threads()} threads", flush=True)
    t0 = time.perf_counter()
    train_ds = build_dataset(cfg, "train", 0)  # float32 images in [0, 1]
    test_ds = build_dataset(cfg, "test", 0)
    t_data = time.perf_counter() - t0
    refs = sorted({r.ref_name for r in test_ds.records})
    n_train_refs = len({r.ref_name for r in train_ds.records})
    print(f"data: {len(train_ds)} training images ({n_train_refs} photos), {len(test_ds)} test images "
          f"(held-out photos: {', '.join(refs)}); generated in {t_data:.1f} s", flush=True)
    trainer = Trainer(cfg, train_dataset=train_ds, eval_dataset=test_ds)
    results = trainer.fit()
    wall = time.perf_counter() - t0
    if results.get("stopped_early"):  # train.max_steps: nothing evaluated yet
        print(f"stopped early (train.max_steps) after {wall:.1f} s; checkpoint {trainer.ckpt_path}")
        return results
    rep = results["repeats"][0]
    sel = rep["selected"]
    n_params = sum(p.numel() for p in trainer.model.parameters()) if trainer.model is not None else 0
    out = cfg.train.out_dir
    png = os.path.join(out, "curves.png")
    print()
    print(f"{'model':<12} {'params':>8} {'train imgs':>10} {'test imgs':>9} {'epochs':>6} "
          f"{'SRCC':>7} {'PLCC':>7} {'KRCC':>7} {'time s':>7}")
    print(f"{cfg.model.name:<12} {n_params:>8,} {len(train_ds):>10} {len(test_ds):>9} {cfg.train.epochs:>6} "
          f"{sel['srcc']:>7.4f} {sel['plcc']:>7.4f} {sel['krcc']:>7.4f} {wall:>7.1f}")
    print(f"held-out SRCC/PLCC on {len(test_ds)} images of {len(refs)} unseen photos "
          f"(epoch {sel.get('epoch', len(rep['epochs']) - 1) + 1}, protocol {results['protocol']['name']}, "
          f"select {results['protocol']['select']}); chance is SRCC 0")
    print(f"results: {os.path.join(out, 'results.json')}")
    print(f"curves:  {png}" if os.path.exists(png) else "curves:  (not written: matplotlib missing)")
    return results


def run_demo(batch_size: int = 4096, repeats: int = 20, *, train: bool = True, ops: bool = False,
             quick: bool = False, config: str = "deiqt_demo", overrides: list[str] | None = None,
             out_dir: str | None = None) -> int:
    """``pyiqa-fast demo``: the training demo, then (``ops``) the per-op kernel comparison.

    Returns:
        0, or 1 when the demo's held-out SRCC/PLCC is not a number (one line on stderr).
    """
    if batch_size < 2:
        raise ValueError(f"--batch-size must be >= 2, got {batch_size}")
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    if train:
        results = run_train_demo(config, overrides, out_dir, quick=quick)
        selected = (results.get("repeats") or [{}])[0].get("selected") or {}
        bad = [k.upper() for k in ("srcc", "plcc") if k in selected and not math.isfinite(selected[k])]
        if bad:
            print(f"pyiqa-fast demo: the result is not a number ({', '.join(bad)} NaN: constant predictions?); see "
                  f"{os.path.join(results['config']['train']['out_dir'], 'results.json')}", file=sys.stderr)
            return 1
    if ops:
        if train:
            print()
        run_ops_demo(batch_size, repeats)
    return 0


def _time_fwd_bwd(
    backend: str, pred: torch.Tensor, target: torch.Tensor, repeats: int
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Median seconds of forward + backward, and the loss and gradient."""
    times = []
    for _ in range(repeats + 1):  # the first call loads kernels and is not timed
        p = pred.detach().requires_grad_(True)
        if pred.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = margin_ranking_loss(p, target, backend=backend)
        loss.backward()
        if pred.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), loss.detach(), p.grad


def run_ops_demo(batch_size: int = 4096, repeats: int = 20) -> int:
    """Every op on every available backend: time and agreement with the float64 reference."""
    generator = torch.Generator().manual_seed(0)
    pred = torch.randn(batch_size, generator=generator)
    target = torch.randint(1, 101, (batch_size,), generator=generator).float()  # MOS 1..100, many ties
    print(f"margin_ranking_loss, fwd+bwd, n = {batch_size}, float32, median of {repeats} runs "
          f"({torch.get_num_threads()} CPU threads)")
    truth_loss, truth_grad = None, None
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for backend in dict.fromkeys(("reference", *BACKENDS.auto_order[device])):
            if backend == "reference" and device == "cuda":
                continue
            x, y = pred.to(device), target.to(device)
            try:
                if truth_loss is None:  # float64 reference: the yardstick
                    _, truth_loss, truth_grad = _time_fwd_bwd("reference", x.double(), y.double(), 1)
                seconds, loss, grad = _time_fwd_bwd(backend, x, y, repeats if backend != "reference" else 3)
            except (BackendUnavailableError, RuntimeError) as exc:
                rows.append((backend, device, "-", "-", "-", f"unavailable: {exc}"))
                continue
            loss_err = abs(loss.double().cpu().item() - truth_loss.item())
            grad_err = (grad.double().cpu() - truth_grad).abs().max().item()
            rows.append((backend, device, f"{seconds * 1e3:.3f}", f"{loss_err:.2e}", f"{grad_err:.2e}", ""))
    reference_ms = next(float(r[2]) for r in rows if r[0] == "reference")
    print(f"{'backend':<10} {'device':<6} {'ms':>10} {'speed-up':>9} {'|Δloss|':>9} {'max|Δgrad|':>11}")
    for backend, device, ms, loss_err, grad_err, note in rows:
        speedup = f"{reference_ms / float(ms):.0f}x" if ms != "-" else "-"
        print(f"{backend:<10} {device:<6} {ms:>10} {speedup:>9} {loss_err:>9} {grad_err:>11}  {note}".rstrip())
    print("errors against the float64 reference; speed-up against the reference backend (float32)")
    print()
    _demo_dsm_pool(repeats)
    print()
    _demo_block_attention(max(1, repeats // 4))
    return 0


def _demo_dsm_pool(repeats: int, shape: tuple[int, ...] = (16, 3, 224, 224)) -> None:
    """dsm_pool forward + backward on a batch of 224² crops, every backend that runs here."""
    from pyiqa_fast.ops import dsm_pool
    from pyiqa_fast.ops.dsm_pool.api import BACKENDS as DSM_BACKENDS

    generator = torch.Generator().manual_seed(1)
    ref = torch.rand(shape, generator=generator)
    dist = (ref + 0.1 * torch.randn(shape, generator=generator)).clamp(0, 1)
    grad_out = torch.randn(shape[0], 1, shape[2] // 8, shape[3] // 8, generator=generator)

    def fwd_bwd(backend: str, r: torch.Tensor, d: torch.Tensor, n: int):
        times = []
        for _ in range(n + 1):  # the first call loads kernels and is not timed
            rr, dd = r.detach().requires_grad_(True), d.detach().requires_grad_(True)
            if r.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = dsm_pool(rr, dd, backend=backend)
            out.backward(grad_out.to(out))
            if r.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:]), out.detach(), rr.grad

    _, truth, truth_grad = fwd_bwd("reference", ref.double(), dist.double(), 1)
    print(f"dsm_pool, fwd+bwd, {tuple(shape)}, pool 8, float32, median of {repeats} runs")
    print(f"{'backend':<10} {'device':<6} {'ms':>10} {'speed-up':>9} {'max|Δmap|':>10} {'max|Δgrad|':>11}")
    reference_ms = None
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for backend in dict.fromkeys(("reference", *DSM_BACKENDS.auto_order[device])):
            if backend == "reference" and device == "cuda":
                continue
            try:
                seconds, out, grad = fwd_bwd(backend, ref.to(device), dist.to(device),
                                             repeats if backend != "reference" else 3)
            except (BackendUnavailableError, RuntimeError) as exc:
                print(f"{backend:<10} {device:<6} unavailable: {exc}")
                continue
            ms = seconds * 1e3
            reference_ms = reference_ms or ms
            map_err = (out.double().cpu() - truth).abs().max().item()
            grad_err = (grad.double().cpu() - truth_grad).abs().max().item()
            speedup = f"{reference_ms / ms:.1f}x"
            print(f"{backend:<10} {device:<6} {ms:>10.3f} {speedup:>9} {map_err:>10.2e} {grad_err:>11.2e}")


def _demo_block_attention(repeats: int, shape: tuple[int, ...] = (16, 6, 197, 64)) -> None:
    """block_attention forward + backward at ViT-S shapes, 2-block partition, against SDPA."""
    import torch.nn.functional as F

    from pyiqa_fast.ops import block_attention, partition_groups
    from pyiqa_fast.ops.block_attention.api import BACKENDS as ATTENTION_BACKENDS

    generator = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(shape, generator=generator) for _ in range(3))
    grad_out = torch.randn(shape, generator=generator)
    groups = partition_groups("vertical")

    def fwd_bwd(fn, tensors, n: int):
        times = []
        for _ in range(n + 1):  # the first call loads kernels and is not timed
            leaves = [t.detach().requires_grad_(True) for t in tensors]
            if leaves[0].is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = fn(*leaves)
            out.backward(grad_out.to(out))
            if leaves[0].is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:]), out.detach(), leaves[0].grad

    def ours(backend: str, device: str):
        g = groups.to(device)
        return lambda q, k, v: block_attention(q, k, v, g, g, backend=backend)

    _, truth, truth_grad = fwd_bwd(ours("reference", "cpu"), [t.double() for t in (q, k, v)], 1)
    print(f"block_attention, fwd+bwd, {tuple(shape)}, vertical 2-block partition + CLS, float32, "
          f"median of {repeats} runs")
    print(f"{'provider':<22} {'device':<6} {'ms':>10} {'vs SDPA':>8} {'max|Δout|':>10} {'max|Δgrad_q|':>13}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        tensors = [t.to(device) for t in (q, k, v)]
        sdpa_s, _, _ = fwd_bwd(F.scaled_dot_product_attention, tensors, repeats)
        print(f"{'SDPA, no mask (dense)':<22} {device:<6} {sdpa_s * 1e3:>10.2f} {'1.0x':>8}")
        for backend in dict.fromkeys(("reference", *ATTENTION_BACKENDS.auto_order[device])):
            if backend == "reference" and device == "cuda":
                continue
            try:
                seconds, out, grad = fwd_bwd(ours(backend, device), tensors, repeats)
            except (BackendUnavailableError, RuntimeError) as exc:
                print(f"{backend:<22} {device:<6} unavailable: {exc}")
                continue
            out_err = (out.double().cpu() - truth).abs().max().item()
            grad_err = (grad.double().cpu() - truth_grad).abs().max().item()
            print(f"{backend:<22} {device:<6} {seconds * 1e3:>10.2f} {sdpa_s / seconds:>7.2f}x "
                  f"{out_err:>10.2e} {grad_err:>13.2e}")
