"""Benchmark of ``margin_ranking_loss`` against DP-IQA's loop and the n×n broadcast.

PERFORMANCE.md §2.4 and §5.4: forward + backward timed together (the loss is useless without
its gradient), on the same inputs, side by side in one process, with peak memory, after a
correctness gate of loss and gradient against a float64 oracle.

Providers:
    dpiqa_loop: DP-IQA's ``DynamicMarginRankingLoss`` (``tests/references/dpiqa_margin.py``), a
        Python double loop over i < j; n(n−1)/2 scalar subgraphs, so only n <= --loop-max-n.
    broadcast: pyiqa ``RankLoss``-style n×n broadcast with DP-IQA's semantics, eager.
    broadcast_compiled: ``broadcast`` under ``torch.compile(dynamic=False)``.
    reference, cpu, cuda, triton: ``pyiqa_fast.ops.margin_ranking_loss(..., backend=name)``.

Oracle: the ``reference`` backend on the inputs cast to float64 where its n×n intermediates fit
in half the available memory, else the same maths in row blocks (``blocked_oracle``); beyond
--check-max-n nothing is checked (``correct`` is null): the O(n²) oracle would take minutes.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from bench import harness, shapes

FAMILY = "loss"
OP = "margin_ranking_loss"
MARGIN_SCALE = 0.25
PROVIDERS = {
    "dpiqa_loop": "DP-IQA DynamicMarginRankingLoss: Python double loop (RomGai/DP-IQA magrin.py)",
    "broadcast": "n×n broadcast, i<j mask, sign, clamp, margin 0.25·std, mean (eager)",
    "broadcast_compiled": "broadcast under torch.compile(dynamic=False)",
    "reference": "pyiqa_fast backend='reference' (n×n, autograd)",
    "cpu": "pyiqa_fast backend='cpu' (exact O(n log n), O(n) memory)",
    "cuda": "pyiqa_fast backend='cuda' (fused brute force, O(n) memory)",
    "triton": "pyiqa_fast backend='triton' (fused brute force, O(n) memory)",
}
PACKAGE_BACKENDS = ("reference", "cpu", "cuda", "triton")
SMOKE_PROVIDERS = ("dpiqa_loop", "broadcast", "reference", "cpu", "cuda", "triton")
MODES = ("fwd_bwd", "fwd")
TARGETS = ("ties", "continuous")
DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
# Peak n×n tensors (of the input dtype) live during forward + backward: this bench's
# peak_mem_bytes at n = 1024 float32 divided by n²·4 (6.0, 1.0, 7.75), rounded up.
N2_TENSORS = {"broadcast": 6.0, "broadcast_compiled": 1.0, "reference": 8.0}
MEMORY_FRACTION = 0.6  # of the available memory an n×n provider may plan to use
# Gate: (relative loss error, max |grad error| / max |grad|) against the float64 oracle.
# fp16/bf16 get a sanity bound only; tests/ apply the precision-relative rule (STYLE.md §7).
TOLERANCES = {
    torch.float64: (1e-12, 1e-12),
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-2, 2e-2),
    torch.bfloat16: (5e-2, 5e-2),
}

LossFn = Callable[[Tensor, Tensor], Tensor]


def broadcast_margin_ranking_loss(pred: Tensor, target: Tensor) -> Tensor:
    """pyiqa ``RankLoss``-style n×n broadcast with DP-IQA's semantics.

    pyiqa (``chaofengc/IQA-PyTorch`` ``pyiqa/losses/iqa_losses.py``) takes ``relu`` of
    ``(pred − predᵀ)·sign(targetᵀ − target)`` over all n² entries; DP-IQA's loss keeps i < j,
    adds the margin 0.25·std(target) and uses ``torch.clamp``. Since torch 2.14 clamp's
    subgradient at its bound is 0 (pytorch/pytorch#184574) where the op counts a hinge argument
    of exactly 0 as active; the bench's random inputs have no such exact kinks.

    Args:
        pred: Tensor[n] of predictions.
        target: Tensor[n] of targets, same dtype and device.

    Returns:
        Tensor[], the mean over the n(n−1)/2 pairs.
    """
    n = pred.shape[0]
    margin = MARGIN_SCALE * target.std()
    sign = torch.sign(target[:, None] - target[None, :])
    hinge = torch.clamp(-sign * (pred[:, None] - pred[None, :]) + margin, min=0)
    return torch.triu(hinge, diagonal=1).sum() / (n * (n - 1) / 2)


def blocked_oracle(
    pred: Tensor, target: Tensor, block_elems: int = 1 << 24
) -> tuple[Tensor, Tensor]:
    """DP-IQA's loss and its gradient in float64, one block of rows of the pair matrix at a time.

    The hinge argument ``−sign(y_i − y_j)·(p_i − p_j) + m`` is exactly symmetric in i and j, so
    the i < j sum is half the sum over i ≠ j, and ∂L/∂p_i sums ``−sign`` over the active j of
    row i. O(n²) time, O(block) memory.

    Args:
        pred: Tensor[n] of predictions (cast to float64).
        target: Tensor[n] of targets (cast to float64).
        block_elems: Pair-matrix entries per block.

    Returns:
        ``(loss, grad)`` in float64.
    """
    p, y = pred.detach().double(), target.double()
    n = p.shape[0]
    margin = MARGIN_SCALE * y.std()
    total = torch.zeros((), dtype=torch.float64, device=p.device)
    grad = torch.empty_like(p)
    rows = max(1, block_elems // n)
    for s in range(0, n, rows):
        sign = torch.sign(y[s : s + rows, None] - y[None, :])
        arg = torch.addcmul(margin, sign, p[s : s + rows, None] - p[None, :], value=-1)
        total += arg.clamp(min=0).sum()
        grad[s : s + rows] = -(sign * (arg >= 0)).sum(1)
    scale = 2 / (n * (n - 1))
    # Each diagonal entry (sign 0) added max(m, 0).
    return scale * (total - n * margin.clamp(min=0)) / 2, scale * grad


def make_inputs(
    n: int, dtype: torch.dtype, targets: str, device: torch.device, seed: int
) -> tuple[Tensor, Tensor]:
    """Predictions ~ N(0, 1) that require grad, and MOS-like targets.

    Args:
        n: Batch size.
        dtype: Dtype of both.
        targets: ``"ties"`` (integers 0..9: many tied pairs) or ``"continuous"`` (U(1, 5)).
        device: Device of both.
        seed: Seed of the generator.
    """
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, generator=gen)
    if targets == "ties":
        target = torch.randint(0, 10, (n,), generator=gen).float()
    else:
        target = torch.rand(n, generator=gen) * 4 + 1
    return pred.to(device, dtype).requires_grad_(), target.to(device, dtype)


def fwd_bwd(fn: LossFn, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """The loss and its gradient with respect to ``pred`` (no ``.grad`` accumulation)."""
    loss = fn(pred, target)
    (grad,) = torch.autograd.grad(loss, pred)
    return loss, grad


def timed_call(fn: LossFn, mode: str, pred: Tensor, target: Tensor) -> Callable[[], object]:
    """What one timed call of ``mode`` runs: ``fwd_bwd`` or ``fwd`` (with the autograd graph)."""
    if mode == "fwd_bwd":
        return functools.partial(fwd_bwd, fn, pred, target)
    return functools.partial(fn, pred, target)


def loss_fns(providers: list[str]) -> dict[str, LossFn]:
    """The loss function of each provider in ``providers``."""
    from pyiqa_fast.ops import margin_ranking_loss

    fns: dict[str, LossFn] = {
        name: functools.partial(margin_ranking_loss, margin_scale=MARGIN_SCALE, backend=name)
        for name in PACKAGE_BACKENDS
    }
    fns["broadcast"] = broadcast_margin_ranking_loss
    if "dpiqa_loop" in providers:
        from tests.references.dpiqa_margin import dpiqa_margin_ranking_loss  # repo root on path

        fns["dpiqa_loop"] = dpiqa_margin_ranking_loss
    if "broadcast_compiled" in providers:
        # One static graph per (n, dtype); never fall back to eager silently.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        torch._dynamo.config.fail_on_recompile_limit_hit = True
        fns["broadcast_compiled"] = torch.compile(broadcast_margin_ranking_loss, dynamic=False)
    return fns


def skip_reason(
    provider: str, n: int, dtype: torch.dtype, device: torch.device, loop_max_n: int
) -> str | None:
    """Why ``provider`` cannot run size ``n`` of ``dtype`` on ``device``, or ``None``."""
    from pyiqa_fast import BackendUnavailableError
    from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS

    if provider == "dpiqa_loop" and n > loop_max_n:
        return (f"Python loop over n(n-1)/2 = {n * (n - 1) // 2} pairs with an autograd graph "
                f"of that size; runs for n <= --loop-max-n ({loop_max_n})")
    if provider in N2_TENSORS:
        need = N2_TENSORS[provider] * n * n * dtype.itemsize
        avail = harness.available_memory_bytes(device)
        if need > MEMORY_FRACTION * avail:
            return (f"needs ~{need / 1e9:.3g} GB for n×n intermediates; {avail / 1e9:.3g} GB "
                    f"available, of which it may plan on {MEMORY_FRACTION:.0%}")
    if provider == "triton" and device.type == "cpu":
        return "Triton on CPU tensors is the interpreter (a test tool); timed on CUDA only"
    if provider in PACKAGE_BACKENDS:
        try:
            BACKENDS.resolve(provider, device, dtype, needs_backward=True, n=n)
        except BackendUnavailableError as exc:
            return str(exc)
    return None


def oracle(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Float64 loss and gradient: the reference backend if it fits in memory, else blocked."""
    n = pred.shape[0]
    if N2_TENSORS["reference"] * n * n * 8 > 0.5 * harness.available_memory_bytes(pred.device):
        return blocked_oracle(pred, target)
    from pyiqa_fast.ops import margin_ranking_loss

    ref = functools.partial(margin_ranking_loss, margin_scale=MARGIN_SCALE, backend="reference")
    return fwd_bwd(ref, pred.detach().double().requires_grad_(), target.double())


def check(
    fn: LossFn,
    pred: Tensor,
    target: Tensor,
    expected: Callable[[], tuple[Tensor, Tensor]],
    notes: dict[str, object],
) -> str | None:
    """Correctness gate: ``None`` if loss and gradient match ``expected()``, else why not.

    Fills ``notes`` with the errors and the first call's seconds (compilation included).
    """
    start = time.perf_counter()
    loss, grad = fwd_bwd(fn, pred, target)
    notes["first_call_s"] = round(time.perf_counter() - start, 4)
    ref_loss, ref_grad = expected()
    loss_tol, grad_tol = TOLERANCES[pred.dtype]
    loss_err = ((loss.double() - ref_loss).abs() / ref_loss.abs().clamp(min=1e-30)).item()
    grad_err = (grad.double() - ref_grad).abs().max() / ref_grad.abs().max().clamp(min=1e-30)
    grad_err = grad_err.item()
    notes.update(loss_rel_err=loss_err, grad_rel_err=grad_err)
    if loss_err <= loss_tol and grad_err <= grad_tol:  # False for NaN
        return None
    return (f"loss rel. error {loss_err:.3g} (tol {loss_tol:g}), "
            f"grad error / max|grad| {grad_err:.3g} (tol {grad_tol:g})")


def run_group(
    args: argparse.Namespace,
    fns: dict[str, LossFn],
    device: torch.device,
    n: int,
    dtype_name: str,
    targets: str,
) -> list[harness.Row]:
    """All modes, CUDA-graph settings and providers on one set of inputs."""
    dtype = DTYPES[dtype_name]
    pred, target = make_inputs(n, dtype, targets, device, args.seed)
    expected = functools.cache(functools.partial(oracle, pred, target))
    notes: dict[str, dict[str, object]] = {p: {} for p in args.providers}
    checks: dict[str, Callable[[], str | None] | None] = {}
    for p in args.providers:
        if n > args.check_max_n:
            notes[p]["correctness"] = f"not checked: n > --check-max-n ({args.check_max_n})"
            checks[p] = None
        else:  # once per inputs, shared by every mode
            checks[p] = functools.cache(
                functools.partial(check, fns[p], pred, target, expected, notes[p])
            )
    reasons = {p: skip_reason(p, n, dtype, device, args.loop_max_n) for p in args.providers}
    graphs = [g == "on" for g in args.cuda_graphs] if device.type == "cuda" else [False]

    rows: list[harness.Row] = []
    for mode in args.modes:
        for graph in graphs:
            extra: dict[str, object] = {"targets": targets}
            if device.type == "cuda":
                extra["cuda_graph"] = graph
            print(f"n={n} {dtype_name} {mode} {extra}", flush=True)
            contenders = [
                harness.Contender(
                    harness.BenchCase(FAMILY, OP, p, mode, (n,), dtype_name, extra),
                    fn=timed_call(fns[p], mode, pred, target),
                    check=checks[p],
                    skipped_reason=reasons[p],
                    bytes_moved=3 * n * dtype.itemsize,  # read pred, target; write grad
                    notes=notes[p],
                )
                for p in args.providers
            ]
            rows += harness.run_side_by_side(
                contenders, device, rounds=args.rounds, min_run_time=args.min_run_time,
                cuda_graph=graph,
            )
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line; options left unset take the full-run or the ``--smoke`` defaults."""
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_margin_ranking_loss",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = ap.add_argument
    add("--shapes", type=harness.one_of(tuple(shapes.SHAPE_SETS)), help="named size set (bench/shapes.py)")
    add("--n", type=harness.csv_list(int), help="sizes, e.g. 16,128,4096 (overrides --shapes)")
    add("--providers", type=harness.csv_list(harness.one_of(PROVIDERS)), help=f"subset of {','.join(PROVIDERS)}")
    add("--device", choices=("cpu", "cuda"), help="default: cuda if available")
    add("--dtype", type=harness.csv_list(harness.one_of(DTYPES)), help="default float32")
    add("--modes", type=harness.csv_list(harness.one_of(MODES)), help="fwd_bwd (default) and/or fwd")
    add("--targets", type=harness.csv_list(harness.one_of(TARGETS)), help="ties (integers 0..9) and/or continuous")
    add("--cuda-graphs", type=harness.csv_list(harness.one_of(("off", "on"))), help="CUDA only; default off,on")
    add("--rounds", type=int, help="interleaved timing rounds (default 3)")
    add("--min-run-time", type=float, help="seconds of timing per contender (default 1.0)")
    add("--loop-max-n", type=int, help="largest n for dpiqa_loop (default 128)")
    add("--check-max-n", type=int, default=16384, help="largest n checked against the oracle")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    add("--seed", type=int, default=0)
    add("--suite", help=f"result file prefix (default {OP}, or {OP}-smoke)")
    add("--out", type=Path, help="directory of the result files (default bench/results/<version>)")
    add("--smoke", action="store_true", help="tiny and fast: sizes 16,128, no compile, one round")
    add("--compare", type=Path, help="results JSON of an earlier run to compare p50 with")
    add("--fail-if-regression", action="store_true", help="exit 1 if --compare finds a regression")
    add("--regression-threshold", type=float, default=1.15, help="new/old p50 that regresses")
    args = ap.parse_args(argv)
    smoke = args.smoke
    sizes = shapes.LOSS_N_SMOKE if smoke else shapes.LOSS_N_SWEEP
    defaults = {
        "n": list(shapes.SHAPE_SETS[args.shapes] if args.shapes else sizes),
        "providers": list(SMOKE_PROVIDERS if smoke else PROVIDERS),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "dtype": ["float32"],
        "modes": ["fwd_bwd"],
        "targets": ["ties"] if smoke else list(TARGETS),
        "cuda_graphs": ["off", "on"],
        "rounds": 1 if smoke else 3,
        "min_run_time": 0.05 if smoke else 1.0,
        "loop_max_n": 16 if smoke else 128,
        "suite": f"{OP}-smoke" if smoke else OP,
    }
    harness.apply_defaults(ap, args, defaults)
    if min(args.n) < 2:
        ap.error("--n: the loss needs n >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark, writes the results and prints tables; returns the exit status."""
    args = parse_args(argv)
    old = harness.load_results(args.compare) if args.compare else None  # before we overwrite it
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    metadata = harness.environment(device)
    if device.type == "cpu" and metadata["loadavg_start"][0] >= 0.5:
        print(f"warning: load average {metadata['loadavg_start'][0]:.2f} on "
              f"{metadata['cpu_cores_usable']} cores; other work distorts CPU timings",
              file=sys.stderr)
    copy_bytes = (16 if args.smoke else 1024) << 20
    metadata.update(
        copy_bandwidth_GBps=harness.measure_copy_bandwidth(device, copy_bytes),
        suite=args.suite,
        argv=sys.argv[1:] if argv is None else argv,
        providers={p: PROVIDERS[p] for p in args.providers},
        oracle="reference backend in float64, or the blocked float64 loop where its n×n does not "
        f"fit; n > {args.check_max_n} not checked",
    )

    fns = loss_fns(args.providers)
    rows = [
        row
        for dtype_name in args.dtype
        for targets in args.targets
        for n in args.n
        for row in run_group(args, fns, device, n, dtype_name, targets)
    ]
    metadata["loadavg_end"] = os.getloadavg()
    records = harness.to_records(rows, metadata)
    json_path, csv_path = harness.write_results(
        records, metadata, args.out or harness.default_out_dir(),
        harness.result_stem(args.suite, device),
    )
    print(harness.format_table(records, baseline="broadcast"))
    print()
    print(harness.format_speedups(records, "cpu" if device.type == "cpu" else "cuda", "broadcast"))
    print(f"\nwrote {json_path}\n      {csv_path}")
    return harness.finish(records, metadata, old, args.regression_threshold, args.fail_if_regression)


if __name__ == "__main__":
    sys.exit(main())
