"""``pyiqa-fast demo`` / ``make demo``: SHDIQA at smoke scale on the CPU, beside DEIQT.

The run is configured by ``pyiqa_fast/configs/shdiqa_demo.yaml`` (``--config`` / ``--set`` change it):
on the embedded ``skimage-synth-blocks`` set (scikit-image photos, a different distortion per half
of each image, pseudo-MOS = 100·SSIM against the clean photo; :mod:`pyiqa_fast.data.synth`) a tiny
SHDIQA teacher learns each block's distortion type and level, then the tiny BAF student learns the
MOS with contrastive and affinity distillation from it; DEIQT-tiny (``deiqt_demo.yaml``) trains on
the same data, split, crops and epochs. Both are tested on held-out photos (split by photo). It
prints SRCC/PLCC of both and writes ``results.json`` per stage and run and ``demo_curves.png`` (loss
terms and held-out metrics per epoch) to the run folder (default ``runs/demo``). ``--config
deiqt_demo`` runs DEIQT alone on ``skimage-synth``. A smoke-scale demo, not a benchmark.

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


#: The demo's baseline: DEIQT-tiny (deiqt_demo.yaml's model and recipe) on the same data and budget.
BASELINE_CONFIG = "deiqt_demo"


def _train_one(config: str, sets: list[str], progress: bool, label: str) -> dict[str, Any]:
    """Train and test one config (any recipe); the row of the summary table."""
    from pyiqa_fast.data import build_dataset
    from pyiqa_fast.train import Trainer, load_config

    cfg = load_config(config, sets)
    if not progress:
        cfg.train.progress = False
    torch.manual_seed(cfg.train.seed)
    d = cfg.data
    stages = f", recipe {cfg.recipe}" if cfg.recipe != "deiqt" else ""
    print(f"{label}: {cfg.model.name} {cfg.model.kwargs} on {d.dataset} ({d.resize or 'default'} px, crop "
          f"{d.crop_size}, {cfg.train.epochs} epochs, batch {d.batch_size}{stages}) on {cfg.train.device}, "
          f"{torch.get_num_threads()} threads", flush=True)
    t0 = time.perf_counter()
    train_ds = build_dataset(cfg, "train", 0)  # float32 images in [0, 1]
    test_ds = build_dataset(cfg, "test", 0)
    refs = sorted({r.ref_name for r in test_ds.records})
    n_train_refs = len({r.ref_name for r in train_ds.records})
    print(f"data: {len(train_ds)} training images ({n_train_refs} photos), {len(test_ds)} test images "
          f"(held-out photos: {', '.join(refs)}); generated in {time.perf_counter() - t0:.1f} s", flush=True)
    trainer = Trainer(cfg, train_dataset=train_ds, eval_dataset=test_ds)
    run = trainer.fit()
    folder = trainer.stage_dir(trainer.stage)  # the last stage trained: the model tested
    results = run if "repeats" in run else _read_json(os.path.join(folder, "results.json"))
    row = {"label": label, "model": cfg.model.name, "out": cfg.train.out_dir, "folder": folder,
           "stopped_early": run["stopped_early"], "ckpt": trainer.ckpt_path, "results": results,
           "n_train": len(train_ds), "n_test": len(test_ds), "refs": refs, "epochs": cfg.train.epochs,
           "wall": time.perf_counter() - t0,
           "params": sum(p.numel() for p in trainer.model.parameters()) if trainer.model is not None else 0}
    if not row["stopped_early"]:
        row["selected"] = results["repeats"][0]["selected"]
    return row


def _read_json(path: str) -> dict[str, Any]:
    import json

    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _plot_rows(rows: list[dict[str, Any]], path: str) -> bool:
    """Loss terms and held-out SRCC/PLCC per epoch of every demo run, in one picture."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for row in rows:
        epochs = row["results"]["repeats"][0]["epochs"]
        ep = [e["epoch"] + 1 for e in epochs]
        line, = axes[0].plot(ep, [e["train_loss"] for e in epochs], marker="o", label=f"{row['model']}: total")
        terms = sorted({k for e in epochs for k in e.get("losses", {})})
        for style, term in zip(("--", ":", "-."), terms if len(terms) > 1 else [], strict=False):
            axes[0].plot(ep, [e["losses"].get(term) for e in epochs], style, color=line.get_color(),
                         label=f"{row['model']}: {term}")
        for ax, key in zip(axes[1:], ("srcc", "plcc"), strict=True):
            ax.plot(ep, [e.get(key) for e in epochs], marker="o", color=line.get_color(), label=row["model"])
    for ax, title in zip(axes, ("training loss (per term)", "held-out SRCC", "held-out PLCC"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("pyiqa-fast demo: " + " vs ".join(r["model"] for r in rows) + " on held-out photos", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run_train_demo(config: str = "shdiqa_demo", overrides: list[str] | None = None, out_dir: str | None = None,
                   quick: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Train and test the demo model (and, for a method recipe, DEIQT-tiny at the same budget on the
    same data); print the summary table. Returns the table's rows (each with its results record)."""
    from pyiqa_fast.train import load_config

    sets = [*(QUICK_OVERRIDES if quick else []), *(overrides or [])]
    main_cfg = load_config(config, [*sets, *([f"train.out_dir={out_dir}"] if out_dir else [])])
    out = main_cfg.train.out_dir
    runs = [(config, [*sets, f"train.out_dir={out}"], "demo")]
    if main_cfg.recipe != "deiqt":  # the baseline: DEIQT-tiny on the same data, split, crops and epochs
        shared = [s for s in sets if not s.startswith(("stages.", "recipe", "model.name"))]
        d = main_cfg.data
        runs.append((BASELINE_CONFIG, [f"data.dataset={d.dataset}", *shared,
                                       f"train.out_dir={os.path.join(out, 'deiqt_baseline')}"], "baseline"))
    rows = []
    for name, run_sets, label in runs:
        row = _train_one(name, run_sets, progress, label)
        if row["stopped_early"]:  # train.max_steps: nothing evaluated yet
            print(f"stopped early (train.max_steps) after {row['wall']:.1f} s; checkpoint {row['ckpt']}")
            return [row]
        rows.append(row)
    print()
    print(f"{'model':<20} {'params':>8} {'train imgs':>10} {'test imgs':>9} {'epochs':>6} "
          f"{'SRCC':>7} {'PLCC':>7} {'KRCC':>7} {'time s':>7}")
    for row in rows:
        sel = row["selected"]
        print(f"{row['model']:<20} {row['params']:>8,} {row['n_train']:>10} {row['n_test']:>9} {row['epochs']:>6} "
              f"{sel['srcc']:>7.4f} {sel['plcc']:>7.4f} {sel['krcc']:>7.4f} {row['wall']:>7.1f}")
    first = rows[0]
    protocol = first["results"]["protocol"]
    print(f"held-out SRCC/PLCC on {first['n_test']} images of {len(first['refs'])} unseen photos (epoch "
          f"{first['selected'].get('epoch', 0) + 1}, protocol {protocol['name']}, select {protocol['select']}); "
          "chance is SRCC 0")
    png = os.path.join(out, "demo_curves.png")
    for row in rows:
        print(f"results: {os.path.join(row['folder'], 'results.json')}")
    print(f"curves:  {png}" if _plot_rows(rows, png) else "curves:  (not written: matplotlib missing)")
    return rows


def run_demo(batch_size: int = 4096, repeats: int = 20, *, train: bool = True, ops: bool = False,
             quick: bool = False, config: str = "shdiqa_demo", overrides: list[str] | None = None,
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
        for row in run_train_demo(config, overrides, out_dir, quick=quick):
            selected = row.get("selected") or {}
            bad = [k.upper() for k in ("srcc", "plcc") if k in selected and not math.isfinite(selected[k])]
            if bad:
                print(f"pyiqa-fast demo: the result is not a number ({', '.join(bad)} NaN: constant predictions?); "
                      f"see {os.path.join(row['folder'], 'results.json')}", file=sys.stderr)
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
