"""Benchmark of ``block_attention`` against the ways stock PyTorch does block-masked attention.

PERFORMANCE.md §2.2, §5.2, §6: ViT-S shapes (B, 6 heads, 197 tokens, d = 64), SHDIQA's three
partitions with CLS global, forward and forward + backward, side by side in one process, each
provider first gated against a float64 oracle (output, and q/k/v gradients for fwd_bwd).

Providers:
    eager_math: softmax(scale·QKᵀ + additive mask)·V in eager ops, mask built once per layout.
    sdpa_masked: ``F.scaled_dot_product_attention`` with the boolean mask (cached per layout).
    flex: FlexAttention under ``torch.compile`` with a BlockMask cached per layout (B = H = None).
    sdpa_permuted: tokens gathered so each block is contiguous, one unmasked SDPA call over the
        (B·blocks) segments (CLS duplicated into every segment as a key, its own query row run
        separately over all tokens), then scattered back — the strongest fair stock baseline.
    sdpa_unmasked: unmasked SDPA on the full sequence: the dense cost, not the same maths.
    reference, cpu, cuda, triton: ``pyiqa_fast.ops.block_attention(..., backend=name)``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from bench import harness, shapes

FAMILY = "attention"
OP = "block_attention"
PROVIDERS = {
    "eager_math": "softmax(scale·QKᵀ + additive mask)·V, eager",
    "sdpa_masked": "SDPA with the boolean mask",
    "flex": "FlexAttention (torch.compile), BlockMask cached per layout",
    "sdpa_permuted": "gather blocks contiguous + unmasked SDPA per segment + scatter",
    "sdpa_unmasked": "unmasked SDPA (dense cost; different maths, not gated)",
    "reference": "pyiqa_fast backend='reference' (dense mask, autograd)",
    "cpu": "pyiqa_fast backend='cpu' (group buckets, only allowed pairs)",
    "cuda": "pyiqa_fast backend='cuda' (sorted-order tiles, masked tiles skipped)",
    "triton": "pyiqa_fast backend='triton' (sorted-order tiles, masked tiles skipped)",
}
PACKAGE_BACKENDS = ("reference", "cpu", "cuda", "triton")
MODES = ("fwd", "fwd_bwd")
LAYOUTS = ("vertical", "horizontal", "grid2x2")
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
HEADS, TOKENS, HEAD_DIM, GRID = 6, 197, 64, (14, 14)
# Gate: max |error| / max |oracle| of the output and each gradient.
TOLERANCES = {torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 5e-2}

AttentionFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def attention_fns(providers: list[str], layout: str, device: torch.device) -> dict[str, AttentionFn]:
    """Each provider's (q, k, v) -> out for one partition layout; masks built here, once."""
    from pyiqa_fast.ops import block_attention, partition_groups
    from pyiqa_fast.ops.block_attention.impl.reference import allowed_pairs

    groups = partition_groups(layout, grid=GRID, device=device)
    allowed = allowed_pairs(groups, groups)
    fns: dict[str, AttentionFn] = {
        name: functools.partial(block_attention, q_groups=groups, k_groups=groups, backend=name)
        for name in PACKAGE_BACKENDS
    }
    fns["sdpa_masked"] = functools.partial(F.scaled_dot_product_attention, attn_mask=allowed)
    fns["sdpa_unmasked"] = F.scaled_dot_product_attention

    def eager_math(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
        scores = torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5 + bias.to(q.dtype)
        return torch.matmul(torch.softmax(scores, dim=-1), v)

    bias = torch.zeros(allowed.shape, device=device).masked_fill(~allowed, float("-inf"))
    fns["eager_math"] = functools.partial(eager_math, bias=bias)
    fns["sdpa_permuted"] = permuted_sdpa(groups)
    if "flex" in providers:
        fns["flex"] = flex_attention_fn(allowed, device)
    return fns


def permuted_sdpa(groups: Tensor) -> AttentionFn:
    """Blocks gathered contiguous, one unmasked SDPA over all (sample, block) segments.

    Needs equally sized blocks (true for SHDIQA's partitions of the 14×14 grid) and global tokens
    first; the global queries attend to every token in a separate SDPA call.
    """
    n_global = int((groups < 0).sum())
    ids = groups[n_global:].long()
    blocks = int(ids.max()) + 1
    order = torch.argsort(ids, stable=True) + n_global  # token indices, block by block
    per_block = order.numel() // blocks
    assert per_block * blocks == order.numel(), "sdpa_permuted needs equal blocks"

    def fn(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        B, H, _, d = q.shape

        def segments(x: Tensor) -> Tensor:  # (B·blocks, H, per_block, d)
            return x[:, :, order].reshape(B, H, blocks, per_block, d).transpose(1, 2).reshape(-1, H, per_block, d)

        def with_globals(x: Tensor) -> Tensor:  # the global keys prepended to every segment
            glob = x[:, :, :n_global].unsqueeze(1).expand(B, blocks, H, n_global, d).reshape(-1, H, n_global, d)
            return torch.cat([glob, segments(x)], dim=2)

        patch_out = F.scaled_dot_product_attention(segments(q), with_globals(k), with_globals(v))
        patch_out = patch_out.reshape(B, blocks, H, per_block, d).transpose(1, 2).reshape(B, H, -1, d)
        global_out = F.scaled_dot_product_attention(q[:, :, :n_global], k, v)
        out = torch.empty_like(q)
        out[:, :, :n_global] = global_out
        out[:, :, order] = patch_out
        return out

    return fn


def flex_attention_fn(allowed: Tensor, device: torch.device) -> AttentionFn:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    def mask_mod(b, h, q_idx, kv_idx):
        return allowed[q_idx, kv_idx]

    n = allowed.shape[0]
    block_mask = create_block_mask(mask_mod, None, None, n, n, device=str(device))
    compiled = torch.compile(flex_attention, dynamic=False)
    return functools.partial(compiled, block_mask=block_mask)


def make_inputs(batch: int, dtype: torch.dtype, device: torch.device, seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, HEADS, TOKENS, HEAD_DIM, generator=gen).to(device, dtype).requires_grad_()
            for _ in range(3)]


def run_mode(fn: AttentionFn, mode: str, q: Tensor, k: Tensor, v: Tensor, grad_out: Tensor) -> list[Tensor]:
    out = fn(q, k, v)
    if mode == "fwd":
        return [out]
    return [out, *torch.autograd.grad(out, (q, k, v), grad_out)]


def check(fn: AttentionFn, mode: str, inputs: list[Tensor], grad_out: Tensor,
          expected: Callable[[], list[Tensor]], notes: dict[str, object]) -> str | None:
    """``None`` if the output (and gradients) match the float64 oracle, else why not."""
    got = run_mode(fn, mode, *inputs, grad_out)
    errors = [((g.double() - e).abs().max() / e.abs().max()).item() for g, e in zip(got, expected(), strict=True)]
    notes["max_rel_err"] = max(errors)
    tol = TOLERANCES[inputs[0].dtype]
    return None if max(errors) <= tol else f"error / max|oracle| {max(errors):.3g} > {tol:g}"


def skip_reason(provider: str, mode: str, dtype: torch.dtype, device: torch.device) -> str | None:
    from pyiqa_fast import BackendUnavailableError
    from pyiqa_fast.ops.block_attention.api import BACKENDS

    if provider == "flex" and device.type == "cpu" and mode == "fwd_bwd":
        return "FlexAttention has no backward on CPU (NotImplementedError in torch)"

    if provider == "triton" and device.type == "cpu":
        return "Triton on CPU tensors is the interpreter (a test tool); timed on CUDA only"
    if provider in PACKAGE_BACKENDS:
        try:
            BACKENDS.resolve(provider, device, dtype, needs_backward=True, head_dim=HEAD_DIM)
        except BackendUnavailableError as exc:
            return str(exc)
    return None


def run_group(args: argparse.Namespace, device: torch.device, batch: int, dtype_name: str,
              layout: str) -> list[harness.Row]:
    dtype = DTYPES[dtype_name]
    q, k, v = make_inputs(batch, dtype, device, args.seed)
    grad_out = torch.randn(q.shape, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    fns = attention_fns(args.providers, layout, device)
    oracle_fn = fns["reference"]
    oracle_inputs = [t.detach().double().requires_grad_() for t in (q, k, v)]
    from pyiqa_fast.ops import partition_groups

    groups = partition_groups(layout, grid=GRID)
    allowed = int(((groups[:, None] < 0) | (groups[None, :] < 0) | (groups[:, None] == groups[None, :])).sum())
    rows: list[harness.Row] = []
    for mode in args.modes:
        expected = functools.cache(lambda mode=mode: [t.detach() for t in run_mode(
            oracle_fn, mode, *oracle_inputs, grad_out.double())])
        pair_flops = (4 if mode == "fwd" else 14) * HEAD_DIM * batch * HEADS
        print(f"B={batch} {dtype_name} {layout} {mode}", flush=True)
        contenders = []
        for p in args.providers:
            notes: dict[str, object] = {}
            inputs = [q, k, v]
            if p == "sdpa_unmasked":
                notes["correctness"] = "not gated: computes unmasked attention (the dense cost)"
            if p == "flex" and device.type == "cpu":
                inputs = [t.detach() for t in inputs]  # its CPU path refuses inputs that require grad
                notes["autograd"] = "forward without an autograd graph (no CPU backward)"
            contenders.append(harness.Contender(
                harness.BenchCase(FAMILY, OP, p, mode, (batch, HEADS, TOKENS, HEAD_DIM), dtype_name,
                                  {"layout": layout}),
                fn=functools.partial(run_mode, fns[p], mode, *inputs, grad_out),
                check=None if p == "sdpa_unmasked" else functools.partial(
                    check, fns[p], mode, inputs, grad_out, expected, notes),
                skipped_reason=skip_reason(p, mode, dtype, device),
                bytes_moved=(4 if mode == "fwd" else 8) * q.numel() * dtype.itemsize,
                flops=allowed * pair_flops,  # useful work: allowed pairs only
                notes=notes,
            ))
        rows += harness.run_side_by_side(contenders, device, rounds=args.rounds, min_run_time=args.min_run_time)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_block_attention", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--batch", type=harness.csv_list(int), help="batch sizes (default 16,64 on CPU, 16,128 on CUDA)")
    add("--layouts", type=harness.csv_list(harness.one_of(LAYOUTS)), help=f"subset of {','.join(LAYOUTS)}")
    add("--providers", type=harness.csv_list(harness.one_of(PROVIDERS)), help=f"subset of {','.join(PROVIDERS)}")
    add("--device", choices=("cpu", "cuda"), help="default: cuda if available")
    add("--dtype", type=harness.csv_list(harness.one_of(DTYPES)), help="default float32 on CPU, bfloat16 on CUDA")
    add("--modes", type=harness.csv_list(harness.one_of(MODES)), help="fwd and/or fwd_bwd (default both)")
    add("--rounds", type=int, help="interleaved timing rounds (default 3)")
    add("--min-run-time", type=float, help="seconds of timing per contender (default 1.0)")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    add("--seed", type=int, default=0)
    add("--suite", help=f"result file prefix (default {OP})")
    add("--out", help="directory of the result files (default bench/results/<version>)")
    add("--smoke", action="store_true", help="tiny and fast: B = 2, one layout, no flex, one round")
    args = ap.parse_args(argv)
    cuda = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
    smoke = args.smoke
    defaults = {
        "batch": [2] if smoke else list(shapes.ATTENTION_BATCH_CUDA if cuda else shapes.ATTENTION_BATCH_CPU),
        "layouts": ["vertical"] if smoke else list(LAYOUTS),
        "providers": [p for p in PROVIDERS if not (smoke and p == "flex")],
        "device": "cuda" if cuda else "cpu",
        "dtype": ["bfloat16"] if cuda else ["float32"],
        "modes": list(MODES),
        "rounds": 1 if smoke else 3,
        "min_run_time": 0.05 if smoke else 1.0,
        "suite": f"{OP}-smoke" if smoke else OP,
    }
    harness.apply_defaults(ap, args, defaults)
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark, writes the results and prints tables; returns the exit status."""
    from pathlib import Path

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    metadata = harness.environment(device)
    if device.type == "cpu" and metadata["loadavg_start"][0] >= 0.5:
        print(f"warning: load average {metadata['loadavg_start'][0]:.2f}; other work distorts CPU timings",
              file=sys.stderr)
    metadata.update(
        copy_bandwidth_GBps=harness.measure_copy_bandwidth(device, (16 if args.smoke else 1024) << 20),
        suite=args.suite,
        argv=sys.argv[1:] if argv is None else argv,
        providers={p: PROVIDERS[p] for p in args.providers},
        oracle="reference backend in float64 (output and q/k/v gradients)",
        shape="(B, heads, tokens, head_dim); tokens = CLS + 14×14 patches, CLS global",
    )
    rows = [row for dtype_name in args.dtype for layout in args.layouts for batch in args.batch
            for row in run_group(args, device, batch, dtype_name, layout)]
    metadata["loadavg_end"] = os.getloadavg()
    records = harness.to_records(rows, metadata)
    json_path, csv_path = harness.write_results(
        records, metadata, Path(args.out) if args.out else harness.default_out_dir(),
        harness.result_stem(args.suite, device))
    print(harness.format_table(records, baseline="sdpa_masked"))
    print()
    print(harness.format_speedups(records, "cpu" if device.type == "cpu" else "cuda", "sdpa_unmasked"))
    print(f"\nwrote {json_path}\n      {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
