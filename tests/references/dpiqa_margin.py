"""Faithful re-implementation of DP-IQA's ``DynamicMarginRankingLoss``.

Source: RomGai/DP-IQA, ``magrin.py`` (read at commit 7a1cf47). ``margin = 0.25 * targets.std()``,
then a Python double loop over i < j with scalar tensor ops, divided by the number of pairs.
Two additions, both defaulting to the published behaviour: ``margin``, so kink tests can give
the loop and the op the same margin (PERFORMANCE.md §7), and ``clamp``. PyTorch changed the
scalar ``clamp``'s subgradient at its bound from 1 (pytorch/pytorch#7049, 2018) to 0
(pytorch/pytorch#184574, 2026; torch 2.14 has it), so the verbatim loop differentiates exact
kinks differently on new torch than when DP-IQA was trained. ``clamp_subgradient_one`` is the
clamp the published code ran with.
"""

import torch


def clamp_subgradient_one(x, min):
    """``torch.clamp(x, min=min)`` with the gradient 1 at ``x == min`` (torch's rule until 2026)."""
    return torch.where(x >= min, x, torch.full_like(x, min))


def dpiqa_margin_ranking_loss(preds, targets, margin=None, clamp=torch.clamp):
    if margin is None:
        margin = 0.25 * targets.std()
    total_loss = 0.0
    num_pairs = 0
    for i in range(len(preds)):
        for j in range(i + 1, len(preds)):
            target_diff = targets[i] - targets[j]
            target_sign = torch.sign(target_diff)
            pred_diff = preds[i] - preds[j]
            loss = clamp(-target_sign * (pred_diff) + margin, min=0)
            total_loss += loss
            num_pairs += 1
    return total_loss / num_pairs
