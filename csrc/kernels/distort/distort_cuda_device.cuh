// Device helpers shared by the distort CUDA kernels (distort_<class>_cuda.cu); see distort_cuda.h.
#pragma once
#include <cstdint>

#include "kernels/distort/distort_cuda.h"

namespace pyiqa_fast::distort {

// clip to [0, 1] after every operator; NaN passes through (as the reference's clamp).
template <typename T>
__device__ __forceinline__ T clip01(T v) {
  return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
}

// The pixel of this thread in entry blockIdx.y's out-region, for a grid of (tiles of the group's
// largest out-region, entries) with TileX × TileY threads; false when outside the entry's region.
template <int TileX, int TileY>
__device__ __forceinline__ bool tile_pixel(const int64_t* e, int64_t tiles_x, int64_t& y, int64_t& x) {
  const int64_t tile = blockIdx.x;
  y = e[kOy0] + (tile / tiles_x) * TileY + threadIdx.y;
  x = e[kOx0] + (tile % tiles_x) * TileX + threadIdx.x;
  return y < e[kOy1] && x < e[kOx1];
}

}  // namespace pyiqa_fast::distort
