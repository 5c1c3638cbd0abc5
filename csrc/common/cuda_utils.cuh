// Device helpers shared by CUDA kernels: element conversion and deterministic block reductions.
// Torch-free; include only from .cu files.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/macros.h"

namespace pyiqa_fast::cuda {

// Converts between a storage type and a compute type (float or double) without going through
// implicit conversions that differ between __half and __nv_bfloat16. A double reaches a 16-bit
// type through float, as c10::Half / c10::BFloat16 convert one, so CPU and CUDA results agree
// bitwise.
template <typename T> struct Elem;
template <> struct Elem<float> {
  static __device__ PYIQA_FAST_INLINE float to_float(float v) { return v; }
  static __device__ PYIQA_FAST_INLINE float from_double(double v) { return static_cast<float>(v); }
};
template <> struct Elem<double> {
  static __device__ PYIQA_FAST_INLINE double to_float(double v) { return v; }
  static __device__ PYIQA_FAST_INLINE double from_double(double v) { return v; }
};
template <> struct Elem<__half> {
  static __device__ PYIQA_FAST_INLINE float to_float(__half v) { return __half2float(v); }
  static __device__ PYIQA_FAST_INLINE __half from_double(double v) { return __float2half(static_cast<float>(v)); }
};
template <> struct Elem<__nv_bfloat16> {
  static __device__ PYIQA_FAST_INLINE float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ PYIQA_FAST_INLINE __nv_bfloat16 from_double(double v) {
    return __float2bfloat16(static_cast<float>(v));
  }
};

// Sum over the block in a fixed order (warp shuffles, then warp 0): bitwise reproducible.
// `scratch` needs blockDim.x / 32 entries. Every thread gets the total.
template <typename T>
__device__ PYIQA_FAST_INLINE T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = T(0);
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

}  // namespace pyiqa_fast::cuda
