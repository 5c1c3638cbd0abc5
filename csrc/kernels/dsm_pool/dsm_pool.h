// dsm_pool — DSMix ground-truth distortion-sensitivity map (METHODS.md §4.1). Torch-free: raw
// pointers, sizes, strides.
//
//   D[b, 0, u, v] = 1/(3·n_uv) · Σ_{(h,w) ∈ cell(u,v)} Σ_c |ref[b,c,h,w] − dist[b,c,h,w]|
//
// cells are p×p with stride p; n_uv = p² or, with ceil_mode, the real pixel count of a partial
// cell at the bottom/right edge. uint8 inputs are read as value/255 (images in [0, 1]).
// Backward (float inputs): ∂D/∂ref = s_uv·sign(ref − dist), ∂D/∂dist = −∂D/∂ref, with
// s_uv = g_uv/(3·n_uv) computed by the caller (a map of the output's size, rounded to the input
// dtype), 0 where ref == dist or ref − dist is NaN (as torch's abs backward: sign(NaN) = 0).
#pragma once
#include <cstdint>

#include "common/macros.h"
#include "common/status.h"

namespace pyiqa_fast::dsm_pool {

// Input element types (the shared DType has no uint8).
enum class InType { kUInt8, kFloat16, kBFloat16, kFloat32, kFloat64 };

// 16-bit storage types as raw bits: CPU code converts them itself (no c10, no _Float16).
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

struct Geometry {
  int64_t batch = 0, height = 0, width = 0;  // channels are always 3
  int64_t pool = 8;
  int64_t out_h = 0, out_w = 0;  // H/p, W/p, or ceil(·/p) with ceil_mode
};

// Strides in elements, in (B, C, H, W) order.
struct Strides {
  int64_t b = 0, c = 0, h = 0, w = 0;
};

// ---- CPU ----------------------------------------------------------------------------------

// Forward. T ∈ {uint8_t, Half, BFloat16, float, double}; A = float (double for double inputs).
// Work item i ∈ [begin, end) is the strip (b, u) = (i / out_h, i % out_h): p input rows, all
// columns. `out` is contiguous (B, out_h, out_w) of A; `scratch` holds `width` A values
// (per thread: one call works on its own strips only).
template <typename T, typename A>
struct CpuFwdParams {
  Geometry geo;
  const T* ref = nullptr;
  Strides ref_strides;
  const T* dist = nullptr;
  Strides dist_strides;
  A* out = nullptr;
};

template <typename T, typename A>
Status dsm_pool_fwd_cpu(const CpuFwdParams<T, A>& params, int64_t begin, int64_t end, A* scratch);

// Backward. T ∈ {Half, BFloat16, float, double}. Work item i ∈ [begin, end) is the input row
// (b, h) = (i / height, i % height), all 3 channels. `scale` is contiguous (B, out_h, out_w)
// of T; grad_ref / grad_dist are contiguous (B, 3, H, W) of T.
template <typename T>
struct CpuBwdParams {
  Geometry geo;
  const T* ref = nullptr;
  Strides ref_strides;
  const T* dist = nullptr;
  Strides dist_strides;
  const T* scale = nullptr;
  T* grad_ref = nullptr;
  T* grad_dist = nullptr;
};

template <typename T>
Status dsm_pool_bwd_cpu(const CpuBwdParams<T>& params, int64_t begin, int64_t end);

// ---- CUDA ---------------------------------------------------------------------------------

constexpr int kCudaThreads = 256;
// Columns summed per shared-memory pass; a pool wider than this is refused (one cell must fit).
constexpr int64_t kCudaMaxPool = 2048;

// Forward: one block per strip (b, u). `out` is contiguous (B, 1, out_h, out_w) of the output
// type: the input dtype for floats, float32 for uint8.
struct CudaFwdParams {
  Geometry geo;
  InType in_type = InType::kFloat32;
  const void* ref = nullptr;
  Strides ref_strides;
  const void* dist = nullptr;
  Strides dist_strides;
  void* out = nullptr;
};

Status launch_dsm_pool_fwd(const CudaFwdParams& params, cudaStream_t stream);

// Backward: elementwise over (B, 3, H, W); `scale` and the gradients as in CpuBwdParams.
struct CudaBwdParams {
  Geometry geo;
  InType in_type = InType::kFloat32;  // not kUInt8
  const void* ref = nullptr;
  Strides ref_strides;
  const void* dist = nullptr;
  Strides dist_strides;
  const void* scale = nullptr;
  void* grad_ref = nullptr;
  void* grad_dist = nullptr;
};

Status launch_dsm_pool_bwd(const CudaBwdParams& params, cudaStream_t stream);

// The CUDA error behind the last kLaunchFailed of this thread ("" if none).
const char* dsm_pool_cuda_error();

// ---- shared helpers -----------------------------------------------------------------------

// Real pixel count along one axis of cell `index` (p, or less for a partial edge cell).
PYIQA_FAST_HOST_DEVICE inline int64_t cell_extent(int64_t index, int64_t pool, int64_t size) {
  const int64_t rest = size - index * pool;
  return rest < pool ? rest : pool;
}

}  // namespace pyiqa_fast::dsm_pool
