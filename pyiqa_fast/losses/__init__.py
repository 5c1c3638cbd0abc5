"""Loss modules over the fused ops."""

from pyiqa_fast.ops.margin_ranking_loss import MarginRankingLoss

__all__ = ["MarginRankingLoss"]
