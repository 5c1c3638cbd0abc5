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

// The launch grid of tile_pixel and its tiles per row; false when the group exceeds the grid's
// limits (the schedule splits groups at 65535 entries, so only absurd image sizes get here).
template <int TileX, int TileY>
inline bool out_tile_grid(const GroupArgs& a, dim3& grid, int64_t& tiles_x) {
  tiles_x = (a.max_out_w + TileX - 1) / TileX;
  const int64_t tiles = tiles_x * ((a.max_out_h + TileY - 1) / TileY);
  if (a.n > 65535 || tiles > 0x7fffffff) return false;
  grid = dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(a.n));
  return true;
}

}  // namespace pyiqa_fast::distort
