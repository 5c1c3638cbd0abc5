// distort on CUDA, pointwise class (DISTORTIONS.md §6): elementwise, elementwise + Philox and
// pointwise colour operators, ports of distort_pointwise_cpu.cpp. See distort_cuda.h.
//
// Single-pass types: grid (tiles of the largest out-region, entries); a block is kTileY × kTileX
// threads, one pixel (all three channels) per thread, x fastest (coalesced rows). The per-pixel
// Philox words are drawn in registers (counter = image coordinates, draw 0).
//
// quantization (arniqa, §4.25): three launches through the workspace, no host synchronisation:
//   1. stats: grid (tiles of the largest image, entries), each block reduces min/max of the bucket
//      indices of its tile (all three channels, kStatRows rows per thread) to one int2 partial;
//   2. reduce: grid (entries), one block folds an entry's partials into its (lo, hi);
//   3. apply: the pointwise grid, (k − lo)/(hi − lo) (k itself when the image is constant).
// Workspace: int32 partials [n][tiles_stats][2], then finals [n][2].
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/color.h"
#include "common/cuda_launch.h"
#include "common/philox.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"
#include "kernels/distort/distort_cuda_device.cuh"

namespace pyiqa_fast::distort {
namespace {

constexpr int kTileX = 32, kTileY = 8;
constexpr int kStatRows = 8;  // rows per thread in quantization's statistics pass
constexpr int kThreads = kTileX * kTileY;

// The pixel's three standard normals (pair of words 0, 1 and the cos branch of words 2, 3 of draw
// 0), in T's Box–Muller as the CPU kernels (double for float64 images, the float series for float32).
template <typename T>
__device__ __forceinline__ void pixel_normals(const philox::Uint4& w, T n[3]) {
  T unused;
  philox::box_muller(w.x, w.y, n[0], n[1]);
  philox::box_muller(w.z, w.w, n[2], unused);
}

// trunc(255·v)/255 (ARNIQA's quantisation of its Lab operators, §2.1).
template <typename T>
__device__ __forceinline__ T trunc255(T v) {
  return std::trunc(v * T(255) + T(kTrunc255Guard)) / T(255);  // guard: distort_domains.h
}

// g(x) = clip(x + 2A·x(1 − x)) (brighten, A > 0; darken uses −A).
template <typename T>
__device__ __forceinline__ T tone(T v, T two_a) {
  return clip01(v + two_a * v * (T(1) - v));
}

// One pixel of a single-pass type: (r, g, b) in and out; the entry's value, preset and key, and
// the pixel's image coordinates (Philox counters).
template <typename T, int kType>
__device__ __forceinline__ void apply_pixel(T& r, T& g, T& b, double value, Preset preset, uint64_t seed,
                                            int64_t x_img, int64_t y_img) {
  if constexpr (kType == kMeanShift) {
    const T m = static_cast<T>(value);
    r += m;
    g += m;
    b += m;
  } else if constexpr (kType == kContrast) {
    // §4.9: 0.5 + (1 − β/4)(x − 0.5) + β(x − 0.5)³, β = −(0.05 + 0.25p)/0.042.
    const double beta = -(0.05 + 0.25 * value) / 0.042;
    const T c1 = static_cast<T>(1.0 - beta / 4.0), c3 = static_cast<T>(beta);
    T* v[3] = {&r, &g, &b};
    for (int c = 0; c < 3; ++c) {
      const T d = *v[c] - T(0.5);
      *v[c] = T(0.5) + d * (c1 + c3 * d * d);
    }
  } else if constexpr (kType == kWhiteNoise) {
    const T sigma = static_cast<T>(std::sqrt(value));
    T n[3];
    pixel_normals<T>(philox::draw(seed, static_cast<uint32_t>(x_img), static_cast<uint32_t>(y_img), 0), n);
    r = r + sigma * n[0];
    g = g + sigma * n[1];
    b = b + sigma * n[2];
  } else if constexpr (kType == kWhiteNoiseYcbcr) {
    // §4.16: reiqa studio range, no clip; kadis studio range, noisy YCbCr clipped; arniqa full range.
    const T sigma = static_cast<T>(std::sqrt(value));
    T n[3];
    pixel_normals<T>(philox::draw(seed, static_cast<uint32_t>(x_img), static_cast<uint32_t>(y_img), 0), n);
    T yy, cb, cr;
    if (preset == Preset::kArniqa) {
      color::rgb_to_ycbcr_full(r, g, b, yy, cb, cr);
    } else {
      color::rgb_to_ycbcr_studio(r, g, b, yy, cb, cr);
    }
    yy = yy + sigma * n[0];
    cb = cb + sigma * n[1];
    cr = cr + sigma * n[2];
    if (preset == Preset::kArniqa) {
      color::ycbcr_full_to_rgb(yy, cb, cr, r, g, b);
    } else {
      if (preset == Preset::kKadis) {
        yy = clip01(yy);
        cb = clip01(cb);
        cr = clip01(cr);
      }
      color::ycbcr_studio_to_rgb(yy, cb, cr, r, g, b);
    }
  } else if constexpr (kType == kImpulseNoise) {
    // §4.17: reiqa one uniform per pixel (word 0); kadis/arniqa one per element (words 0, 1, 2).
    const double half = 0.5 * value;
    const philox::Uint4 w = philox::draw(seed, static_cast<uint32_t>(x_img), static_cast<uint32_t>(y_img), 0);
    const double u0 = philox::uniform<double>(w.x);
    const bool per_pixel = preset == Preset::kReiqa;
    const double u[3] = {u0, per_pixel ? u0 : philox::uniform<double>(w.y),
                         per_pixel ? u0 : philox::uniform<double>(w.z)};
    T* v[3] = {&r, &g, &b};
    for (int c = 0; c < 3; ++c) {
      if (u[c] < half) {
        *v[c] = T(0);
      } else if (u[c] > 1.0 - half) {
        *v[c] = T(1);
      }
    }
  } else if constexpr (kType == kMultiplicativeNoise) {
    // §4.18: y = x + x·n; reiqa/arniqa n = σ·normal, kadis n = (2u − 1)·√(3v) (MATLAB speckle).
    const philox::Uint4 w = philox::draw(seed, static_cast<uint32_t>(x_img), static_cast<uint32_t>(y_img), 0);
    T n[3];
    T scale;
    if (preset == Preset::kKadis) {
      scale = static_cast<T>(std::sqrt(3.0 * value));
      n[0] = T(2) * philox::uniform<T>(w.x) - T(1);
      n[1] = T(2) * philox::uniform<T>(w.y) - T(1);
      n[2] = T(2) * philox::uniform<T>(w.z) - T(1);
    } else {
      scale = static_cast<T>(std::sqrt(value));
      pixel_normals<T>(w, n);
    }
    r = r + r * (scale * n[0]);
    g = g + g * (scale * n[1]);
    b = b + b * (scale * n[2]);
  } else if constexpr (kType == kBrighten) {
    // §4.20: (2·g(RGB) + Lab-with-L/100-through-g)/3.
    const T two_a = static_cast<T>(2.0 * value);
    T L, A, B, r2, g2, b2;
    color::rgb_to_lab(r, g, b, L, A, B);
    L = T(100) * tone(L * T(0.01), two_a);
    color::lab_to_rgb(L, A, B, r2, g2, b2);
    r = (T(2) * tone(r, two_a) + r2) / T(3);
    g = (T(2) * tone(g, two_a) + g2) / T(3);
    b = (T(2) * tone(b, two_a) + b2) / T(3);
  } else if constexpr (kType == kDarken) {
    const T two_a = static_cast<T>(-2.0 * value);
    r = tone(r, two_a);
    g = tone(g, two_a);
    b = tone(b, two_a);
  } else if constexpr (kType == kSaturate) {
    // §4.24: a*, b* × S in Lab; arniqa quantises to trunc(255·y)/255 after a float64 round trip
    // whatever T, so that the truncation falls where the reference's does (a float32 round trip of
    // white, or of k/255 at S = 1, lands an ulp below and truncates a whole step lower).
    if (preset == Preset::kArniqa) {
      double L, A, B, rd, gd, bd;
      color::rgb_to_lab<double>(r, g, b, L, A, B);
      color::lab_to_rgb<double>(L, A * value, B * value, rd, gd, bd);
      r = static_cast<T>(trunc255(rd));
      g = static_cast<T>(trunc255(gd));
      b = static_cast<T>(trunc255(bd));
    } else {
      const T s = static_cast<T>(value);
      T L, A, B;
      color::rgb_to_lab(r, g, b, L, A, B);
      color::lab_to_rgb(L, A * s, B * s, r, g, b);
    }
  } else if constexpr (kType == kSaturateHsv) {
    const T f = static_cast<T>(value);
    T h, s, v;
    color::rgb_to_hsv(r, g, b, h, s, v);
    color::hsv_to_rgb(h, s * f, v, r, g, b);
  } else if constexpr (kType == kNonlinearContrast) {
    // §4.25 (arniqa): y = (0.5 − v) + 2v·clip(x).
    const T slope = static_cast<T>(2.0 * value), offset = static_cast<T>(0.5 - value);
    r = offset + slope * clip01(r);
    g = offset + slope * clip01(g);
    b = offset + slope * clip01(b);
  }
}

template <typename T, int kType>
__global__ void __launch_bounds__(kThreads)
    pointwise_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                     const double* __restrict__ values, int32_t preset, int64_t tiles_x) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  int64_t y, x;
  if (!tile_pixel<kTileX, kTileY>(e, tiles_x, y, x)) return;
  const T* s = src + e[kSrc] + y * e[kSrcY] + x;
  const int64_t sc = e[kSrcC];
  T r = s[0], g = s[sc], b = s[2 * sc];
  apply_pixel<T, kType>(r, g, b, values[n], static_cast<Preset>(preset), static_cast<uint64_t>(e[kSeed]),
                        e[kRngX0] + x, e[kRngY0] + y);
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  const int64_t dc = e[kDstC];
  d[0] = clip01(r);
  d[dc] = clip01(g);
  d[2 * dc] = clip01(b);
}

// ---- quantization ------------------------------------------------------------------------------

// Bucket index of v among the edges [0, ⌊255i/bins⌋ (i = 1..bins−1), 256] (torch.bucketize, right=False):
// the number of edges < 255·v, with 255·v formed in T as the reference.
template <typename T>
__device__ __forceinline__ int quant_bin(T v, int bins) {
  const T s = v * T(255);
  int k = 0;
  while (k <= bins) {
    const int edge = k == 0 ? 0 : (k == bins ? 256 : (255 * k) / bins);
    if (!(static_cast<T>(edge) < s)) break;
    ++k;
  }
  return k;
}

// Block-wide min and max of (lo, hi) into thread 0's values (shared scratch of kThreads × 2).
__device__ __forceinline__ void block_minmax(int& lo, int& hi) {
  __shared__ int s_lo[kThreads], s_hi[kThreads];
  const int t = threadIdx.x + threadIdx.y * blockDim.x;
  s_lo[t] = lo;
  s_hi[t] = hi;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (t < stride) {
      s_lo[t] = min(s_lo[t], s_lo[t + stride]);
      s_hi[t] = max(s_hi[t], s_hi[t + stride]);
    }
    __syncthreads();
  }
  lo = s_lo[0];
  hi = s_hi[0];
}

// Pass 1: partial (lo, hi) of the tile blockIdx.x of entry blockIdx.y's whole image (H × W, all
// channels); tiles beyond the entry's image write the neutral (bins + 1, −1).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    quant_stats_kernel(const T* __restrict__ src, const int64_t* __restrict__ entries,
                       const double* __restrict__ values, int64_t tiles_x, int64_t tiles, int* __restrict__ partials) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int bins = static_cast<int>(values[n]);
  const int64_t tile = blockIdx.x;
  const int64_t x = (tile % tiles_x) * kTileX + threadIdx.x;
  const int64_t y_base = (tile / tiles_x) * (kTileY * kStatRows) + threadIdx.y;
  const int64_t h = e[kH], w = e[kW];
  int lo = bins + 1, hi = -1;
  if (x < w) {
    const T* s = src + e[kSrc] + x;
    for (int i = 0; i < kStatRows; ++i) {
      const int64_t y = y_base + i * kTileY;
      if (y >= h) break;
      for (int c = 0; c < 3; ++c) {
        const int k = quant_bin(s[c * e[kSrcC] + y * e[kSrcY]], bins);
        lo = min(lo, k);
        hi = max(hi, k);
      }
    }
  }
  block_minmax(lo, hi);
  if (threadIdx.x == 0 && threadIdx.y == 0) {
    partials[2 * (n * tiles + tile)] = lo;
    partials[2 * (n * tiles + tile) + 1] = hi;
  }
}

// Pass 2: one block per entry folds its partials into finals[n] = (lo, hi).
__global__ void __launch_bounds__(kThreads)
    quant_reduce_kernel(const int* __restrict__ partials, int64_t tiles, int* __restrict__ finals) {
  const int64_t n = blockIdx.x;
  int lo = 1 << 30, hi = -1;
  for (int64_t i = threadIdx.x + threadIdx.y * blockDim.x; i < tiles; i += kThreads) {
    lo = min(lo, partials[2 * (n * tiles + i)]);
    hi = max(hi, partials[2 * (n * tiles + i) + 1]);
  }
  block_minmax(lo, hi);
  if (threadIdx.x == 0 && threadIdx.y == 0) {
    finals[2 * n] = lo;
    finals[2 * n + 1] = hi;
  }
}

// Pass 3: (k − lo)/(hi − lo) over the out-region, k when the image is constant.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    quant_apply_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                       const double* __restrict__ values, const int* __restrict__ finals, int64_t tiles_x) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  int64_t y, x;
  if (!tile_pixel<kTileX, kTileY>(e, tiles_x, y, x)) return;
  const int bins = static_cast<int>(values[n]);
  const int lo = finals[2 * n], hi = finals[2 * n + 1];
  const bool stretch = lo < hi;
  const T span = static_cast<T>(hi - lo);
  const T* s = src + e[kSrc] + y * e[kSrcY] + x;
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  for (int c = 0; c < 3; ++c) {
    const int k = quant_bin(s[c * e[kSrcC]], bins);
    d[c * e[kDstC]] = clip01(stretch ? static_cast<T>(k - lo) / span : static_cast<T>(k));
  }
}

struct QuantLayout {
  int64_t tiles_x, tiles;
  size_t partial_ints, bytes;
};

QuantLayout quant_layout(const GroupArgs& a) {
  QuantLayout l{};
  l.tiles_x = (a.max_w + kTileX - 1) / kTileX;
  const int64_t tiles_y = (a.max_h + kTileY * kStatRows - 1) / (kTileY * kStatRows);
  l.tiles = l.tiles_x * tiles_y;
  l.partial_ints = static_cast<size_t>(2 * a.n * l.tiles);
  l.bytes = (l.partial_ints + static_cast<size_t>(2 * a.n)) * sizeof(int);
  return l;
}

template <typename T>
Status launch_quantization(const GroupArgs& a, cudaStream_t stream, dim3 grid, dim3 block, int64_t tiles_x) {
  if (a.preset != static_cast<int32_t>(Preset::kArniqa)) return Status::kUnsupportedDType;
  const QuantLayout l = quant_layout(a);
  if (l.tiles > 0x7fffffff) return Status::kInvalidArgument;
  int* partials = static_cast<int*>(a.workspace);
  int* finals = partials + l.partial_ints;
  const T* src = static_cast<const T*>(a.src);
  const dim3 stats_grid(static_cast<unsigned>(l.tiles), static_cast<unsigned>(a.n));
  PYIQA_FAST_LAUNCH(quant_stats_kernel<T>, stats_grid, block, 0, stream, src, a.entries, a.values, l.tiles_x, l.tiles,
                    partials);
  PYIQA_FAST_LAUNCH(quant_reduce_kernel, dim3(static_cast<unsigned>(a.n)), block, 0, stream,
                    static_cast<const int*>(partials), l.tiles, finals);
  PYIQA_FAST_LAUNCH(quant_apply_kernel<T>, grid, block, 0, stream, src, static_cast<T*>(a.dst), a.entries, a.values,
                    static_cast<const int*>(finals), tiles_x);
  return Status::kOk;
}

template <typename T>
Status launch_typed(const GroupArgs& a, cudaStream_t stream) {
  dim3 grid;
  int64_t tiles_x;
  if (!out_tile_grid<kTileX, kTileY>(a, grid, tiles_x)) return Status::kInvalidArgument;
  const dim3 block(kTileX, kTileY);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
#define PYIQA_FAST_POINTWISE_CASE(TYPE)                                                                          \
  case TYPE:                                                                                                     \
    PYIQA_FAST_LAUNCH((pointwise_kernel<T, TYPE>), grid, block, 0, stream, src, dst, a.entries, a.values, a.preset, \
                      tiles_x);                                                                                  \
    return Status::kOk;
  switch (a.type) {
    PYIQA_FAST_POINTWISE_CASE(kMeanShift)
    PYIQA_FAST_POINTWISE_CASE(kContrast)
    PYIQA_FAST_POINTWISE_CASE(kWhiteNoise)
    PYIQA_FAST_POINTWISE_CASE(kWhiteNoiseYcbcr)
    PYIQA_FAST_POINTWISE_CASE(kImpulseNoise)
    PYIQA_FAST_POINTWISE_CASE(kMultiplicativeNoise)
    PYIQA_FAST_POINTWISE_CASE(kBrighten)
    PYIQA_FAST_POINTWISE_CASE(kDarken)
    PYIQA_FAST_POINTWISE_CASE(kSaturate)
    PYIQA_FAST_POINTWISE_CASE(kSaturateHsv)
    PYIQA_FAST_POINTWISE_CASE(kNonlinearContrast)
    case kQuantization:
      return launch_quantization<T>(a, stream, grid, block, tiles_x);
    default:
      return Status::kUnsupportedDType;
  }
#undef PYIQA_FAST_POINTWISE_CASE
}

bool handles(int32_t type) {
  switch (type) {
    case kMeanShift: case kContrast: case kWhiteNoise: case kWhiteNoiseYcbcr: case kImpulseNoise:
    case kMultiplicativeNoise: case kBrighten: case kDarken: case kSaturate: case kSaturateHsv:
    case kNonlinearContrast: case kQuantization:
      return true;
    default:
      return false;
  }
}

size_t workspace_bytes(const GroupArgs& a) { return a.type == kQuantization ? quant_layout(a).bytes : 0; }

Status launch(const GroupArgs& a, cudaStream_t stream) {
  return a.is_double ? launch_typed<double>(a, stream) : launch_typed<float>(a, stream);
}

}  // namespace

const CudaClass kPointwiseCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
