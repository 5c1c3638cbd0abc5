// block_attention — attention restricted by group ids (SHDIQA's Block-wise Aggregation, METHODS.md
// §3.3). Torch-free: raw pointers, sizes, strides.
//
//   out_i = Σ_{j allowed} softmax_j(scale · q_i·k_j) v_j,   lse_i = log Σ_{j allowed} exp(scale · q_i·k_j)
//   (i, j) allowed  ⇔  gq(i) < 0  or  gk(j) < 0  or  gq(i) = gk(j)     (negative id = global token)
//
// Group ids are int32, one row per sample or one row shared by the batch (stride 0), so no N×N
// mask exists anywhere. A query row with no allowed key gets out = 0, lse = −inf and zero
// gradients. The backward recomputes the probabilities from lse (flash-attention style).
#pragma once
#include <cstdint>

#include "common/macros.h"
#include "common/status.h"

namespace pyiqa_fast::block_attention {

// ---- CPU: per (sample, head), queries bucketed by group; each bucket is a dense attention over
// the keys it may see (its group + the global keys), in cache, with register-blocked GEMMs. -------

template <typename T>  // float (also for fp16/bf16, upcast by the caller) or double
struct CpuParams {
  int64_t batch = 0, heads = 0, q_len = 0, k_len = 0, head_dim = 0;
  // Element strides of (sample, head, token); the feature dimension is contiguous.
  const T* q = nullptr;
  int64_t q_stride[3] = {0, 0, 0};
  const T* k = nullptr;
  int64_t k_stride[3] = {0, 0, 0};
  const T* v = nullptr;
  int64_t v_stride[3] = {0, 0, 0};
  const int32_t* q_groups = nullptr;  // q_len ids per sample
  int64_t q_groups_stride = 0;        // between samples; 0 = one row shared by the batch
  const int32_t* k_groups = nullptr;  // k_len ids per sample
  int64_t k_groups_stride = 0;
  T scale = T(1);
  T* out = nullptr;  // forward output / backward input: (batch, heads, q_len, head_dim) contiguous
  T* lse = nullptr;  // forward output / backward input: (batch, heads, q_len) contiguous
};

template <typename T>
struct CpuBwdParams {
  CpuParams<T> fwd;  // inputs, with out and lse from the forward
  const T* grad_out = nullptr;
  int64_t grad_out_stride[3] = {0, 0, 0};
  T* grad_q = nullptr;  // (batch, heads, q_len, head_dim) contiguous
  T* grad_k = nullptr;  // (batch, heads, k_len, head_dim) contiguous
  T* grad_v = nullptr;  // (batch, heads, k_len, head_dim) contiguous
};

// Each processes the (sample, head) pairs [begin, end) of batch·heads; pairs are independent, so
// any split over threads gives bitwise identical results.
template <typename T>
Status block_attention_fwd_cpu(const CpuParams<T>& params, int64_t begin, int64_t end);
template <typename T>
Status block_attention_bwd_cpu(const CpuBwdParams<T>& params, int64_t begin, int64_t end);

// ---- CUDA ------------------------------------------------------------------------------------
// Tiles of the SORTED token order (block_attention_cuda.cu): per layout row (one per sample, or
// one shared by the batch), `order` is a stable argsort of the group ids and `sorted` the ids in
// that order, so the global tokens (negative ids) come first and every group is one contiguous
// run of sorted positions. The kernels gather rows through `order` (no permuted copies), pack
// several short groups per tile, mask inside a tile by comparing ids, and skip key (query) tiles
// that no row of the tile may see. Output rows are written back at their token positions.

inline bool cuda_supports_head_dim(int64_t d) { return d == 32 || d == 64 || d == 128; }
constexpr int64_t kCudaMaxLen = 2147483647LL - 128;  // q_len, k_len: sorted positions stay in int

struct CudaParams {
  int64_t batch = 0, heads = 0, q_len = 0, k_len = 0, head_dim = 0;  // q_len, k_len ≤ kCudaMaxLen
  DType dtype = DType::kFloat32;  // of q, k, v, out (and grad_out, grad_q/k/v in the backward)
  // Element strides of (sample, head, token); the feature dimension is contiguous.
  const void* q = nullptr;
  int64_t q_stride[3] = {0, 0, 0};
  const void* k = nullptr;
  int64_t k_stride[3] = {0, 0, 0};
  const void* v = nullptr;
  int64_t v_stride[3] = {0, 0, 0};
  // Layout, int32, row r at offset r·*_layout_stride (stride 0: one row shared by the batch).
  const int32_t* q_order = nullptr;   // q_len token indices: a permutation of [0, q_len)
  const int32_t* q_sorted = nullptr;  // q_len group ids, nondecreasing (q_groups[order])
  int64_t q_layout_stride = 0;
  const int32_t* k_order = nullptr;
  const int32_t* k_sorted = nullptr;
  int64_t k_layout_stride = 0;
  double scale = 1.0;
  // Forward outputs / backward inputs, contiguous: out (batch, heads, q_len, head_dim) of dtype,
  // lse (batch, heads, q_len) float (double for kFloat64), −inf on rows without allowed keys.
  void* out = nullptr;
  void* lse = nullptr;
};

struct CudaBwdParams {
  CudaParams fwd;  // inputs, with out and lse from the forward
  const void* grad_out = nullptr;
  int64_t grad_out_stride[3] = {0, 0, 0};  // (sample, head, token); feature dimension contiguous
  void* grad_q = nullptr;  // (batch, heads, q_len, head_dim) contiguous, dtype
  void* grad_k = nullptr;  // (batch, heads, k_len, head_dim) contiguous, dtype
  void* grad_v = nullptr;  // (batch, heads, k_len, head_dim) contiguous, dtype
  void* delta = nullptr;   // workspace (batch, heads, q_len), float (double for kFloat64)
};

// Any size may be 0 (nothing is launched then). head_dim must satisfy cuda_supports_head_dim.
Status launch_block_attention_fwd(const CudaParams& params, cudaStream_t stream);
// Three launches in stream order: delta = rowsum(grad_out ∘ out), dK/dV per key tile, dQ per
// query tile. No atomics: bitwise deterministic run to run.
Status launch_block_attention_bwd(const CudaBwdParams& params, cudaStream_t stream);

// The CUDA error behind the last kLaunchFailed of this thread ("" if none).
const char* block_attention_cuda_error();

}  // namespace pyiqa_fast::block_attention
