// dsm_pool — CPU kernels.
//
// Forward: a work item is one strip of p input rows (one row of output cells). For each of its
// rows and each channel, a contiguous loop over the width adds |ref − dist| into a per-thread
// row of column sums (`scratch`, W accumulators, vectorisable when the width stride is 1); the
// cell sums are then p-wide slices of that row. Each input element is read once; the map is
// written once. Channels-last (channel stride 1, width stride 3) has its own loop reading the
// three channels of a pixel together; both loops add in the same order (row, then channel), so
// every layout gives bitwise the same result. Other strides take a generic strided loop.
//
// Backward: a work item is one input row (b, h); per cell of the row, the caller's scale s is
// written as +s, −s or 0 by the sign of ref − dist (16-bit types: by flipping the sign bit
// of s, so no float → half rounding happens here).
//
// Accumulation: float (double for double inputs); uint8 differences are exact integers in
// float up to 2^24 per cell. Deterministic: a strip or row is one thread's work, in a fixed
// order, whatever the thread count.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "kernels/dsm_pool/dsm_pool.h"

namespace pyiqa_fast::dsm_pool {
namespace {

inline float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// IEEE half → float, exact for every input (normals, subnormals, ±inf, NaN); the branch-free
// formulation of FP16 (Maratyszcza), as used by c10.
inline float half_to_float(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float normalized = float_from_bits((two_w >> 4) + exp_offset) * 0x1.0p-112f;
  const float denormalized = float_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
  // A mask instead of `?:`, which GCC leaves as a branch: this keeps the row loops vectorised.
  const uint32_t is_denormal = 0u - static_cast<uint32_t>(two_w < (1u << 27));
  const uint32_t magnitude = (float_to_bits(denormalized) & is_denormal) | (float_to_bits(normalized) & ~is_denormal);
  return float_from_bits(sign | magnitude);
}

inline float bf16_to_float(uint16_t h) { return float_from_bits(static_cast<uint32_t>(h) << 16); }

// Element access per storage type: value in the accumulation type, and the sign operations
// the backward needs on a value already in the storage type.
template <typename T>
struct Elem;
template <>
struct Elem<uint8_t> {
  static inline float absdiff(uint8_t a, uint8_t b) {
    return static_cast<float>(std::abs(static_cast<int>(a) - static_cast<int>(b)));
  }
  static constexpr double kDenominator = 255.0;  // uint8 images are read as value / 255
};
template <>
struct Elem<float> {
  static inline float value(float v) { return v; }
  static inline float absdiff(float a, float b) { return std::fabs(a - b); }
  static inline float negate(float v) { return -v; }
  static inline float zero() { return 0.0f; }
  static constexpr double kDenominator = 1.0;
};
template <>
struct Elem<double> {
  static inline double value(double v) { return v; }
  static inline double absdiff(double a, double b) { return std::fabs(a - b); }
  static inline double negate(double v) { return -v; }
  static inline double zero() { return 0.0; }
  static constexpr double kDenominator = 1.0;
};
template <>
struct Elem<Half> {
  static inline float value(Half v) { return half_to_float(v.bits); }
  static inline float absdiff(Half a, Half b) { return std::fabs(value(a) - value(b)); }
  static inline Half negate(Half v) { return Half{static_cast<uint16_t>(v.bits ^ 0x8000u)}; }
  static inline Half zero() { return Half{0}; }
  static constexpr double kDenominator = 1.0;
};
template <>
struct Elem<BFloat16> {
  static inline float value(BFloat16 v) { return bf16_to_float(v.bits); }
  static inline float absdiff(BFloat16 a, BFloat16 b) { return std::fabs(value(a) - value(b)); }
  static inline BFloat16 negate(BFloat16 v) { return BFloat16{static_cast<uint16_t>(v.bits ^ 0x8000u)}; }
  static inline BFloat16 zero() { return BFloat16{0}; }
  static constexpr double kDenominator = 1.0;
};

// scratch[w] += Σ_c |ref − dist| over one input row, channel by channel (same order in every
// layout).
template <typename T, typename A>
inline void add_row(const T* PYIQA_FAST_RESTRICT r, const Strides& rs, const T* PYIQA_FAST_RESTRICT d,
                    const Strides& ds, int64_t width, A* PYIQA_FAST_RESTRICT acc) {
  if (rs.w == 1 && ds.w == 1) {  // planar rows (contiguous NCHW and crops of it)
    for (int c = 0; c < 3; ++c) {
      const T* PYIQA_FAST_RESTRICT rc = r + c * rs.c;
      const T* PYIQA_FAST_RESTRICT dc = d + c * ds.c;
      for (int64_t w = 0; w < width; ++w) acc[w] += static_cast<A>(Elem<T>::absdiff(rc[w], dc[w]));
    }
  } else if (rs.c == 1 && ds.c == 1 && rs.w == 3 && ds.w == 3) {  // channels-last pixels
    for (int64_t w = 0; w < width; ++w) {
      A s = acc[w];
      s += static_cast<A>(Elem<T>::absdiff(r[3 * w], d[3 * w]));
      s += static_cast<A>(Elem<T>::absdiff(r[3 * w + 1], d[3 * w + 1]));
      s += static_cast<A>(Elem<T>::absdiff(r[3 * w + 2], d[3 * w + 2]));
      acc[w] = s;
    }
  } else {
    for (int c = 0; c < 3; ++c) {
      const T* rc = r + c * rs.c;
      const T* dc = d + c * ds.c;
      for (int64_t w = 0; w < width; ++w) acc[w] += static_cast<A>(Elem<T>::absdiff(rc[w * rs.w], dc[w * ds.w]));
    }
  }
}

}  // namespace

template <typename T, typename A>
Status dsm_pool_fwd_cpu(const CpuFwdParams<T, A>& p, int64_t begin, int64_t end, A* scratch) {
  const Geometry& g = p.geo;
  if (g.pool < 1 || begin < 0 || end > g.batch * g.out_h || scratch == nullptr) return Status::kInvalidArgument;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t b = item / g.out_h, u = item % g.out_h;
    const int64_t rows = cell_extent(u, g.pool, g.height);
    for (int64_t w = 0; w < g.width; ++w) scratch[w] = A(0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = u * g.pool + r;
      add_row<T, A>(p.ref + b * p.ref_strides.b + h * p.ref_strides.h, p.ref_strides,
                    p.dist + b * p.dist_strides.b + h * p.dist_strides.h, p.dist_strides, g.width, scratch);
    }
    A* out = p.out + (b * g.out_h + u) * g.out_w;
    for (int64_t v = 0; v < g.out_w; ++v) {
      const int64_t cols = cell_extent(v, g.pool, g.width);
      const A* cell = scratch + v * g.pool;
      A sum = A(0);
      for (int64_t k = 0; k < cols; ++k) sum += cell[k];
      out[v] = sum / static_cast<A>(3.0 * static_cast<double>(rows * cols) * Elem<T>::kDenominator);
    }
  }
  return Status::kOk;
}

template <typename T>
Status dsm_pool_bwd_cpu(const CpuBwdParams<T>& p, int64_t begin, int64_t end) {
  const Geometry& g = p.geo;
  if (g.pool < 1 || begin < 0 || end > g.batch * g.height) return Status::kInvalidArgument;
  using E = Elem<T>;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t b = item / g.height, h = item % g.height;
    const T* scale = p.scale + (b * g.out_h + h / g.pool) * g.out_w;
    for (int c = 0; c < 3; ++c) {
      const T* r = p.ref + b * p.ref_strides.b + c * p.ref_strides.c + h * p.ref_strides.h;
      const T* d = p.dist + b * p.dist_strides.b + c * p.dist_strides.c + h * p.dist_strides.h;
      const int64_t row = ((b * 3 + c) * g.height + h) * g.width;
      T* gr = p.grad_ref + row;
      T* gd = p.grad_dist + row;
      for (int64_t v = 0; v < g.out_w; ++v) {
        const T s = scale[v];
        const int64_t w_end = v * g.pool + cell_extent(v, g.pool, g.width);
        for (int64_t w = v * g.pool; w < w_end; ++w) {
          const auto diff = E::value(r[w * p.ref_strides.w]) - E::value(d[w * p.dist_strides.w]);
          // sign(diff)·s as torch's abs backward: 0 at equality and where diff is NaN (sign(NaN) = 0).
          const T out = diff > 0 ? s : diff < 0 ? E::negate(s) : E::zero();
          gr[w] = out;
          gd[w] = E::negate(out);
        }
      }
    }
  }
  return Status::kOk;
}

#define PYIQA_FAST_DSM_FWD(T, A) \
  template Status dsm_pool_fwd_cpu<T, A>(const CpuFwdParams<T, A>&, int64_t, int64_t, A*);
PYIQA_FAST_DSM_FWD(uint8_t, float)
PYIQA_FAST_DSM_FWD(Half, float)
PYIQA_FAST_DSM_FWD(BFloat16, float)
PYIQA_FAST_DSM_FWD(float, float)
PYIQA_FAST_DSM_FWD(double, double)
#undef PYIQA_FAST_DSM_FWD

template Status dsm_pool_bwd_cpu<Half>(const CpuBwdParams<Half>&, int64_t, int64_t);
template Status dsm_pool_bwd_cpu<BFloat16>(const CpuBwdParams<BFloat16>&, int64_t, int64_t);
template Status dsm_pool_bwd_cpu<float>(const CpuBwdParams<float>&, int64_t, int64_t);
template Status dsm_pool_bwd_cpu<double>(const CpuBwdParams<double>&, int64_t, int64_t);

}  // namespace pyiqa_fast::dsm_pool
