// The one TORCH_LIBRARY block of the pyiqa_fast namespace: every C++ op's schema. Fake kernels,
// autograd and autocast are registered from Python (pyiqa_fast/ops/<op>/ops.py), which torch
// imports on demand: set_python_module applies to the defs that follow it.
#include <torch/library.h>

TORCH_LIBRARY(pyiqa_fast, m) {
  m.set_python_module("pyiqa_fast.ops.margin_ranking_loss.ops");
  // DP-IQA margin ranking loss; returns (loss, ∂loss/∂pred) computed in the same pass, so the
  // backward is a scale by grad_output (no private backward op needed).
  m.def("margin_ranking_loss(Tensor pred, Tensor target, float margin_scale, float? margin, str reduction)"
        " -> (Tensor, Tensor)");

  m.set_python_module("pyiqa_fast.ops.dsm_pool.ops");
  // DSMix ground-truth DSM: channel-mean |ref − dist|, pool×pool average pooling (METHODS.md §4.1).
  m.def("dsm_pool(Tensor ref, Tensor dist, int pool, bool ceil_mode) -> Tensor");
  // Its backward: (∂/∂ref, ∂/∂dist) from the map's gradient; every size follows from the arguments.
  m.def("_dsm_pool_backward(Tensor grad, Tensor ref, Tensor dist, int pool, bool ceil_mode) -> (Tensor, Tensor)");

  m.set_python_module("pyiqa_fast.ops.block_attention.ops");
  // Group-masked attention (METHODS.md §3.3): pair (i, j) allowed iff q_groups[i] < 0 or
  // k_groups[j] < 0 or q_groups[i] == k_groups[j]; groups int32/int64 of shape (N,) or (B, N).
  // Returns (out, lse); lse (B, H, Nq) in float (double for fp64) is -inf on rows without keys.
  m.def("block_attention(Tensor q, Tensor k, Tensor v, Tensor q_groups, Tensor k_groups, float scale)"
        " -> (Tensor, Tensor)");
  // Recomputes the probabilities from lse (no stored N×N matrix); returns (grad_q, grad_k, grad_v).
  m.def("_block_attention_backward(Tensor grad_out, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,"
        " Tensor q_groups, Tensor k_groups, float scale) -> (Tensor, Tensor, Tensor)");

  m.set_python_module("pyiqa_fast.ops.distort.ops");
  // Synthetic distortions (DISTORTIONS.md) from a per-(sample, block, slot) table: types int32,
  // values float64, seeds int64 (Philox keys) all (B, K, S); aux float64 (B, K, S, 400) per-call
  // uniforms; blocks on a rows × cols grid; preset 0 reiqa / 1 kadis / 2 arniqa; crop selects the
  // crop block semantics (else composite). Forward only; the output has x's shape and dtype.
  m.def("distort(Tensor x, Tensor types, Tensor values, Tensor seeds, Tensor aux, int rows, int cols,"
        " int preset, bool crop, bool compat) -> Tensor");
  // One launch group of the GPU schedule (pyiqa_fast/ops/distort/impl/schedule.py): entries int64
  // (N, 19), values float64 (N), aux float64 (N, 400), per-type host-built tables ftable float64
  // (N, F) and itable int64 (N, I) (empty when unused); maxima = (max_h, max_w, max_out_h,
  // max_out_w). Writes the entries' out-regions of dst (src and dst may be one buffer, never the
  // same pixels). CUDA only; called by the cuda backend's kernel of distort.
  m.def("_distort_cuda_group(Tensor src, Tensor(a!) dst, Tensor entries, Tensor values, Tensor aux,"
        " Tensor ftable, Tensor itable, int type, int preset, int[] maxima) -> ()");
}
