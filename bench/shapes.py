"""Named shape sets for the benchmarks (STYLE.md §8): scripts take shapes from here only.

Each set is a tuple of sizes; ``SHAPE_SETS`` maps the lower-case CLI name of a set to it.
"""

from __future__ import annotations

# Batch sizes n of the pairwise margin ranking loss (PERFORMANCE.md §5.4): the papers' 16, the
# throughput 128, then up to 64k, where the n×n broadcast no longer fits in memory.
LOSS_N_SWEEP = (16, 128, 1024, 4096, 16384, 65536)
# Tiny sizes for `--smoke` runs (used by tests): seconds, not minutes.
LOSS_N_SMOKE = (16, 128)

SHAPE_SETS: dict[str, tuple[int, ...]] = {
    "loss_n_sweep": LOSS_N_SWEEP,
    "loss_n_smoke": LOSS_N_SMOKE,
}

# Batch sizes of block_attention at ViT-S shapes (6 heads, 197 tokens, d = 64; PERFORMANCE.md
# §5.2, §6): 64 is the CPU target shape, 128 the H100 one.
ATTENTION_BATCH_CPU = (16, 64)
ATTENTION_BATCH_CUDA = (16, 128)
