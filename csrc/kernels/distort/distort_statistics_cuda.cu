// distort on CUDA, global per-image statistics class (DISTORTIONS.md §6): colour shift (§4.23).
// See distort_cuda.h for the group contract.
//
// The edge mask is computed in double for both T (as the CPU kernel), in four launches over all
// entries of the group; intermediates live in the workspace:
//   [n planes A][n planes B] of double (plane = max_h · max_w, entry n's plane at n · plane, row
//   stride W of the entry), then n × kScalars doubles of per-entry statistics.
//   1. gradient:   grid (tiles of max_h·max_w, n), 256 threads, one pixel each:
//                  A = hypot(∂y g, ∂x g) of the grey g (numpy.gradient), g from src on the fly;
//   2. vertical:   same grid: B = Gaussian along y of A (replicate);
//   3. horizontal: same grid: A = Gaussian along x of B (replicate);
//   4. statistics: grid (n), 256 threads, one block per entry: exact order statistics of A by a
//                  radix select (8 passes of 8-bit digits over the order-preserving uint64 keys,
//                  shared-memory histograms): ranks 0, H·W − 1 (min, max) and the two pairs of
//                  numpy 'linear' percentiles P1, P99. Every step of the mask (mapmm, clip(0.1, 1),
//                  mapmm, clip(P1, P99), mapmm) is non-decreasing, so an order statistic of the
//                  step's input maps to the one of its output: one selection on A gives every min,
//                  max and percentile of the chain exactly (ties and rounding included);
//   5. blend:      grid (tiles of the largest out-region, n), 256 threads: the mask from A and the
//                  scalars, G_out = e·G′ + (1 − e)·G, R and B copied, clipped to [0, 1].
// Host tables (cuda_tables/statistics.py): ftable = the 2r + 1 normalised Gaussian taps
// (r = 16 reiqa, 8 kadis/arniqa), itable = (s0, s1) the integer shift vector.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "common/cuda_launch.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"
#include "kernels/distort/distort_cuda_device.cuh"

namespace pyiqa_fast::distort {
namespace {

constexpr int kThreads = 256;
constexpr int kRanks = 6;    // min, max, P1's two order statistics, P99's two
constexpr int kScalars = 8;  // per entry: lo1, hi1, lo2, hi2, p1, p99, lo3, hi3

// Products that nvcc must not contract into an FMA (the reference rounds every operation).
#if defined(PYIQA_FAST_CUDA_HOST_EMU)
inline double dmul(double a, double b) { return a * b; }
#else
__device__ __forceinline__ double dmul(double a, double b) { return __dmul_rn(a, b); }
#endif

__device__ __forceinline__ int64_t clamp_idx(int64_t j, int64_t n) { return j < 0 ? 0 : (j >= n ? n - 1 : j); }

// Half-sample-symmetric reflection (numpy 'symmetric').
__device__ __forceinline__ int64_t reflect_idx(int64_t j, int64_t n) {
  if (j >= 0 && j < n) return j;
  const int64_t p = 2 * n;
  j %= p;
  if (j < 0) j += p;
  return j < n ? j : p - 1 - j;
}

// torch.clamp(v, lo, hi).
__device__ __forceinline__ double clampd(double v, double lo, double hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// mapmm with the statistics (lo, hi) of its input: unchanged when constant.
__device__ __forceinline__ double mapmm(double v, double lo, double hi) { return hi == lo ? v : (v - lo) / (hi - lo); }

template <typename T>
__device__ __forceinline__ double grey(const T* s, int64_t sc, int64_t i) {
  return dmul(0.2989, static_cast<double>(s[i])) + dmul(0.5870, static_cast<double>(s[sc + i])) +
         dmul(0.1140, static_cast<double>(s[2 * sc + i]));
}

// numpy.gradient along a line of n greys (stride st) at index i.
template <typename T>
__device__ __forceinline__ double gradient(const T* s, int64_t sc, int64_t base, int64_t i, int64_t n, int64_t st) {
  if (n < 2) return 0.0;
  if (i == 0) return grey(s, sc, base + st) - grey(s, sc, base);
  if (i == n - 1) return grey(s, sc, base + i * st) - grey(s, sc, base + (i - 1) * st);
  return (grey(s, sc, base + (i + 1) * st) - grey(s, sc, base + (i - 1) * st)) / 2;
}

// The pixel (y, x) of this thread in entry blockIdx.y's whole image; false outside it.
__device__ __forceinline__ bool image_pixel(const int64_t* e, int64_t& y, int64_t& x) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= e[kH] * e[kW]) return false;
  y = i / e[kW];
  x = i % e[kW];
  return true;
}

template <typename T>
__global__ void gradient_kernel(const T* __restrict__ src, const int64_t* __restrict__ entries,
                                double* __restrict__ plane_a, int64_t plane) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  int64_t y, x;
  if (!image_pixel(e, y, x)) return;
  const int64_t h = e[kH], w = e[kW], sy = e[kSrcY], sc = e[kSrcC];
  const T* s = src + e[kSrc];
  const double gy = gradient(s, sc, x, y, h, sy);
  const double gx = gradient(s, sc, y * sy, x, w, int64_t{1});
  plane_a[n * plane + y * w + x] = hypot(gy, gx);
}

// One separable Gaussian pass (replicate borders): along y when kVertical, else along x.
template <bool kVertical>
__global__ void gaussian_kernel(const int64_t* __restrict__ entries, const double* __restrict__ ftable,
                                int64_t f_stride, int radius, const double* __restrict__ in,
                                double* __restrict__ out, int64_t plane) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  int64_t y, x;
  if (!image_pixel(e, y, x)) return;
  const int64_t h = e[kH], w = e[kW];
  const double* taps = ftable + n * f_stride;
  const double* s = in + n * plane;
  double acc = 0;
  for (int k = -radius; k <= radius; ++k) {
    const double v = kVertical ? s[clamp_idx(y + k, h) * w + x] : s[y * w + clamp_idx(x + k, w)];
    acc += dmul(taps[k + radius], v);
  }
  out[n * plane + y * w + x] = acc;
}

// Order-preserving uint64 key of a double (negatives reversed; NaN above +inf).
__device__ __forceinline__ uint64_t order_key(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return (b >> 63) ? ~b : (b | (uint64_t{1} << 63));
}

__device__ __forceinline__ double key_value(uint64_t k) {
  const uint64_t b = (k >> 63) ? (k & ~(uint64_t{1} << 63)) : ~k;
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

// numpy.percentile's two-sided lerp between the order statistics a ≤ b at fraction t.
__device__ __forceinline__ double lerp_percentile(double a, double b, double t) {
  const double diff = b - a;
  return t >= 0.5 ? b - dmul(diff, 1 - t) : a + dmul(diff, t);
}

__global__ void statistics_kernel(const int64_t* __restrict__ entries, const double* __restrict__ plane_a,
                                  int64_t plane, double* __restrict__ scalars) {
  __shared__ unsigned int hist[kRanks][256];
  __shared__ uint64_t prefix[kRanks];
  __shared__ int64_t rank[kRanks];
  const int64_t n = blockIdx.x;
  const int64_t* e = entries + n * kNumFields;
  const int64_t count = e[kH] * e[kW];
  const double* a = plane_a + n * plane;
  const int tid = threadIdx.x;
  // numpy 'linear': position (p / 100)·(count − 1), order statistics ⌊pos⌋ and ⌊pos⌋ + 1.
  const double pos1 = (1.0 / 100) * static_cast<double>(count - 1);
  const double pos99 = (99.0 / 100) * static_cast<double>(count - 1);
  const int64_t k1 = static_cast<int64_t>(floor(pos1)), k99 = static_cast<int64_t>(floor(pos99));
  if (tid < kRanks) {
    const int64_t ranks[kRanks] = {0, count - 1, k1, k1 + 1 < count ? k1 + 1 : count - 1, k99,
                                   k99 + 1 < count ? k99 + 1 : count - 1};
    rank[tid] = ranks[tid];
    prefix[tid] = 0;
  }
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int i = tid; i < kRanks * 256; i += kThreads) hist[i / 256][i % 256] = 0;
    __syncthreads();
    const uint64_t mask = shift == 56 ? 0 : ~uint64_t{0} << (shift + 8);
    for (int64_t i = tid; i < count; i += kThreads) {
      const uint64_t key = order_key(a[i]);
      const unsigned digit = static_cast<unsigned>(key >> shift) & 255u;
      for (int r = 0; r < kRanks; ++r)
        if ((key & mask) == prefix[r]) atomicAdd(&hist[r][digit], 1u);
    }
    __syncthreads();
    if (tid < kRanks) {
      int64_t k = rank[tid];
      unsigned d = 0;
      for (; d < 255; ++d) {
        if (k < static_cast<int64_t>(hist[tid][d])) break;
        k -= hist[tid][d];
      }
      rank[tid] = k;
      prefix[tid] |= static_cast<uint64_t>(d) << shift;
    }
    __syncthreads();
  }
  if (tid != 0) return;
  double v[kRanks];
  for (int r = 0; r < kRanks; ++r) v[r] = key_value(prefix[r]);
  // The chain up to the percentile stretch, applied to each order statistic.
  const double lo1 = v[0], hi1 = v[1];
  auto f = [&](double x) {
    const double c = clampd(mapmm(x, lo1, hi1), 0.1, 1.0);
    return c;
  };
  const double lo2 = f(lo1), hi2 = f(hi1);
  auto g = [&](double x) { return mapmm(f(x), lo2, hi2); };
  const double p1 = lerp_percentile(g(v[2]), g(v[3]), pos1 - static_cast<double>(k1));
  const double p99 = lerp_percentile(g(v[4]), g(v[5]), pos99 - static_cast<double>(k99));
  const double lo3 = clampd(g(lo1), p1, p99), hi3 = clampd(g(hi1), p1, p99);
  double* out = scalars + n * kScalars;
  out[0] = lo1; out[1] = hi1; out[2] = lo2; out[3] = hi2; out[4] = p1; out[5] = p99; out[6] = lo3; out[7] = hi3;
}

template <typename T>
__global__ void blend_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                             const int64_t* __restrict__ itable, int64_t i_stride, int32_t preset,
                             const double* __restrict__ plane_a, int64_t plane, const double* __restrict__ scalars) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t ow = e[kOx1] - e[kOx0];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= (e[kOy1] - e[kOy0]) * ow) return;
  const int64_t y = e[kOy0] + i / ow, x = e[kOx0] + i % ow;
  const int64_t h = e[kH], w = e[kW];
  const double* st = scalars + n * kScalars;
  double m = mapmm(clampd(mapmm(clampd(mapmm(plane_a[n * plane + y * w + x], st[0], st[1]), 0.1, 1.0), st[2], st[3]),
                          st[4], st[5]),
                   st[6], st[7]);
  const int64_t s0 = itable[n * i_stride], s1 = itable[n * i_stride + 1];
  int64_t sy, sx;
  if (preset == static_cast<int32_t>(Preset::kReiqa)) {
    sy = reflect_idx(y - s0, h);
    sx = reflect_idx(x - s1, w);
  } else {
    sy = clamp_idx(y - s0, h);
    sx = clamp_idx(x - s1, w);
  }
  const T* s = src + e[kSrc];
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  const int64_t sc = e[kSrcC], sr = e[kSrcY];
  const double gv = static_cast<double>(s[sc + y * sr + x]);
  const double shifted = static_cast<double>(s[sc + sy * sr + sx]);
  d[0] = clip01(s[y * sr + x]);
  d[e[kDstC]] = clip01(static_cast<T>(dmul(m, shifted) + dmul(1 - m, gv)));
  d[2 * e[kDstC]] = clip01(s[2 * sc + y * sr + x]);
}

int radius_of(int32_t preset) { return preset == static_cast<int32_t>(Preset::kReiqa) ? 16 : 8; }

size_t plane_elems(const GroupArgs& a) { return static_cast<size_t>(a.max_h) * static_cast<size_t>(a.max_w); }

template <typename T>
Status launch_typed(const GroupArgs& a, cudaStream_t stream) {
  if (a.n > 65535) return Status::kInvalidArgument;  // grid.y limit
  const int radius = radius_of(a.preset);
  if (a.ftable == nullptr || a.itable == nullptr || a.f_stride < 2 * radius + 1 || a.i_stride < 2)
    return Status::kInvalidArgument;
  const int64_t plane = static_cast<int64_t>(plane_elems(a));
  double* plane_a = static_cast<double*>(a.workspace);
  double* plane_b = plane_a + a.n * plane;
  double* scalars = plane_b + a.n * plane;
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  const dim3 block(kThreads);
  const dim3 grid_image(static_cast<unsigned>((plane + kThreads - 1) / kThreads), static_cast<unsigned>(a.n));
  PYIQA_FAST_LAUNCH(gradient_kernel<T>, grid_image, block, 0, stream, src, a.entries, plane_a, plane);
  PYIQA_FAST_LAUNCH(gaussian_kernel<true>, grid_image, block, 0, stream, a.entries, a.ftable, a.f_stride, radius,
                    static_cast<const double*>(plane_a), plane_b, plane);
  PYIQA_FAST_LAUNCH(gaussian_kernel<false>, grid_image, block, 0, stream, a.entries, a.ftable, a.f_stride, radius,
                    static_cast<const double*>(plane_b), plane_a, plane);
  PYIQA_FAST_LAUNCH(statistics_kernel, dim3(static_cast<unsigned>(a.n)), block, 0, stream, a.entries,
                    static_cast<const double*>(plane_a), plane, scalars);
  const int64_t out_elems = a.max_out_h * a.max_out_w;
  const dim3 grid_out(static_cast<unsigned>((out_elems + kThreads - 1) / kThreads), static_cast<unsigned>(a.n));
  PYIQA_FAST_LAUNCH(blend_kernel<T>, grid_out, block, 0, stream, src, dst, a.entries, a.itable, a.i_stride, a.preset,
                    static_cast<const double*>(plane_a), plane, static_cast<const double*>(scalars));
  return Status::kOk;
}

bool handles(int32_t type) { return type == kColorShift; }

size_t workspace_bytes(const GroupArgs& a) {
  if (a.type != kColorShift) return 0;
  return sizeof(double) * (2 * static_cast<size_t>(a.n) * plane_elems(a) + kScalars * static_cast<size_t>(a.n));
}

Status launch(const GroupArgs& a, cudaStream_t stream) {
  if (a.type != kColorShift) return Status::kUnsupportedDType;
  return a.is_double ? launch_typed<double>(a, stream) : launch_typed<float>(a, stream);
}

}  // namespace

const CudaClass kStatisticsCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
