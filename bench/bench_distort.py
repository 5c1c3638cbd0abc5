"""Benchmark of ``distort`` (the 24 SHDIQA distortion types) against a per-image upstream loop.

DISTORTIONS.md §6 (cost classes), the brief's acceptance: the ``cpu`` backend ≥ 5× faster than a
per-image loop of the upstream library calls on a mixed 24-type table at B = 128, 3×224×224 fp32.
All providers get the same images and the same (type, level) table, side by side in one process.

Providers (``--device cpu``: cpu, reference, loop, validate; ``--device cuda``: all but cpu):
    cpu: ``pyiqa_fast.ops.distort(x, params, backend="cpu")`` (C++ kernels, one pass over the batch).
    cuda / triton: ``backend="cuda"`` / ``"triton"`` (the GPU schedule: one launch per type and step).
    reference: ``backend="reference"`` (the specification in plain torch, a Python loop over samples).
    loop: a Python loop over the images calling the per-image ARNIQA functions of
        ``tests/references/arniqa.py`` (torch/kornia/numpy/Pillow, as upstream; ReIQA-style Pillow
        functions for the 4 types ARNIQA lacks), one call per image, clip after each; on CUDA the
        image stays on the GPU where the function allows and goes through the CPU where it forces it.
    eager / compiled: the reference's maths batched over the images of one type with per-sample
        parameter tensors (``bench/distort_batched.py``), eager and under ``torch.compile``; the
        mixed table runs one call per type present.
    kornia: kornia's nearest batched equivalents (DISTORTIONS.md §9: not the same maths).
    nvjpeg: torchvision CUDA ``encode_jpeg`` + ``decode_jpeg``, one call per quality (JPEG only).
    validate: ``params.validate(H, W)`` alone, the record check ``distort`` runs before any backend
        (docs/design/distortions.md), timed next to the op so its share can be read off.

Cases (``extra.table``): ``type:<name>`` — B images of one type, levels i mod 5 (every level
equally often); ``mixed24`` — sample i gets type i mod (number of types), levels uniform 0..4
from ``--seed`` (the acceptance table). The record is ``sample_params(..., preset="reiqa")``.

Level values of the loop (``--loop-values``): ``arniqa`` (default) = each upstream function's own
table at the same level index (reiqa for the 4 ReIQA-style types): the baseline as upstream runs
it. ``same`` = the record's reiqa values (e.g. reiqa motion-blur lengths 12–28 instead of ARNIQA's
1–10 turn ARNIQA's 2-D line kernels into 29×29 convolutions: slower than upstream ever runs).

Correctness: ``cpu``, ``cuda`` and ``triton`` are gated against ``reference`` (float32, on the
CPU) on the first ``--check-samples`` samples of the same record: max |error| ≤ 1e-4 (Lab round
trips), JPEG mean |error| ≤ 1/255 (cpu: libjpeg) or ≤ 2/255 (GPU: the DCT emulation); ``eager``
and ``compiled`` likewise for the deterministic types (random ones draw with torch's RNG).
``reference`` (the oracle) and ``loop`` (ARNIQA/ReIQA semantics, not reiqa's) are not gated;
the loop's cost is what is measured.

Slow providers: ``reference`` runs by default only at B ≤ ``--reference-max-b`` (16) and the
loop's per-type cases only at B ≤ ``--loop-max-b`` (16): both are per-image Python loops whose
time is linear in B (µs/image is the number to compare), and a per-type B = 128 loop over 24
types would take tens of minutes. The loop always runs the mixed table, at every B (the
acceptance case). Types the cpu build lacks (``build_info()["distort_cpu_types"]``) are skipped
for ``cpu`` with a printed reason (and the mixed table's cpu row names the missing types).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from bench import harness

FAMILY = "distortions"
OP = "distort"
PROVIDERS = {
    "cpu": "pyiqa_fast.ops.distort backend='cpu' (C++ kernels)",
    "cuda": "pyiqa_fast.ops.distort backend='cuda' (CUDA kernels, GPU schedule)",
    "triton": "pyiqa_fast.ops.distort backend='triton' (Triton kernels, GPU schedule)",
    "compiled": "the reference maths batched per type (bench/distort_batched.py) under torch.compile",
    "eager": "the reference maths batched per type (bench/distort_batched.py), eager",
    "kornia": "kornia's nearest batched equivalents (not the same maths)",
    "nvjpeg": "torchvision CUDA encode_jpeg + decode_jpeg grouped by quality (jpeg only)",
    "reference": "pyiqa_fast.ops.distort backend='reference' (plain torch, per-sample loop)",
    "loop": "per-image loop over tests/references/arniqa.py (ARNIQA upstream calls; ReIQA-style for "
            "resize/denoise)",
    "validate": "DistortionParams.validate alone: the record check distort runs before any backend",
}
GPU_ONLY = ("cuda", "triton", "kornia", "nvjpeg")
RANDOM_TYPES = ("white_noise", "white_noise_ycbcr", "impulse_noise", "multiplicative_noise", "denoise", "jitter")
LOOP_VALUES = ("arniqa", "same")
GATE_MAX_ABS = 1e-4
# Sizes (belong in bench/shapes.py, which this helper may not edit: DISTORT_BATCH, DISTORT_SIZE).
DISTORT_BATCH = (16, 128)
DISTORT_SIZE = (224, 224)
GATE_JPEG_MEAN_ABS = {"cpu": 1 / 255, "cuda": 2 / 255, "triton": 2 / 255}


def all_type_names() -> list[str]:
    from pyiqa_fast.distortions.registry import N_SHDIQA, SPECS

    return [s.name for s in SPECS[:N_SHDIQA]]


def make_inputs(batch: int, size: tuple[int, int], seed: int) -> Tensor:
    """Natural-ish images in [0, 1]: a low-frequency field plus fine texture (JPEG and blurs see
    edges and smooth areas, not white noise)."""
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    coarse = torch.rand(batch, 3, max(2, h // 16), max(2, w // 16), generator=gen)
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return (smooth + 0.05 * torch.randn(batch, 3, h, w, generator=gen)).clamp(0, 1).contiguous()


def make_table(kind: str, names: list[str], batch: int, seed: int) -> tuple[list[int], list[int]]:
    """(type ids, level indices) of one case: ``type:<name>`` or ``mixed24``."""
    from pyiqa_fast.distortions.registry import BY_NAME

    if kind.startswith("type:"):
        return [BY_NAME[kind[5:]].id] * batch, [i % 5 for i in range(batch)]
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 5, (batch,), generator=gen).tolist()
    return [BY_NAME[names[i % len(names)]].id for i in range(batch)], levels


def loop_fn(x: Tensor, params, loop_values: str) -> Callable[[], Tensor]:
    """The per-image loop over the ARNIQA/ReIQA functions on the record's (type, level) table."""
    from pyiqa_fast.distortions.registry import SPECS
    from tests.references import arniqa  # repo root on path (run from the repository root)

    calls = []
    for b in range(x.shape[0]):
        type_id, level = int(params.types[b, 0, 0]), int(params.levels[b, 0, 0])
        value = float(params.values[b, 0, 0]) if loop_values == "same" else None
        calls.append((arniqa.FUNCTIONS[SPECS[type_id].name], level, value))

    on_host: set[int] = set()  # functions that force the CPU (numpy, Pillow) on a GPU image

    def one(b: int, fn, level: int, value) -> Tensor:
        if x.device.type != "cpu" and id(fn) not in on_host:
            try:
                return fn(x[b], level, value=value).clamp(0, 1)
            except (TypeError, RuntimeError):
                on_host.add(id(fn))
        return fn(x[b].cpu(), level, value=value).clamp(0, 1).to(x.device)

    def run() -> Tensor:
        return torch.stack([one(b, fn, level, value) for b, (fn, level, value) in enumerate(calls)])

    return run


def gate(x: Tensor, params, n_check: int, notes: dict, run: Callable[[Tensor, object], Tensor],
         jpeg_tol: float = 1 / 255) -> str | None:
    """``run(x, params)`` vs the reference (on the CPU) on the first ``n_check`` samples of the record."""
    from pyiqa_fast.distortions.registry import SPECS
    from pyiqa_fast.ops import distort

    n = min(n_check, x.shape[0])
    sub = params.select(list(range(n)))
    got = run(x[:n], sub).cpu()
    want = distort(x[:n].cpu(), sub, backend="reference")
    errors, worst = [], 0.0
    for b in range(n):
        name = SPECS[int(sub.types[b, 0, 0])].name
        diff = (got[b].double() - want[b].double()).abs()
        if name == "jpeg":
            err, tol, what = float(diff.mean()), jpeg_tol, "mean"
        else:
            err, tol, what = float(diff.max()), GATE_MAX_ABS, "max"
        worst = max(worst, err if what == "max" else 0.0)
        if not err <= tol:  # False for NaN
            errors.append(f"{name} sample {b}: {what} |provider - reference| {err:.3g} > {tol:.3g}")
    notes["max_abs_err_vs_reference"] = worst
    notes["checked_samples"] = n
    return "; ".join(errors) or None


def skip_reason(provider: str, type_ids: list[int], batch: int, is_mixed: bool, args: argparse.Namespace,
                cpu_types: frozenset[int], ref_types: frozenset[int], params) -> str | None:
    from bench import distort_batched
    from pyiqa_fast.distortions.registry import SPECS

    present = sorted(set(type_ids))
    names = [SPECS[t].name for t in present]
    if provider in GPU_ONLY and args.device != "cuda":
        return "runs on CUDA tensors (--device cuda)"
    if provider == "cpu":
        if args.device != "cpu":
            return "runs on CPU tensors (--device cpu)"
        missing = [SPECS[t].name for t in present if t not in cpu_types]
        if missing:
            return f"the cpu build has no kernel for {', '.join(missing)} (build_info distort_cpu_types)"
    if provider in ("cuda", "triton"):
        from pyiqa_fast.ops.distort.api import BACKENDS

        reasons = BACKENDS.backends[provider].not_supported_reasons(
            torch.device(args.device), torch.float32, False, types=params.types, preset=params.preset, compat=False)
        if reasons:
            return "; ".join(reasons)
    if provider in ("eager", "compiled"):
        missing = [n for n in names if n not in distort_batched.BATCHED]
        if missing:
            return f"no batched PyTorch version of {', '.join(missing)} (sequential or recursive, or a codec)"
    if provider == "kornia":
        if is_mixed:
            return "kornia has equivalents of a few types only"
        try:
            if names[0] not in distort_batched.kornia_ops():
                return f"kornia has no equivalent of {names[0]}"
        except ImportError:
            return "kornia is not installed"
    if provider == "nvjpeg" and names != ["jpeg"]:
        return "JPEG only"
    if provider == "reference":
        missing = [SPECS[t].name for t in present if t not in ref_types]
        if missing:
            return f"the reference backend has no operator for {', '.join(missing)}"
        if batch > args.reference_max_b:
            return (f"per-sample Python loop; runs for B <= --reference-max-b ({args.reference_max_b}), "
                    "compare its us/image")
    if provider == "loop" and not is_mixed and batch > args.loop_max_b:
        return (f"per-image Python loop, linear in B; per-type cases run for B <= --loop-max-b "
                f"({args.loop_max_b}), the mixed table at every B")
    return None


def batched_fn(x: Tensor, params, compiled: bool) -> Callable[[], Tensor]:
    """The batched PyTorch baseline: one call per type present, on the samples of that type."""
    from bench import distort_batched
    from pyiqa_fast.distortions.registry import SPECS

    types = params.types[:, 0, 0]
    groups = []
    for t in types.unique().tolist():
        idx = (types == t).nonzero().view(-1)
        fn = distort_batched.BATCHED[SPECS[t].name]
        if compiled:
            fn = torch.compile(fn, dynamic=False)
        groups.append((fn, idx.to(x.device), params.values[idx, 0, 0], params.aux[idx, 0, 0]))

    def run() -> Tensor:
        out = torch.empty_like(x)
        for fn, idx, values, aux in groups:
            out[idx] = fn(x[idx], values, aux)
        return out

    return run


def provider_fn(p: str, x: Tensor, params, args: argparse.Namespace) -> Callable[[], Tensor]:
    from bench import distort_batched
    from pyiqa_fast.distortions.registry import SPECS
    from pyiqa_fast.ops import distort

    if p == "loop":
        return loop_fn(x, params, args.loop_values)
    if p in ("eager", "compiled"):
        return batched_fn(x, params, p == "compiled")
    if p == "kornia":
        op = distort_batched.kornia_ops()[SPECS[int(params.types[0, 0, 0])].name]
        values, aux = params.values[:, 0, 0], params.aux[:, 0, 0]
        return lambda: op(x, values, aux)
    if p == "nvjpeg":
        qualities = params.values[:, 0, 0]
        return lambda: distort_batched.nvjpeg_round_trip(x, qualities)
    if p == "validate":
        return functools.partial(params.validate, x.shape[2], x.shape[3])
    return functools.partial(distort, x, params, backend=p)


def run_case(args: argparse.Namespace, kind: str, batch: int, cpu_types: frozenset[int],
             ref_types: frozenset[int]) -> list[harness.Row]:
    from pyiqa_fast.distortions import sample_params
    from pyiqa_fast.distortions.registry import SPECS

    h, w = args.size
    device = torch.device(args.device)
    x = make_inputs(batch, (h, w), args.seed).to(device)
    type_ids, levels = make_table(kind, args.types, batch, args.seed)
    params = sample_params(type_ids, levels, preset="reiqa", seed=args.seed)
    is_mixed = kind == "mixed24"
    cost = "mixed" if is_mixed else SPECS[type_ids[0]].cost_class
    extra = {"table": kind, "cost_class": cost, "loop_values": args.loop_values}
    shape = (batch, 3, h, w)
    nbytes = 2 * x.numel() * x.element_size()
    random = any(SPECS[t].name in RANDOM_TYPES for t in type_ids)
    contenders = []
    for p in args.providers:
        notes: dict[str, object] = {}
        why = skip_reason(p, type_ids, batch, is_mixed, args, cpu_types, ref_types, params)
        fn = check = None
        if why is None:
            try:
                fn = provider_fn(p, x, params, args)
            except ImportError as exc:  # kornia (ARNIQA's colour/filter library), torchvision
                why = f"needs {exc.name or exc}"
        if why is not None:
            print(f"  skip {p} {kind} B={batch}: {why}", flush=True)
        elif p in ("cpu", "cuda", "triton") and "reference" not in args.no_gate:
            backend_run = functools.partial(_run_backend, p)
            check = functools.partial(gate, x, params, args.check_samples, notes, backend_run, GATE_JPEG_MEAN_ABS[p])
        elif p in ("eager", "compiled") and not random and "reference" not in args.no_gate:
            check = functools.partial(gate, x, params, args.check_samples, notes,
                                      lambda xs, sub, p=p: batched_fn(xs, sub, p == "compiled")())
        else:
            notes["correctness"] = {
                "reference": "oracle (not checked)",
                "loop": "not checked: ARNIQA/ReIQA semantics, not reiqa's (its cost is measured)",
                "kornia": "not checked: kornia's nearest equivalent, not the same maths",
                "nvjpeg": "not checked: libjpeg-compatible codec, timed as the JPEG baseline",
                "validate": "not an output: the record check, timed next to the op it guards",
            }.get(p, "not checked: random type drawn with torch's RNG" if random else "gate disabled")
        contenders.append(harness.Contender(
            harness.BenchCase(FAMILY, OP, p, "fwd", shape, "float32", extra),
            fn=fn, check=check, skipped_reason=why, bytes_moved=nbytes, notes=notes,
        ))
    print(f"{kind} B={batch} {h}x{w} on {args.device}", flush=True)
    return harness.run_side_by_side(contenders, device, rounds=args.rounds,
                                    min_run_time=args.min_run_time, measure_memory=not args.no_memory)


def _run_backend(backend: str, x: Tensor, params) -> Tensor:
    from pyiqa_fast.ops import distort

    return distort(x, params, backend=backend)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_distort", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    names = all_type_names()
    add("--types", type=harness.csv_list(harness.one_of(names)), help="subset of the 24 type names (default all)")
    add("--tables", type=harness.csv_list(harness.one_of(("per_type", "mixed"))),
        help="per_type and/or mixed (default both)")
    add("--batch", type=harness.csv_list(int), help="batch sizes (default 16,128)")
    add("--size", type=harness.csv_list(int), help="H,W (default 224,224)")
    add("--providers", type=harness.csv_list(harness.one_of(PROVIDERS)), help=f"subset of {','.join(PROVIDERS)}")
    add("--loop-values", type=harness.one_of(LOOP_VALUES), help="arniqa (default: upstream's own tables) or same")
    add("--reference-max-b", type=int, help="largest B the reference provider runs (default 16)")
    add("--loop-max-b", type=int, help="largest B of the loop's per-type cases (default 16)")
    add("--check-samples", type=int, default=4, help="samples of each case gated cpu vs reference")
    add("--no-gate", action="store_const", const=("reference",), default=(), help="skip the cpu gate")
    add("--no-memory", action="store_true", help="skip the peak-memory measurement")
    add("--rounds", type=int, help="interleaved timing rounds (default 3)")
    add("--min-run-time", type=float, help="seconds of timing per contender (default 1.0)")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    add("--seed", type=int, default=0)
    add("--suite", help=f"result file prefix (default {OP}, or {OP}-quick)")
    add("--out", type=Path, help="directory of the result files (default bench/results/<version>)")
    add("--quick", "--smoke", dest="quick", action="store_true",
        help="tiny and fast (tests): B=2, 64x64, mean_shift and white_noise, one round")
    add("--compare", type=Path, help="results JSON of an earlier run to compare p50 with")
    add("--fail-if-regression", action="store_true", help="exit 1 if --compare finds a regression")
    add("--regression-threshold", type=float, default=1.15, help="new/old p50 that regresses")
    add("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args(argv)
    defaults = {
        "types": ["mean_shift", "white_noise"] if args.quick else names,
        "tables": ["per_type", "mixed"],
        "batch": [2] if args.quick else list(DISTORT_BATCH),
        "size": [64, 64] if args.quick else list(DISTORT_SIZE),
        "providers": (["cpu", "reference", "loop", "validate"] if args.device == "cpu"
                      else [p for p in PROVIDERS if p != "cpu"]),
        "loop_values": "arniqa",
        "reference_max_b": 16,
        "loop_max_b": 16,
        "rounds": 1 if args.quick else 3,
        "min_run_time": 0.05 if args.quick else 1.0,
        "suite": f"{OP}-quick" if args.quick else OP,
    }
    harness.apply_defaults(ap, args, defaults)
    if len(args.size) != 2:
        ap.error("--size takes H,W")
    return args


def per_image_report(records: list[dict], copy_gbps: float) -> str:
    """µs per batch, images per second, µs per image and the bandwidth share of every timed cell."""
    lines = [f"{'table':<28} {'cost class':<22} {'B':>4} {'provider':<10} {'us/batch':>12} {'img/s':>9} "
             f"{'us/img':>10} {'GB/s':>8} {'of copy':>8}"]
    for r in records:
        if not r["p50"]:
            continue
        b = r["shape"][0]
        gbps = (r.get("bytes_moved") or 0) / (r["p50"] * 1e-6) / 1e9
        lines.append(f"{r['extra']['table']:<28} {r['extra']['cost_class']:<22} {b:>4} {r['provider']:<10} "
                     f"{r['p50']:>12.0f} {b / (r['p50'] * 1e-6):>9.1f} {r['p50'] / b:>10.0f} {gbps:>8.1f} "
                     f"{gbps / copy_gbps:>8.0%}")
    return "\n".join(lines)


# PERFORMANCE.md §5.1 ratios: (ours, baseline) → target (baseline p50 / ours p50).
TARGETS = {("cpu", "loop"): 5.0, ("cuda", "loop"): 50.0, ("triton", "loop"): 50.0, ("cuda", "compiled"): 2.0,
           ("triton", "compiled"): 2.0, ("cuda", "kornia"): 5.0, ("triton", "kornia"): 5.0,
           ("cuda", "nvjpeg"): 20.0, ("triton", "nvjpeg"): 20.0}


def speedup_report(records: list[dict]) -> str:
    """baseline p50 / ours p50 for every case timed for both, with the §5.1 target."""
    cells = {(r["extra"]["table"], r["shape"][0], r["provider"]): r["p50"] for r in records}
    lines = []
    for (table, b, provider), p50 in cells.items():
        for (ours, baseline), target in TARGETS.items():
            other = cells.get((table, b, baseline))
            if provider == ours and p50 and other:
                lines.append(f"{baseline} / {ours}  {table} B={b}: {other / p50:.3g}x  (target >= {target:g})")
    return "\n".join(lines) or "no case was timed for both an optimised provider and a baseline"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    old = harness.load_results(args.compare) if args.compare else None
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from pyiqa_fast.ops.distort.impl import cpu as cpu_impl
    from pyiqa_fast.ops.distort.impl import reference as ref_impl

    cpu_types, ref_types = cpu_impl.cpu_types(), frozenset(ref_impl.OPERATORS)
    metadata = harness.environment(device)
    if device.type == "cpu" and metadata["loadavg_start"][0] >= 0.5:
        print(f"warning: load average {metadata['loadavg_start'][0]:.2f} on "
              f"{metadata['cpu_cores_usable']} cores; other work distorts CPU timings", file=sys.stderr)
    metadata.update(
        copy_bandwidth_GBps=harness.measure_copy_bandwidth(device, (16 if args.quick else 256) << 20),
        suite=args.suite,
        argv=sys.argv[1:] if argv is None else argv,
        providers={p: PROVIDERS[p] for p in args.providers},
        oracle="cpu gated against the reference backend (float32) on the first --check-samples samples",
        loop_values=args.loop_values,
        cpu_types=sorted(cpu_types),
        reference_types=sorted(ref_types),
    )
    kinds = ([f"type:{n}" for n in args.types] if "per_type" in args.tables else []) + (
        ["mixed24"] if "mixed" in args.tables else [])
    rows = [row for batch in args.batch for kind in kinds
            for row in run_case(args, kind, batch, cpu_types, ref_types)]
    metadata["loadavg_end"] = os.getloadavg()
    records = harness.to_records(rows, metadata)
    json_path, csv_path = harness.write_results(records, metadata, args.out or harness.default_out_dir(),
                                                harness.result_stem(args.suite, device))
    print(harness.format_table(records, baseline="loop"))
    print()
    print(per_image_report(records, metadata["copy_bandwidth_GBps"]))
    print()
    print(speedup_report(records))
    print(f"\nwrote {json_path}\n      {csv_path}")
    return harness.finish(records, metadata, old, args.regression_threshold, args.fail_if_regression)


if __name__ == "__main__":
    sys.exit(main())
