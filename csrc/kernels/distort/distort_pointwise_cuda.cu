// distort on CUDA, pointwise class (DISTORTIONS.md §6): elementwise, elementwise + Philox and
// pointwise colour operators. Grid: (tiles of the largest out-region, entries); a block is
// kTileY × kTileX threads, one pixel (all three channels) per thread. See distort_cuda.h.
#include <cuda_runtime.h>

#include "common/cuda_launch.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"

namespace pyiqa_fast::distort {
namespace {

constexpr int kTileX = 32, kTileY = 8;

template <typename T>
__device__ __forceinline__ T clip01(T v) {
  return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);  // NaN passes through
}

// The pixel of this thread in entry blockIdx.y's out-region; false when outside it.
__device__ __forceinline__ bool tile_pixel(const int64_t* e, int64_t tiles_x, int64_t& y, int64_t& x) {
  const int64_t tile = blockIdx.x;
  y = e[kOy0] + (tile / tiles_x) * kTileY + threadIdx.y;
  x = e[kOx0] + (tile % tiles_x) * kTileX + threadIdx.x;
  return y < e[kOy1] && x < e[kOx1];
}

template <typename T>
__global__ void mean_shift_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                                  const double* __restrict__ values, int64_t tiles_x) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  int64_t y, x;
  if (!tile_pixel(e, tiles_x, y, x)) return;
  const T shift = static_cast<T>(values[n]);
  const T* s = src + e[kSrc] + y * e[kSrcY] + x;
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = clip01(s[c * e[kSrcC]] + shift);
}

template <typename T>
Status launch_typed(const GroupArgs& a, cudaStream_t stream) {
  const int64_t tiles_x = (a.max_out_w + kTileX - 1) / kTileX;
  const int64_t tiles_y = (a.max_out_h + kTileY - 1) / kTileY;
  if (a.n > 65535) return Status::kInvalidArgument;  // grid.y limit; the schedule splits larger groups
  const dim3 grid(static_cast<unsigned>(tiles_x * tiles_y), static_cast<unsigned>(a.n));
  const dim3 block(kTileX, kTileY);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  switch (a.type) {
    case kMeanShift:
      PYIQA_FAST_LAUNCH(mean_shift_kernel<T>, grid, block, 0, stream, src, dst, a.entries, a.values, tiles_x);
      return Status::kOk;
    default:
      return Status::kUnsupportedDType;
  }
}

bool handles(int32_t type) { return type == kMeanShift; }
size_t workspace_bytes(const GroupArgs&) { return 0; }
Status launch(const GroupArgs& a, cudaStream_t stream) {
  return a.is_double ? launch_typed<double>(a, stream) : launch_typed<float>(a, stream);
}

}  // namespace

const CudaClass kPointwiseCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
