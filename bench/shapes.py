"""Named shape sets for the benchmarks (STYLE.md §8): scripts take shapes from here only.

Each set is a tuple of sizes; ``SHAPE_SETS`` maps the lower-case CLI name of a set to it.
"""

from __future__ import annotations

# Batch sizes n of the pairwise margin ranking loss (PERFORMANCE.md §5.4): the papers' 16, the
# throughput 128, then up to 64k, where the n×n broadcast no longer fits in memory.
LOSS_N_SWEEP = (16, 128, 1024, 4096, 16384, 65536)
# Tiny sizes for `--smoke` runs (used by tests): seconds, not minutes.
LOSS_N_SMOKE = (16, 128)

# Image pairs (B, 3, H, W) of dsm_pool (PERFORMANCE.md §5.3, §6): ViT crops at 224² and 384².
# CPU: the developers' machine target is B = 64 at 224²; GPU: B = 16 and the throughput 128.
DSM_CPU = ((16, 3, 224, 224), (64, 3, 224, 224))
DSM_GPU = ((16, 3, 224, 224), (128, 3, 224, 224), (16, 3, 384, 384), (128, 3, 384, 384))
DSM_SMOKE = ((2, 3, 32, 32), (4, 3, 64, 48))

SHAPE_SETS: dict[str, tuple] = {
    "loss_n_sweep": LOSS_N_SWEEP,
    "loss_n_smoke": LOSS_N_SMOKE,
    "dsm_cpu": DSM_CPU,
    "dsm_gpu": DSM_GPU,
    "dsm_smoke": DSM_SMOKE,
}

# Batch sizes of block_attention at ViT-S shapes (6 heads, 197 tokens, d = 64; PERFORMANCE.md
# §5.2, §6): 64 is the CPU target shape, 128 the H100 one.
ATTENTION_BATCH_CPU = (16, 64)
ATTENTION_BATCH_CUDA = (16, 128)
