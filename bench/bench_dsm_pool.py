"""Benchmark of ``dsm_pool`` against the eager three-pass code, its compiled form and a plain read.

PERFORMANCE.md §2.3, §5.3 and §6: the same image pairs for every provider, side by side in one
process, with peak memory, after a correctness gate of the map (and, for ``fwd_bwd``, both
gradients) against the float64 reference.

Providers:
    reference: the package reference = the eager baseline ``(ref − dist).abs().mean(1)`` →
        ``avg_pool2d(p)`` (three passes over full-size intermediates).
    reference_compiled: the reference under ``torch.compile`` (``dynamic=False``; on CUDA
        ``mode="max-autotune-no-cudagraphs"`` as PERFORMANCE.md §5.3).
    read: a plain read of both inputs, ``ref.sum(); dist.sum()`` (fwd only): the lower bound of
        any implementation (it writes nothing and is not gated).
    cpu, cuda, triton: ``pyiqa_fast.ops.dsm_pool(..., backend=name)``.

Modes: ``fwd`` (the map; inputs do not require grad) and ``fwd_bwd`` (map, then the gradients
of both inputs for a fixed random output gradient). uint8 has no gradient: ``fwd`` only.
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

FAMILY = "dsm"
OP = "dsm_pool"
POOL = 8
PROVIDERS = {
    "reference": "eager reference: (ref - dist).abs().mean(1) -> avg_pool2d(8), 3 passes",
    "reference_compiled": "reference under torch.compile(dynamic=False) (CUDA: max-autotune-no-cudagraphs)",
    "read": "plain read of both inputs: ref.sum(); dist.sum() (lower bound, fwd only, not gated)",
    "cpu": "pyiqa_fast backend='cpu' (one pass, strips of 8 rows)",
    "cuda": "pyiqa_fast backend='cuda' (one block per strip)",
    "triton": "pyiqa_fast backend='triton'",
}
PACKAGE_BACKENDS = ("cpu", "cuda", "triton")
MODES = ("fwd", "fwd_bwd")
DTYPES = {"float32": torch.float32, "uint8": torch.uint8, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Gate: max |error| / max |oracle| of the map and of each gradient.
TOLERANCES = {torch.float32: 1e-5, torch.uint8: 1e-5, torch.bfloat16: 2e-2, torch.float16: 2e-3}

Fn = Callable[[Tensor, Tensor], Tensor]


def make_inputs(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, seed: int) -> tuple[Tensor, Tensor]:
    """A reference image in [0, 1] and a noisy copy (uint8: 0..255)."""
    gen = torch.Generator().manual_seed(seed)
    ref = torch.rand(shape, generator=gen)
    dist = (ref + 0.1 * torch.randn(shape, generator=gen)).clamp(0, 1)
    if dtype == torch.uint8:
        return (ref * 255).round().to(device, dtype), (dist * 255).round().to(device, dtype)
    return ref.to(device, dtype), dist.to(device, dtype)


def provider_fns(providers: list[str], device: torch.device) -> dict[str, Fn]:
    from pyiqa_fast.ops import dsm_pool
    from pyiqa_fast.ops.dsm_pool.impl.reference import dsm_pool as reference

    fns: dict[str, Fn] = {name: functools.partial(dsm_pool, pool=POOL, backend=name) for name in PACKAGE_BACKENDS}
    fns["reference"] = functools.partial(reference, pool=POOL)
    fns["read"] = lambda r, d: (r.sum(), d.sum())
    if "reference_compiled" in providers:
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        torch._dynamo.config.fail_on_recompile_limit_hit = True
        mode = "max-autotune-no-cudagraphs" if device.type == "cuda" else None
        fns["reference_compiled"] = torch.compile(functools.partial(reference, pool=POOL), dynamic=False, mode=mode)
    return fns


def fwd_bwd(fn: Fn, ref: Tensor, dist: Tensor, grad_out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    out = fn(ref, dist)
    grad_ref, grad_dist = torch.autograd.grad(out, (ref, dist), grad_out)
    return out, grad_ref, grad_dist


def skip_reason(provider: str, mode: str, dtype: torch.dtype, device: torch.device) -> str | None:
    from pyiqa_fast import BackendUnavailableError
    from pyiqa_fast.ops.dsm_pool.api import BACKENDS

    if mode == "fwd_bwd" and provider == "read":
        return "the plain read is the forward's lower bound only"
    if provider == "triton" and device.type == "cpu":
        return "Triton on CPU tensors is the interpreter (a test tool); timed on CUDA only"
    if provider in PACKAGE_BACKENDS:
        try:
            BACKENDS.resolve(provider, device, dtype, needs_backward=mode == "fwd_bwd", pool=POOL)
        except BackendUnavailableError as exc:
            return str(exc)
    return None


def oracle(ref: Tensor, dist: Tensor, grad_out: Tensor | None) -> tuple[Tensor, ...]:
    """Float64 map (and gradients) from the reference on the same rounded inputs."""
    from pyiqa_fast.ops.dsm_pool.impl.reference import dsm_pool as reference

    if ref.dtype == torch.uint8:
        return (reference(ref.double() / 255, dist.double() / 255, POOL),)
    r = ref.detach().double().requires_grad_(grad_out is not None)
    d = dist.detach().double().requires_grad_(grad_out is not None)
    if grad_out is None:
        return (reference(r, d, POOL),)
    return fwd_bwd(functools.partial(reference, pool=POOL), r, d, grad_out.double())


def check(call: Callable[[], object], expected: Callable[[], tuple[Tensor, ...]], dtype: torch.dtype,
          notes: dict[str, object]) -> str | None:
    """``None`` if the map (and gradients) match the oracle within TOLERANCES, else why not."""
    start = time.perf_counter()
    got = call()
    notes["first_call_s"] = round(time.perf_counter() - start, 4)
    got = (got,) if isinstance(got, Tensor) else tuple(got)
    errors = []
    for name, a, b in zip(("map", "grad_ref", "grad_dist"), got, expected(), strict=False):
        err = ((a.double() - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()
        notes[f"{name}_rel_err"] = err
        if not err <= TOLERANCES[dtype]:  # False for NaN
            errors.append(f"{name} error / max|oracle| {err:.3g} (tol {TOLERANCES[dtype]:g})")
    return "; ".join(errors) or None


def run_group(args: argparse.Namespace, fns: dict[str, Fn], device: torch.device, shape: tuple[int, ...],
              dtype_name: str) -> list[harness.Row]:
    dtype = DTYPES[dtype_name]
    ref, dist = make_inputs(shape, dtype, device, args.seed)
    out_shape = (shape[0], 1, shape[2] // POOL, shape[3] // POOL)
    grad_out = torch.randn(out_shape, generator=torch.Generator().manual_seed(1)).to(device)
    numel, isz = ref.numel(), ref.element_size()
    out_bytes = grad_out.numel() * (4 if dtype == torch.uint8 else isz)
    rows: list[harness.Row] = []
    for mode in args.modes:
        if mode == "fwd_bwd" and dtype == torch.uint8:
            continue  # no gradient
        if mode == "fwd":
            r, d, g = ref, dist, None
            bytes_moved = 2 * numel * isz + out_bytes
        else:
            r, d = ref.clone().requires_grad_(True), dist.clone().requires_grad_(True)
            g = grad_out.to(dtype)
            bytes_moved = 6 * numel * isz + 2 * out_bytes  # fwd: read 2, write map; bwd: read 2 + grad, write 2
        expected = functools.cache(functools.partial(oracle, r, d, g))
        print(f"{tuple(shape)} {dtype_name} {mode}", flush=True)
        contenders = []
        for p in args.providers:
            notes: dict[str, object] = {}
            fn = fns[p]
            call = functools.partial(fn, r, d) if mode == "fwd" else functools.partial(fwd_bwd, fn, r, d, g)
            gate = None if p == "read" else functools.partial(check, call, expected, dtype, notes)
            if p == "read":
                notes["correctness"] = "not checked: a plain read computes nothing"
            contenders.append(harness.Contender(
                harness.BenchCase(FAMILY, OP, p, mode, tuple(shape), dtype_name, {"pool": POOL}),
                fn=call, check=gate, skipped_reason=skip_reason(p, mode, dtype, device),
                bytes_moved=2 * numel * isz if p == "read" else bytes_moved, notes=notes,
            ))
        rows += harness.run_side_by_side(contenders, device, rounds=args.rounds, min_run_time=args.min_run_time)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_dsm_pool", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--shapes", type=harness.one_of(("dsm_cpu", "dsm_gpu", "dsm_smoke")), help="named shape set (bench/shapes.py)")
    add("--providers", type=harness.csv_list(harness.one_of(PROVIDERS)), help=f"subset of {','.join(PROVIDERS)}")
    add("--device", choices=("cpu", "cuda"), help="default: cuda if available")
    add("--dtype", type=harness.csv_list(harness.one_of(DTYPES)), help="default float32,uint8,bfloat16")
    add("--modes", type=harness.csv_list(harness.one_of(MODES)), help="fwd and/or fwd_bwd (default both)")
    add("--rounds", type=int, help="interleaved timing rounds (default 3)")
    add("--min-run-time", type=float, help="seconds of timing per contender (default 1.0)")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    add("--seed", type=int, default=0)
    add("--suite", help=f"result file prefix (default {OP}, or {OP}-smoke)")
    add("--out", type=Path, help="directory of the result files (default bench/results/<version>)")
    add("--smoke", action="store_true", help="tiny and fast: small images, no compile, one round")
    add("--compare", type=Path, help="results JSON of an earlier run to compare p50 with")
    add("--fail-if-regression", action="store_true", help="exit 1 if --compare finds a regression")
    add("--regression-threshold", type=float, default=1.15, help="new/old p50 that regresses")
    args = ap.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    default_shapes = "dsm_smoke" if args.smoke else ("dsm_gpu" if device == "cuda" else "dsm_cpu")
    defaults = {
        "shapes": default_shapes,
        "providers": [p for p in PROVIDERS if not (args.smoke and p == "reference_compiled")],
        "device": device,
        "dtype": ["float32"] if args.smoke else ["float32", "uint8", "bfloat16"],
        "modes": list(MODES),
        "rounds": 1 if args.smoke else 3,
        "min_run_time": 0.05 if args.smoke else 1.0,
        "suite": f"{OP}-smoke" if args.smoke else OP,
    }
    harness.apply_defaults(ap, args, defaults)
    return args


def target_report(records: list[dict], device: torch.device) -> str:
    """The issue's targets at the headline shape (fp32 fwd): ratios vs the read, eager, compiled."""
    provider = "cpu" if device.type == "cpu" else "cuda"
    shape = [64, 3, 224, 224] if device.type == "cpu" else [128, 3, 224, 224]
    p50 = {r["provider"]: r["p50"] for r in records
           if r["shape"] == shape and r["dtype"] == "float32" and r["mode"] == "fwd" and r["p50"]}
    if provider not in p50:
        return f"target shape {tuple(shape)} fp32 fwd not timed for {provider}"
    lines = [f"targets at {tuple(shape)} float32 fwd ({provider} p50 {harness.format_time_us(p50[provider])}):"]
    if "read" in p50:
        lines.append(f"  {provider} / plain read = {p50[provider] / p50['read']:.2f}x time (target <= 2.0 on CPU)")
    if "reference" in p50:
        lines.append(f"  eager / {provider} = {p50['reference'] / p50[provider]:.2f}x speed-up (target >= 2.7 CPU, "
                     ">= 2.5 H100)")
    if "reference_compiled" in p50:
        lines.append(f"  compiled / {provider} = {p50['reference_compiled'] / p50[provider]:.2f}x (target >= 1.0)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    old = harness.load_results(args.compare) if args.compare else None
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    metadata = harness.environment(device)
    if device.type == "cpu" and metadata["loadavg_start"][0] >= 0.5:
        print(f"warning: load average {metadata['loadavg_start'][0]:.2f} on "
              f"{metadata['cpu_cores_usable']} cores; other work distorts CPU timings", file=sys.stderr)
    copy_bytes = (16 if args.smoke else (1024 if device.type == "cuda" else 256)) << 20
    metadata.update(
        copy_bandwidth_GBps=harness.measure_copy_bandwidth(device, copy_bytes),
        suite=args.suite,
        argv=sys.argv[1:] if argv is None else argv,
        providers={p: PROVIDERS[p] for p in args.providers},
        oracle="reference backend in float64 on the same rounded inputs (uint8: value / 255)",
    )
    fns = provider_fns(args.providers, device)
    rows = [row for dtype_name in args.dtype for shape in shapes.SHAPE_SETS[args.shapes]
            for row in run_group(args, fns, device, tuple(shape), dtype_name)]
    metadata["loadavg_end"] = os.getloadavg()
    records = harness.to_records(rows, metadata)
    json_path, csv_path = harness.write_results(records, metadata, args.out or harness.default_out_dir(),
                                                harness.result_stem(args.suite, device))
    print(harness.format_table(records, baseline="reference"))
    print()
    print(harness.format_speedups(records, "cpu" if device.type == "cpu" else "cuda", "read"))
    print()
    print(target_report(records, device))
    print(f"\nwrote {json_path}\n      {csv_path}")
    return harness.finish(records, metadata, old, args.regression_threshold, args.fail_if_regression)


if __name__ == "__main__":
    sys.exit(main())
