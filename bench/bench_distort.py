"""Benchmark of ``distort`` (the 24 SHDIQA distortion types) against a per-image upstream loop.

DISTORTIONS.md §6 (cost classes), the brief's acceptance: the ``cpu`` backend ≥ 5× faster than a
per-image loop of the upstream library calls on a mixed 24-type table at B = 128, 3×224×224 fp32.
All providers get the same images and the same (type, level) table, side by side in one process.

Providers:
    cpu: ``pyiqa_fast.ops.distort(x, params, backend="cpu")`` (C++ kernels, one pass over the batch).
    reference: ``backend="reference"`` (the specification in plain torch, a Python loop over samples).
    loop: a Python loop over the images calling the per-image ARNIQA functions of
        ``tests/references/arniqa.py`` (torch/kornia/numpy/Pillow, as upstream; ReIQA-style Pillow
        functions for the 4 types ARNIQA lacks), one call per image, clip after each.

Cases (``extra.table``): ``type:<name>`` — B images of one type, levels i mod 5 (every level
equally often); ``mixed24`` — sample i gets type i mod (number of types), levels uniform 0..4
from ``--seed`` (the acceptance table). The record is ``sample_params(..., preset="reiqa")``.

Level values of the loop (``--loop-values``): ``arniqa`` (default) = each upstream function's own
table at the same level index (reiqa for the 4 ReIQA-style types): the baseline as upstream runs
it. ``same`` = the record's reiqa values (e.g. reiqa motion-blur lengths 12–28 instead of ARNIQA's
1–10 turn ARNIQA's 2-D line kernels into 29×29 convolutions: slower than upstream ever runs).

Correctness: ``cpu`` is gated against ``reference`` (float32) on the first ``--check-samples``
samples of the same record: max |error| ≤ 1e-4 (Lab round trips), JPEG mean |error| ≤ 1/255.
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
    "reference": "pyiqa_fast.ops.distort backend='reference' (plain torch, per-sample loop)",
    "loop": "per-image loop over tests/references/arniqa.py (ARNIQA upstream calls; ReIQA-style for "
            "resize/denoise)",
}
LOOP_VALUES = ("arniqa", "same")
GATE_MAX_ABS = 1e-4
# Sizes (belong in bench/shapes.py, which this helper may not edit: DISTORT_BATCH, DISTORT_SIZE).
DISTORT_BATCH = (16, 128)
DISTORT_SIZE = (224, 224)
GATE_JPEG_MEAN_ABS = 1 / 255


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

    def run() -> Tensor:
        return torch.stack([fn(x[b], level, value=value).clamp(0, 1)
                            for b, (fn, level, value) in enumerate(calls)])

    return run


def gate(x: Tensor, params, n_check: int, notes: dict) -> str | None:
    """cpu vs reference on the first ``n_check`` samples of the record."""
    from pyiqa_fast.distortions.registry import SPECS
    from pyiqa_fast.ops import distort

    n = min(n_check, x.shape[0])
    sub = params.select(list(range(n)))
    got = distort(x[:n], sub, backend="cpu")
    want = distort(x[:n], sub, backend="reference")
    errors, worst = [], 0.0
    for b in range(n):
        name = SPECS[int(sub.types[b, 0, 0])].name
        diff = (got[b].double() - want[b].double()).abs()
        if name == "jpeg":
            err, tol, what = float(diff.mean()), GATE_JPEG_MEAN_ABS, "mean"
        else:
            err, tol, what = float(diff.max()), GATE_MAX_ABS, "max"
        worst = max(worst, err if what == "max" else 0.0)
        if not err <= tol:  # False for NaN
            errors.append(f"{name} sample {b}: {what} |cpu - reference| {err:.3g} > {tol:.3g}")
    notes["max_abs_err_vs_reference"] = worst
    notes["checked_samples"] = n
    return "; ".join(errors) or None


def skip_reason(provider: str, type_ids: list[int], batch: int, is_mixed: bool, args: argparse.Namespace,
                cpu_types: frozenset[int], ref_types: frozenset[int]) -> str | None:
    from pyiqa_fast.distortions.registry import SPECS

    present = sorted(set(type_ids))
    if provider == "cpu":
        missing = [SPECS[t].name for t in present if t not in cpu_types]
        if missing:
            return f"the cpu build has no kernel for {', '.join(missing)} (build_info distort_cpu_types)"
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


def run_case(args: argparse.Namespace, kind: str, batch: int, cpu_types: frozenset[int],
             ref_types: frozenset[int]) -> list[harness.Row]:
    from pyiqa_fast.distortions import sample_params
    from pyiqa_fast.distortions.registry import SPECS
    from pyiqa_fast.ops import distort

    h, w = args.size
    x = make_inputs(batch, (h, w), args.seed)
    type_ids, levels = make_table(kind, args.types, batch, args.seed)
    params = sample_params(type_ids, levels, preset="reiqa", seed=args.seed)
    is_mixed = kind == "mixed24"
    cost = "mixed" if is_mixed else SPECS[type_ids[0]].cost_class
    extra = {"table": kind, "cost_class": cost, "loop_values": args.loop_values}
    shape = (batch, 3, h, w)
    nbytes = 2 * x.numel() * x.element_size()
    contenders = []
    for p in args.providers:
        notes: dict[str, object] = {}
        why = skip_reason(p, type_ids, batch, is_mixed, args, cpu_types, ref_types)
        if why is not None:
            print(f"  skip {p} {kind} B={batch}: {why}", flush=True)
        fn = check = None
        if why is None:
            if p == "loop":
                try:
                    fn = loop_fn(x, params, args.loop_values)
                except ImportError as exc:  # kornia (ARNIQA's colour/filter library) not installed
                    why = f"the ARNIQA loop needs {exc.name or exc}: pip install kornia"
                    print(f"  skip {p} {kind} B={batch}: {why}", flush=True)
                notes["correctness"] = "not checked: ARNIQA/ReIQA semantics, not reiqa's (its cost is measured)"
            else:
                fn = functools.partial(distort, x, params, backend=p)
                if p == "cpu" and "reference" not in args.no_gate:
                    check = functools.partial(gate, x, params, args.check_samples, notes)
                else:
                    notes["correctness"] = "oracle (not checked)" if p == "reference" else "gate disabled"
        contenders.append(harness.Contender(
            harness.BenchCase(FAMILY, OP, p, "fwd", shape, "float32", extra),
            fn=fn, check=check, skipped_reason=why, bytes_moved=nbytes, notes=notes,
        ))
    print(f"{kind} B={batch} {h}x{w}", flush=True)
    return harness.run_side_by_side(contenders, torch.device("cpu"), rounds=args.rounds,
                                    min_run_time=args.min_run_time, measure_memory=not args.no_memory)


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
    args = ap.parse_args(argv)
    args.device = "cpu"
    defaults = {
        "types": ["mean_shift", "white_noise"] if args.quick else names,
        "tables": ["per_type", "mixed"],
        "batch": [2] if args.quick else list(DISTORT_BATCH),
        "size": [64, 64] if args.quick else list(DISTORT_SIZE),
        "providers": list(PROVIDERS),
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


def per_image_report(records: list[dict]) -> str:
    """µs per batch, images per second and µs per image of every timed cell, by table."""
    lines = [f"{'table':<28} {'cost class':<22} {'B':>4} {'provider':<10} {'us/batch':>12} {'img/s':>9} "
             f"{'us/img':>10}"]
    for r in records:
        if not r["p50"]:
            continue
        b = r["shape"][0]
        lines.append(f"{r['extra']['table']:<28} {r['extra']['cost_class']:<22} {b:>4} {r['provider']:<10} "
                     f"{r['p50']:>12.0f} {b / (r['p50'] * 1e-6):>9.1f} {r['p50'] / b:>10.0f}")
    return "\n".join(lines)


def speedup_report(records: list[dict]) -> str:
    """loop p50 / cpu p50 per case (the acceptance: mixed24 at B = 128, target >= 5)."""
    cells = {(r["extra"]["table"], r["shape"][0], r["provider"]): r["p50"] for r in records}
    lines = []
    for (table, b, provider), p50 in cells.items():
        if provider != "cpu" or not p50:
            continue
        loop = cells.get((table, b, "loop"))
        if loop:
            target = "  (acceptance: >= 5)" if table == "mixed24" and b == 128 else ""
            lines.append(f"loop / cpu  {table} B={b}: {loop / p50:.3g}x{target}")
    return "\n".join(lines) or "no case was timed for both cpu and loop"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    old = harness.load_results(args.compare) if args.compare else None
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    from pyiqa_fast.ops.distort.impl import cpu as cpu_impl
    from pyiqa_fast.ops.distort.impl import reference as ref_impl

    cpu_types, ref_types = cpu_impl.cpu_types(), frozenset(ref_impl.OPERATORS)
    metadata = harness.environment(device)
    if metadata["loadavg_start"][0] >= 0.5:
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
    print(per_image_report(records))
    print()
    print(speedup_report(records))
    print(f"\nwrote {json_path}\n      {csv_path}")
    return harness.finish(records, metadata, old, args.regression_threshold, args.fail_if_regression)


if __name__ == "__main__":
    sys.exit(main())
