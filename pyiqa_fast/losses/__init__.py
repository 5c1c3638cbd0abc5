"""Losses: modules over the fused ops, and SHDIQA's distillation losses (function + module pairs)."""

from pyiqa_fast.losses.distillation import AffinityKDLoss, ContrastiveKDLoss, affinity_kd_loss, contrastive_kd_loss
from pyiqa_fast.ops.margin_ranking_loss import MarginRankingLoss

__all__ = ["AffinityKDLoss", "ContrastiveKDLoss", "MarginRankingLoss", "affinity_kd_loss", "contrastive_kd_loss"]
