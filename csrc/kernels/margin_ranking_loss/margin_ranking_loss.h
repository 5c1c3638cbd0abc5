// margin_ranking_loss — DP-IQA's pairwise margin ranking loss (METHODS.md §5.2), loss and
// gradient in one call. Torch-free: raw pointers, sizes, strides.
//
//   L = c · Σ_{i<j} max(0, −sign(y_i − y_j)·(p_i − p_j) + m),  c = 2/(n(n−1)) ("mean") or 1 ("sum")
//   m = margin ≥ 0, or fl_T(margin_scale ⊗ fl_T(std(y))) (unbiased std; ⊗ in fp32 for 16-bit T,
//   as torch evaluates `margin_scale * target.std()`), no gradient.
//
// A pair is active when fl(p_high − p_low) ≤ m in the compute precision (the loop's own
// predicate, PERFORMANCE.md §7: exact at kinks); ∂L/∂p_a = c·(D_a − C_a) with C_a / D_a the
// active pairs where a is the higher / lower element. Tied targets add m each, no gradient.
// Any NaN or ±inf in pred or target makes the loss and every gradient entry NaN.
#pragma once
#include <cstdint>
#include <functional>

#include "common/macros.h"
#include "common/status.h"

namespace pyiqa_fast::margin_ranking_loss {

// ---- CPU: exact O(n log n) merge-sort formulation (PERFORMANCE.md §7) ------------------------

// Runs body(begin, end) over [begin, end), possibly on several threads (the binding passes
// at::parallel_for; tests pass a serial loop).
using ParallelFor =
    std::function<void(int64_t begin, int64_t end, const std::function<void(int64_t, int64_t)>& body)>;

template <typename T>  // T = float (also for fp16/bf16 inputs, upcast by the caller) or double
struct CpuParams {
  int64_t n = 0;
  const T* pred = nullptr;
  int64_t pred_stride = 1;  // in elements
  const T* target = nullptr;
  int64_t target_stride = 1;
  T margin = T(0);  // resolved by the caller (see target_std_cpu), ≥ 0
  bool mean = true;
  double* loss = nullptr;  // one value, accumulated in double
  T* grad = nullptr;       // n contiguous values: ∂L/∂pred
};

// Unbiased standard deviation of the targets, two-pass in double (n ≥ 2).
template <typename T>
double target_std_cpu(const T* target, int64_t stride, int64_t n);

template <typename T>
Status margin_ranking_loss_fwd_cpu(const CpuParams<T>& params, const ParallelFor& parallel_for);

// ---- CUDA: fused tiled brute force, one launch for n ≤ kCudaThreads, two otherwise ----------

constexpr int kCudaThreads = 256;
constexpr int64_t kCudaMaxN = (1LL << 30);  // int32 row and tile indices stay far from overflow

struct CudaParams {
  int64_t n = 0;  // ≤ kCudaMaxN
  const void* pred = nullptr;
  int64_t pred_stride = 1;
  const void* target = nullptr;
  int64_t target_stride = 1;
  DType dtype = DType::kFloat32;  // of pred, target, loss and grad
  bool has_margin = false;
  double margin = 0.0;        // used when has_margin
  double margin_scale = 0.25; // otherwise m = margin_scale · std(target), computed in-kernel
  bool mean = true;
  void* loss = nullptr;        // device, one element of dtype
  void* grad = nullptr;        // device, n contiguous elements of dtype
  double* partials = nullptr;  // device, cuda_num_blocks(n) doubles (unused when that is 1)
};

inline int64_t cuda_num_blocks(int64_t n) { return (n + kCudaThreads - 1) / kCudaThreads; }

Status launch_margin_ranking_loss_fwd(const CudaParams& params, cudaStream_t stream);

// The CUDA error behind the last kLaunchFailed of this thread ("" if none).
const char* margin_ranking_loss_cuda_error();

}  // namespace pyiqa_fast::margin_ranking_loss
