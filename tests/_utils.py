"""Comparators shared by the op tests (STYLE.md §7): verbose mismatch reports, the 16-bit rule."""

from __future__ import annotations

import torch


def assert_close(actual: torch.Tensor, expected: torch.Tensor, *, atol: float, rtol: float, what: str) -> None:
    """``torch.testing.assert_close`` that reports the mismatch count and the first indices."""
    actual, expected = actual.detach().cpu().double(), expected.detach().cpu().double()
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    both_nan = actual.isnan() & expected.isnan()
    bad = ~both_nan & ((actual - expected).abs() > atol + rtol * expected.abs())
    bad |= actual.isnan() ^ expected.isnan()
    if bad.any():
        idx = bad.nonzero()[:5].tolist()
        firsts = ", ".join(
            f"{tuple(i)}: {actual[tuple(i)].item():.17g} vs {expected[tuple(i)].item():.17g}" for i in idx
        )
        raise AssertionError(
            f"{what}: {int(bad.sum())}/{bad.numel()} elements differ (atol={atol}, rtol={rtol}); first: {firsts}"
        )


def assert_low_precision_close(
    actual: torch.Tensor, low_ref: torch.Tensor, exact: torch.Tensor, *, what: str, atol: float = 1e-6
) -> None:
    """The flash-attention rule: error(kernel vs fp64) <= 2 x error(reference in the same precision) + atol."""
    exact = exact.detach().double().cpu()
    kernel_err = (actual.detach().double().cpu() - exact).abs().max().item()
    ref_err = (low_ref.detach().double().cpu() - exact).abs().max().item()
    assert kernel_err <= 2 * ref_err + atol, (
        f"{what}: kernel error {kernel_err:.3g} > 2 x reference error {ref_err:.3g} + {atol}"
    )
