// distort on CUDA, codec / fill class (DISTORTIONS.md §6). See distort_cuda.h for the group contract.
//
// color_block (§4.12) and non_eccentricity (§4.13) are sequential pastes on the CPU; here every
// out-region pixel resolves its own history, so both are one pointwise pass with no workspace.
// Grid (tiles of the largest out-region, entries), kTileY × kTileX threads, one pixel (three
// channels) per thread; the entry's paste list (≤ 80 squares, ≤ 100 copies: the 400 per-call
// uniforms) is decoded once per block into shared memory.
//   color_block: the last square (in paste order) that covers the pixel gives its colour, else
//     the source pixel.
//   non_eccentricity: copy i maps its destination square to its source square in the image as
//     it was before copy i (the patch is read whole, then written), so walking the copies from the
//     last to the first and moving the pixel back through every destination square that holds it
//     ends at the source pixel whose value lands there.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/cuda_launch.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"

namespace pyiqa_fast::distort {
namespace {

constexpr int kTileX = 32, kTileY = 8;
constexpr int kThreads = kTileX * kTileY;
constexpr int kMaxSquares = kAuxSize / 5;  // color_block: 5 uniforms per square
constexpr int kMaxCopies = kAuxSize / 4;   // non_eccentricity: 4 uniforms per copy
constexpr int kPatch = 16;

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

__device__ __forceinline__ int thread_rank() { return threadIdx.x + threadIdx.y * kTileX; }

// ---- color_block -------------------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kThreads)
    color_block_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                       const double* __restrict__ values, const double* __restrict__ aux, int32_t preset,
                       int64_t tiles_x) {
  __shared__ int s_x[kMaxSquares], s_y[kMaxSquares];
  __shared__ T s_colour[3][kMaxSquares];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t ry0 = e[kRy0], rx0 = e[kRx0], rh = e[kRy1] - ry0, rw = e[kRx1] - rx0;
  const int64_t sh = rh < 32 ? rh : 32, sw = rw < 32 ? rw : 32;
  int count = static_cast<int>(values[n]);
  count = count < 0 ? 0 : (count > kMaxSquares ? kMaxSquares : count);
  // Square i: top-left (x0 + ⌊u0·(W_r − s)⌋, y0 + ⌊u1·(H_r − s)⌋), colour u2..u4 (arniqa) or ⌊256u⌋/255.
  for (int i = thread_rank(); i < count; i += kThreads) {
    const double* u = aux + n * kAuxSize + 5 * i;
    s_x[i] = static_cast<int>(rx0 + static_cast<int64_t>(floor(u[0] * static_cast<double>(rw - sw))));
    s_y[i] = static_cast<int>(ry0 + static_cast<int64_t>(floor(u[1] * static_cast<double>(rh - sh))));
    for (int c = 0; c < 3; ++c) {
      const double v = preset == static_cast<int32_t>(Preset::kArniqa) ? u[2 + c] : floor(u[2 + c] * 256) / 255;
      s_colour[c][i] = static_cast<T>(v);
    }
  }
  __syncthreads();
  int64_t y, x;
  if (!tile_pixel(e, tiles_x, y, x)) return;
  int hit = -1;
  for (int i = count - 1; i >= 0; --i) {
    if (y >= s_y[i] && y < s_y[i] + sh && x >= s_x[i] && x < s_x[i] + sw) {
      hit = i;
      break;
    }
  }
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  const int64_t dc = e[kDstC];
  if (hit >= 0) {
    for (int c = 0; c < 3; ++c) d[c * dc] = clip01(s_colour[c][hit]);
  } else {
    const T* s = src + e[kSrc] + y * e[kSrcY] + x;
    for (int c = 0; c < 3; ++c) d[c * dc] = clip01(s[c * e[kSrcC]]);
  }
}

// ---- non_eccentricity --------------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kThreads)
    non_eccentricity_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                            const double* __restrict__ values, const double* __restrict__ aux, int32_t preset,
                            int64_t tiles_x) {
  __shared__ int s_xd[kMaxCopies], s_yd[kMaxCopies], s_dx[kMaxCopies], s_dy[kMaxCopies];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t ry0 = e[kRy0], rx0 = e[kRx0], rh = e[kRy1] - ry0, rw = e[kRx1] - rx0;
  int count = static_cast<int>(values[n]);
  count = count < 0 ? 0 : (count > kMaxCopies ? kMaxCopies : count);
  if (rh < 49 || rw < 49) count = 0;  // refused on the host (needs a 49 × 49 region); never read outside
  const bool round_even = preset == static_cast<int32_t>(Preset::kArniqa);
  // Copy i: x_s = x0 + rnd(u0·(W_r − 48)) + 16, x_d = rnd((u2 − 0.5)·16 + x_s) (same for y);
  // rnd = floor, or round half to even for arniqa (rint in the default rounding mode).
  for (int i = thread_rank(); i < count; i += kThreads) {
    const double* u = aux + n * kAuxSize + 4 * i;
    auto rnd = [round_even](double v) { return static_cast<int64_t>(round_even ? rint(v) : floor(v)); };
    const int64_t xs = rx0 + rnd(u[0] * static_cast<double>(rw - 48)) + 16;
    const int64_t ys = ry0 + rnd(u[1] * static_cast<double>(rh - 48)) + 16;
    const int64_t xd = rnd((u[2] - 0.5) * 16 + static_cast<double>(xs));
    const int64_t yd = rnd((u[3] - 0.5) * 16 + static_cast<double>(ys));
    s_xd[i] = static_cast<int>(xd);
    s_yd[i] = static_cast<int>(yd);
    s_dx[i] = static_cast<int>(xs - xd);
    s_dy[i] = static_cast<int>(ys - yd);
  }
  __syncthreads();
  int64_t y, x;
  if (!tile_pixel(e, tiles_x, y, x)) return;
  int64_t sy = y, sx = x;
  for (int i = count - 1; i >= 0; --i) {
    if (sy >= s_yd[i] && sy < s_yd[i] + kPatch && sx >= s_xd[i] && sx < s_xd[i] + kPatch) {
      sy += s_dy[i];
      sx += s_dx[i];
    }
  }
  const T* s = src + e[kSrc] + sy * e[kSrcY] + sx;
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = clip01(s[c * e[kSrcC]]);
}

template <typename T>
Status launch_typed(const GroupArgs& a, cudaStream_t stream) {
  const int64_t tiles_x = (a.max_out_w + kTileX - 1) / kTileX;
  const int64_t tiles_y = (a.max_out_h + kTileY - 1) / kTileY;
  if (a.n > 65535) return Status::kInvalidArgument;  // grid.y limit; the schedule splits larger groups
  if (tiles_x * tiles_y > 0x7fffffff || a.max_h > 0x3fffffff || a.max_w > 0x3fffffff) return Status::kInvalidArgument;
  const dim3 grid(static_cast<unsigned>(tiles_x * tiles_y), static_cast<unsigned>(a.n));
  const dim3 block(kTileX, kTileY);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  switch (a.type) {
    case kColorBlock:
      PYIQA_FAST_LAUNCH(color_block_kernel<T>, grid, block, 0, stream, src, dst, a.entries, a.values, a.aux, a.preset,
                        tiles_x);
      return Status::kOk;
    case kNonEccentricity:
      PYIQA_FAST_LAUNCH(non_eccentricity_kernel<T>, grid, block, 0, stream, src, dst, a.entries, a.values, a.aux,
                        a.preset, tiles_x);
      return Status::kOk;
    default:
      return Status::kUnsupportedDType;
  }
}

bool handles(int32_t type) { return type == kColorBlock || type == kNonEccentricity; }
size_t workspace_bytes(const GroupArgs&) { return 0; }
Status launch(const GroupArgs& a, cudaStream_t stream) {
  return a.is_double ? launch_typed<double>(a, stream) : launch_typed<float>(a, stream);
}

}  // namespace

const CudaClass kCodecCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
