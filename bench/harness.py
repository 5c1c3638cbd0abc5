"""Shared benchmark harness (STYLE.md §8, PERFORMANCE.md §4).

One bench script per op builds :class:`Contender` records (a provider on one case, with its
correctness check) and hands them to :func:`run_side_by_side`, which gates each on correctness,
measures its peak memory and times all of them interleaved over several rounds in one process.
Rows are written with :func:`write_results` as JSON (one run, with its metadata) and upserted into
a CSV (every case ever measured with this suite, device and software), both named
``<suite>--<device>--pt<torch>-cu<cuda>.{json,csv}``.

Timing:
    * CUDA: ``triton.testing.do_bench`` (L2 flushed before every call) or, with
      ``cuda_graph=True``, ``triton.testing.do_bench_cudagraph`` (replay of a captured graph).
    * CPU: blocks of back-to-back calls timed with ``time.perf_counter``; the block size is
      chosen once so that a block lasts >= 1 ms, and at least two blocks are taken per round
      (``torch.utils.benchmark``'s ``blocked_autorange`` can return a single block for a slow
      statement, which gives no spread).
    p20/p50/p80 are taken over all samples of all rounds, in microseconds.

Peak memory (``peak_mem_bytes``): bytes allocated above those live before one call.
    * CUDA: ``torch.cuda.max_memory_allocated`` after a reset, minus the bytes allocated before.
    * CPU: the peak of the running sum of the c10 allocator's allocations and frees recorded by
      ``torch.profiler`` (``profile_memory=True``) over one call. Native scratch that bypasses
      the torch allocator (``std::vector`` in C++ kernels) is invisible to it, so
      ``notes["peak_rss_delta_bytes"]`` adds the growth of the process's peak RSS (``VmHWM``,
      reset through ``/proc/self/clear_refs``) over another call: it sees every byte touched,
      but undercounts memory reused from freed heap pages. Neither is exact; both are reported.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gc
import json
import math
import os
import platform
import re
import subprocess
import sys

# torch.profiler (CPU peak memory) otherwise logs a line per start and stop.
os.environ.setdefault("KINETO_LOG_LEVEL", "5")
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # silence the profiler's device probing on CPU hosts

import torch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
QUANTILES = (0.2, 0.5, 0.8)
_MIN_BLOCK_S = 1e-3
_MIN_BLOCKS_PER_ROUND = 2

PEAK_MEMORY_METHOD = {
    "cuda": "torch.cuda.max_memory_allocated after reset_peak_memory_stats, minus memory_allocated "
    "before the call",
    "cpu": "peak of the running sum of torch.profiler(profile_memory=True) allocation events "
    "over one call (torch allocator only); notes.peak_rss_delta_bytes: VmHWM growth over "
    "another call (sees native scratch, undercounts reused heap pages)",
}


@dataclass
class BenchCase:
    """What is measured: one provider of one op on one shape, dtype and mode.

    Attributes:
        family: Kernel family (``"loss"``, ``"attention"``, ...).
        op: Op name (``"margin_ranking_loss"``).
        provider: Implementation measured (``"cpu"``, ``"broadcast"``, ...).
        mode: ``"fwd"``, ``"bwd"``, ``"fwd_bwd"`` or ``"inference"``.
        shape: Problem size (for the loss: ``(n,)``).
        dtype: Input dtype name (``"float32"``).
        extra: Further case parameters that are part of its identity (JSON-serialisable).
    """

    family: str
    op: str
    provider: str
    mode: str
    shape: tuple[int, ...]
    dtype: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchResult:
    """What was measured for one :class:`BenchCase`.

    Attributes:
        p20: 20th percentile of the time per call, or ``None`` when not timed.
        p50: Median time per call.
        p80: 80th percentile of the time per call.
        unit: Unit of the times (always ``"us"``).
        bytes_moved: Ideal bytes read + written per call, if meaningful.
        flops: Useful floating-point operations per call, if meaningful.
        peak_mem_bytes: Peak bytes allocated above those live before the call (module docstring).
        correct: ``True``/``False`` from the correctness gate, ``None`` when not checked.
        skipped_reason: Why it was not timed (missing dependency or device, memory, failed gate).
        notes: Side facts: errors vs the oracle, compile seconds, sample count, RSS delta.
    """

    p20: float | None = None
    p50: float | None = None
    p80: float | None = None
    unit: str = "us"
    bytes_moved: int | None = None
    flops: int | None = None
    peak_mem_bytes: int | None = None
    correct: bool | None = None
    skipped_reason: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Contender:
    """A provider ready to run on one case.

    Attributes:
        case: The case.
        fn: Runs the measured work once (e.g. forward + backward); ``None`` if skipped.
        check: Correctness gate: returns ``None`` if the provider agrees with the oracle, else why
            not. ``None`` means not checked (say why in ``notes["correctness"]``).
        skipped_reason: Set instead of ``fn`` when the provider cannot run this case.
        bytes_moved: Ideal bytes moved per call.
        flops: Useful flops per call.
        notes: Copied into the result's notes after the check (it may fill them).
    """

    case: BenchCase
    fn: Callable[[], object] | None = None
    check: Callable[[], str | None] | None = None
    skipped_reason: str | None = None
    bytes_moved: int | None = None
    flops: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


Row = tuple[BenchCase, BenchResult]


# ----------------------------------------------------------------------------- timing


def _cpu_block_size(fn: Callable[[], object]) -> int:
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, math.ceil(_MIN_BLOCK_S / max(once, 1e-9)))


def _cpu_times_us(fn: Callable[[], object], budget_s: float, number: int) -> list[float]:
    times = []
    start = time.perf_counter()
    while len(times) < _MIN_BLOCKS_PER_ROUND or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number * 1e6)
    return times


def _cuda_times_us(fn: Callable[[], object], budget_s: float, cuda_graph: bool) -> list[float]:
    import triton.testing

    rep_ms = max(1.0, budget_s * 1e3)
    if cuda_graph:
        ms = triton.testing.do_bench_cudagraph(fn, rep=rep_ms, return_mode="all")
    else:
        ms = triton.testing.do_bench(fn, rep=rep_ms, return_mode="all")
    return [t * 1e3 for t in ms]


def quantiles_us(times: Sequence[float]) -> tuple[float, float, float]:
    """p20, p50 and p80 of ``times`` (linear interpolation)."""
    t = torch.tensor(times, dtype=torch.float64)
    p20, p50, p80 = t.quantile(torch.tensor(QUANTILES, dtype=torch.float64)).tolist()
    return p20, p50, p80


# ----------------------------------------------------------------------------- memory


def _proc_kib_field_bytes(path: str, field: str) -> int:
    """A ``Name:   123 kB`` field of a /proc file, in bytes."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{path} has no {field} line")


def available_memory_bytes(device: torch.device) -> int:
    """Memory a new allocation can use: free device memory, or ``MemAvailable`` on the host."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return _proc_kib_field_bytes("/proc/meminfo", "MemAvailable")


def _cpu_tensor_peak_bytes(fn: Callable[[], object]) -> int | None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # FunctionEvents attach most allocations to their ops; the raw Kineto events keep the timeline.
    kineto = getattr(prof.profiler, "kineto_results", None)
    if kineto is None:
        return None
    events = sorted((e.start_ns(), e.nbytes()) for e in kineto.events() if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def _vm_hwm_bytes() -> int:
    return _proc_kib_field_bytes("/proc/self/status", "VmHWM")


def _rss_peak_delta_bytes(fn: Callable[[], object]) -> int | None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        before = _vm_hwm_bytes()
    except OSError:
        return None
    fn()
    return _vm_hwm_bytes() - before


def peak_memory(
    fn: Callable[[], object], device: torch.device
) -> tuple[int | None, dict[str, Any]]:
    """Peak bytes allocated by one call of ``fn`` above those live before it.

    Args:
        fn: The work, already warmed up.
        device: Where it runs.

    Returns:
        ``(peak_mem_bytes, notes)``; on CPU the notes hold ``peak_rss_delta_bytes`` (see the
        module docstring for what each number sees).
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, {}
    peak = _cpu_tensor_peak_bytes(fn)
    gc.collect()
    return peak, {"peak_rss_delta_bytes": _rss_peak_delta_bytes(fn)}


# ----------------------------------------------------------------------------- runner


def run_side_by_side(
    contenders: Sequence[Contender],
    device: torch.device,
    *,
    rounds: int = 3,
    min_run_time: float = 1.0,
    cuda_graph: bool = False,
    measure_memory: bool = True,
) -> list[Row]:
    """Checks, measures and times contenders of one case side by side (PERFORMANCE.md §4).

    Each contender is first gated on correctness (a failing one is reported, not timed), then its
    peak memory is measured, then all surviving contenders are timed interleaved: in every round,
    each gets ``min_run_time / rounds`` seconds in turn. A contender that raises (out of memory,
    a compiler or graph-capture failure) is reported as skipped with the exception.

    Args:
        contenders: Providers of the same case, in report order.
        device: Device they run on.
        rounds: Interleaved rounds (>= 3 for reported numbers).
        min_run_time: Timing budget per contender in seconds, over all rounds.
        cuda_graph: Time CUDA-graph replays instead of eager launches (CUDA only).
        measure_memory: Whether to measure peak memory.

    Returns:
        One ``(case, result)`` row per contender, in input order.
    """
    results = [BenchResult(bytes_moved=c.bytes_moved, flops=c.flops) for c in contenders]
    live: list[int] = []
    for i, (c, res) in enumerate(zip(contenders, results, strict=True)):
        if c.skipped_reason is not None or c.fn is None:
            res.skipped_reason = c.skipped_reason or "no callable"
            continue
        # Any exception of a provider (OOM, compiler missing, capture failure) is a result to
        # report, not a reason to lose the rest of the run.
        try:
            why = c.check() if c.check is not None else None
            res.notes.update(c.notes)
            res.correct = None if c.check is None else why is None
            if why is not None:
                res.skipped_reason = f"failed the correctness gate: {why}"
                continue
            if c.check is None:
                c.fn()  # warm-up (compilation, autotuning) that the check did not do
            if measure_memory:
                res.peak_mem_bytes, mem_notes = peak_memory(c.fn, device)
                res.notes.update(mem_notes)
        except Exception as exc:  # noqa: BLE001
            res.skipped_reason = f"raised {type(exc).__name__}: {exc}"
            continue
        live.append(i)

    times: dict[int, list[float]] = {i: [] for i in live}
    numbers: dict[int, int] = {}
    budget = min_run_time / max(1, rounds)
    for _ in range(max(1, rounds)):
        for i in list(live):
            fn = contenders[i].fn
            assert fn is not None
            gc.collect()
            try:
                if device.type == "cuda":
                    times[i] += _cuda_times_us(fn, budget, cuda_graph)
                else:
                    if i not in numbers:
                        numbers[i] = _cpu_block_size(fn)
                    times[i] += _cpu_times_us(fn, budget, numbers[i])
            except Exception as exc:  # noqa: BLE001  (see above)
                results[i].skipped_reason = f"raised while timed: {type(exc).__name__}: {exc}"
                live.remove(i)
    for i in live:
        res = results[i]
        res.p20, res.p50, res.p80 = quantiles_us(times[i])
        res.notes["samples"] = len(times[i])
    return [(c.case, r) for c, r in zip(contenders, results, strict=True)]


def measure_copy_bandwidth(device: torch.device, nbytes: int) -> float:
    """Copy bandwidth of ``device`` in GB/s (read + write bytes of one ``copy_``, median)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    (row,) = run_side_by_side(
        [Contender(BenchCase("calibration", "copy", "torch", "fwd", (src.numel(),), "float32"),
                   fn=lambda: dst.copy_(src))],
        device, rounds=1, min_run_time=0.3, measure_memory=False,
    )
    p50 = row[1].p50
    assert p50 is not None, row[1].skipped_reason
    return 2 * nbytes / (p50 * 1e-6) / 1e9


# ----------------------------------------------------------------------------- environment


def _run(cmd: Sequence[str]) -> str | None:
    try:
        out = subprocess.run(
            cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def environment(device: torch.device) -> dict[str, Any]:
    """Metadata logged with every run (PERFORMANCE.md §4.1)."""
    import pyiqa_fast

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    meta: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device_label(device),
        "cpu_model": _cpu_model(),
        "cpu_cores_usable": _usable_cores(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "loadavg_start": os.getloadavg(),  # other work on the box distorts CPU timings
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "triton": triton_version,
        "pyiqa_fast": pyiqa_fast.__version__,
        "build_info": pyiqa_fast.build_info(),
        "git_commit": _run(["git", "rev-parse", "HEAD"]),
        "git_dirty": None if status is None else bool(status),
        "peak_memory_method": PEAK_MEMORY_METHOD[device.type],
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        meta.update(
            gpu_name=props.name,
            compute_capability=f"{props.major}.{props.minor}",
            sm_count=props.multi_processor_count,
            gpu_memory_bytes=props.total_memory,
            driver=_run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]),
        )
    return meta


def device_label(device: torch.device) -> str:
    """GPU name or ``cpu-<N>core``, sanitised to letters, digits, ``-``, ``_`` and ``.``."""
    if device.type == "cuda":
        raw = torch.cuda.get_device_name(device)
    else:
        raw = f"cpu-{_usable_cores()}core"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-")


def result_stem(suite: str, device: torch.device) -> str:
    """``<suite>--<device>--pt<major.minor>-cu<cuda of the torch build or none>``."""
    torch_mm = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    return f"{suite}--{device_label(device)}--pt{torch_mm}-cu{torch.version.cuda or 'none'}"


def default_out_dir() -> Path:
    """``bench/results/<pyiqa_fast version>``."""
    import pyiqa_fast

    return REPO_ROOT / "bench" / "results" / pyiqa_fast.__version__


# ----------------------------------------------------------------------------- records

_CSV_FIELDS = (
    "family", "op", "provider", "mode", "shape", "dtype", "extra",
    "p20", "p50", "p80", "unit", "bytes_moved", "flops", "gb_per_s", "pct_copy_bw",
    "peak_mem_bytes", "correct", "skipped_reason", "notes", "timestamp", "git_commit",
)  # fmt: skip
_KEY_FIELDS = ("family", "op", "provider", "mode", "shape", "dtype", "extra")


def to_records(rows: Sequence[Row], metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Flattens rows to JSON records, adding GB/s and % of the measured copy bandwidth."""
    copy_bw = metadata.get("copy_bandwidth_GBps")
    records = []
    for case, res in rows:
        rec = {**asdict(case), **asdict(res)}
        rec["shape"] = list(case.shape)
        gbps = res.bytes_moved / (res.p50 * 1e3) if res.bytes_moved and res.p50 else None
        rec["gb_per_s"] = gbps
        rec["pct_copy_bw"] = 100 * gbps / copy_bw if gbps and copy_bw else None
        records.append(rec)
    return records


def record_key(rec: dict[str, Any]) -> str:
    """Identity of a record's case (the CSV upsert and ``--compare`` key)."""
    def norm(k: str) -> Any:
        v = rec[k]
        if k == "shape" and isinstance(v, str):
            return [int(s) for s in v.split("x")]
        if k == "extra" and isinstance(v, str):
            return json.loads(v)
        return v

    return json.dumps([norm(k) for k in _KEY_FIELDS], sort_keys=True)


def write_results(
    records: list[dict[str, Any]], metadata: dict[str, Any], out_dir: Path, stem: str
) -> tuple[Path, Path]:
    """Writes ``<stem>.json`` (this run) and upserts its rows into ``<stem>.csv``.

    Returns:
        The JSON and CSV paths.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / f"{stem}.json", out_dir / f"{stem}.csv"
    json_path.write_text(json.dumps({"metadata": metadata, "results": records}, indent=1) + "\n")

    table: dict[str, dict[str, Any]] = {}
    if csv_path.exists():
        with csv_path.open(newline="") as f:
            table = {record_key(r): r for r in csv.DictReader(f)}
    for rec in records:
        row = {k: rec.get(k) for k in _CSV_FIELDS}
        row.update(
            shape="x".join(map(str, rec["shape"])),
            extra=json.dumps(rec["extra"], sort_keys=True),
            notes=json.dumps(rec["notes"], sort_keys=True),
            timestamp=metadata["timestamp"],
            git_commit=metadata["git_commit"],
        )
        table[record_key(rec)] = row
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        writer.writerows(table.values())
    return json_path, csv_path


# ----------------------------------------------------------------------------- reports


def format_time_us(us: float) -> str:
    """``12.3 us``, ``4.56 ms`` or ``7.89 s``."""
    if us < 1e3:
        return f"{us:.3g} us"
    if us < 1e6:
        return f"{us / 1e3:.3g} ms"
    return f"{us / 1e6:.3g} s"


def _size_label(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def group_records(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by op, mode, dtype and extra (sizes and providers vary within a group)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(rec["extra"].items()))
        title = f"{rec['op']} {rec['mode']} {rec['dtype']}" + (f" ({extra})" if extra else "")
        groups.setdefault(title, []).append(rec)
    return groups


def format_table(records: Sequence[dict[str, Any]], baseline: str | None = None) -> str:
    """Provider × size tables of p50 (one per op, mode, dtype and extra), with speed-ups.

    Args:
        records: JSON records (:func:`to_records` or a results file).
        baseline: Provider whose p50 each cell is compared with (``baseline / p50``).

    Returns:
        The tables, then one line per skipped or failed cell giving the reason.
    """
    lines: list[str] = []
    for title, recs in group_records(records).items():
        sizes = sorted({tuple(r["shape"]) for r in recs}, key=lambda s: (math.prod(s), s))
        providers = list(dict.fromkeys(r["provider"] for r in recs))
        cell = {(r["provider"], tuple(r["shape"])): r for r in recs}
        base = {s: cell[(baseline, s)]["p50"] for s in sizes if (baseline, s) in cell}
        header = ["provider"] + [_size_label(s) for s in sizes]
        body, reasons = [], []
        for p in providers:
            row = [p]
            for s in sizes:
                r = cell.get((p, s))
                if r is None:
                    row.append("")
                elif r["p50"] is None:
                    row.append("FAIL" if r["correct"] is False else "skip")
                    reasons.append(f"  {p} @ {_size_label(s)}: {r['skipped_reason']}")
                else:
                    text = format_time_us(r["p50"])
                    if base.get(s) and p != baseline:
                        text += f" ({base[s] / r['p50']:.3g}x)"
                    row.append(text)
            body.append(row)
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        note = f"; (x) = speed-up vs {baseline}" if baseline else ""
        lines += ["", f"{title}: p50{note}", fmt.format(*header)]
        lines += [fmt.format(*row) for row in body]
        if reasons:
            lines += ["not timed:", *reasons]
    return "\n".join(lines)


def format_speedups(records: Sequence[dict[str, Any]], provider: str, baseline: str) -> str:
    """One line per group: ``baseline p50 / provider p50`` at each size where both were timed."""
    lines = []
    for title, recs in group_records(records).items():
        p50 = {(r["provider"], tuple(r["shape"])): r["p50"] for r in recs}
        sizes = sorted({tuple(r["shape"]) for r in recs}, key=lambda s: (math.prod(s), s))
        parts = [
            f"{_size_label(s)}: {p50[(baseline, s)] / p50[(provider, s)]:.3g}x"
            for s in sizes
            if p50.get((provider, s)) and p50.get((baseline, s))
        ]
        summary = ", ".join(parts) or "no size timed for both"
        lines.append(f"{provider} vs {baseline}, {title}: {summary}")
    return "\n".join(lines)


def load_results(path: Path) -> dict[str, Any]:
    """Reads a results JSON written by :func:`write_results` (``{"metadata", "results"}``)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not {"metadata", "results"} <= data.keys():
        raise ValueError(f"{path} is not a bench results JSON (no metadata/results keys)")
    return data


def finish(records: Sequence[dict[str, Any]], metadata: dict[str, Any], old: dict[str, Any] | None,
           threshold: float, fail_if_regression: bool) -> int:
    """A bench's exit status: prints the comparison with ``old`` (``--compare``) when given; 1 if it
    regressed and ``--fail-if-regression`` was asked, else 0."""
    if old is None:
        return 0
    report, regressed = compare(records, metadata, old, threshold)
    print(report)
    return 1 if regressed and fail_if_regression else 0


def compare(
    records: Sequence[dict[str, Any]],
    metadata: dict[str, Any],
    old: dict[str, Any],
    threshold: float,
) -> tuple[str, bool]:
    """Compares p50 with a stored run, case by case.

    Args:
        records: This run's JSON records.
        metadata: This run's metadata (:func:`environment`): differences from the stored run's
            device and software are listed first.
        old: A stored run (:func:`load_results`).
        threshold: A case regresses when ``new p50 / old p50 > threshold``, or when it was
            correct before and is not now.

    Returns:
        ``(report, regressed)``.
    """
    old_by_key = {record_key(r): r for r in old["results"]}
    meta = old["metadata"]
    lines = [
        f"compared with the run of {meta.get('timestamp')} ({meta.get('device')}, torch "
        f"{meta.get('torch')}, {meta.get('torch_num_threads')} threads, "
        f"commit {meta.get('git_commit')}):"
    ]
    for key in ("device", "cpu_model", "gpu_name", "torch", "triton", "torch_num_threads",
                "build_info"):
        if meta.get(key) != metadata.get(key):
            lines.append(f"  note: {key} differs: {meta.get(key)} -> {metadata.get(key)}")
    regressed = False
    for rec in records:
        prev = old_by_key.get(record_key(rec))
        if prev is None:
            continue
        name = (f"{rec['provider']} {rec['mode']} {_size_label(rec['shape'])} {rec['dtype']} "
                f"{rec['extra']}")
        if prev["correct"] is True and rec["correct"] is False:
            regressed = True
            lines.append(f"  REGRESSION {name}: was correct, now fails the gate")
        elif rec["p50"] and prev["p50"]:
            ratio = rec["p50"] / prev["p50"]
            flag = "REGRESSION" if ratio > threshold else "ok"
            regressed |= ratio > threshold
            lines.append(f"  {flag:<10} {name}: {format_time_us(prev['p50'])} -> "
                         f"{format_time_us(rec['p50'])} ({ratio:.3g}x time)")
    return "\n".join(lines), regressed


# ----------------------------------------------------------------------------- command lines


def csv_list(kind: Callable[[str], Any]) -> Callable[[str], list]:
    """argparse type: a comma-separated list, each item parsed by ``kind``."""
    return lambda text: [kind(s.strip()) for s in text.split(",") if s.strip()]


def one_of(allowed: Sequence[str] | Mapping[str, Any]) -> Callable[[str], str]:
    """argparse type: one of ``allowed`` (names or a mapping's keys)."""

    def parse(s: str) -> str:
        if s not in allowed:
            raise argparse.ArgumentTypeError(f"{s!r} is not one of {', '.join(allowed)}")
        return s

    return parse


def apply_defaults(ap: argparse.ArgumentParser, args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    """Fills the options left unset with ``defaults`` and refuses ``--device cuda`` without CUDA."""
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch.cuda.is_available() is False")
