"""``pyiqa-fast demo`` / ``make demo``: every op on every available backend, timed and checked.

Until the training demo exists, this runs DP-IQA's margin ranking loss (forward + backward) on a
real-sized batch with each backend that can run here and prints time and agreement with the
float64 reference.
"""

from __future__ import annotations

import statistics
import time

import torch

from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.ops import margin_ranking_loss
from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS


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


def run_demo(batch_size: int = 4096, repeats: int = 20) -> int:
    if batch_size < 2:
        raise ValueError(f"--batch-size must be >= 2, got {batch_size}")
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
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
    return 0
