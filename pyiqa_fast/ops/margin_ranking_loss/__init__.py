"""DP-IQA's pairwise margin ranking loss (METHODS.md §5.2)."""

from pyiqa_fast.ops.margin_ranking_loss.api import MarginRankingLoss, margin_ranking_loss

__all__ = ["MarginRankingLoss", "margin_ranking_loss"]
