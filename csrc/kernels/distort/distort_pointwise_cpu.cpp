// distort, CPU: the elementwise and elementwise + RNG operators (DISTORTIONS.md §6 first two
// classes). Each output pixel depends on the same input pixel only (and on its Philox draws).
#include <cmath>

#include "common/philox.h"
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {
namespace {

// Applies f(value) to every channel value of out_region.
template <typename T, typename F>
void for_each_value(const OpArgs<T>& a, F f) {
  const Rect& r = a.out_region;
  parallel_range(a, 3 * r.height(), [&](int64_t begin, int64_t end) {
    for (int64_t cy = begin; cy < end; ++cy) {
      const int64_t c = cy / r.height(), y = r.y0 + cy % r.height();
      const T* in = a.src + (c * a.h + y) * a.w;
      T* out = a.dst + (c * a.h + y) * a.w;
      for (int64_t x = r.x0; x < r.x1; ++x) out[x] = f(in[x]);
    }
  });
}

// §4.8: y = x + m.
template <typename T>
Status mean_shift(const OpArgs<T>& a) {
  const T m = static_cast<T>(a.value);
  for_each_value(a, [m](T v) { return v + m; });
  return Status::kOk;
}

// §4.15: y = x + n, n ~ N(0, v) per pixel and channel (normals n0, n1 of the first pair for R, G,
// n0 of the second pair for B).
template <typename T>
Status white_noise(const OpArgs<T>& a) {
  const double sigma = std::sqrt(a.value);
  const Rect& r = a.out_region;
  const int64_t plane = a.h * a.w;
  parallel_range(a, r.height(), [&](int64_t begin, int64_t end) {
    for (int64_t y = r.y0 + begin; y < r.y0 + end; ++y) {
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const philox::Uint4 w = philox::draw(a.seed, static_cast<uint32_t>(a.rng_x0 + x),
                                             static_cast<uint32_t>(a.rng_y0 + y), 0);
        double n[4];
        philox::box_muller(w.x, w.y, n[0], n[1]);
        philox::box_muller(w.z, w.w, n[2], n[3]);
        const int64_t i = y * a.w + x;
        for (int c = 0; c < 3; ++c) a.dst[c * plane + i] = static_cast<T>(a.src[c * plane + i] + sigma * n[c]);
      }
    }
  });
  return Status::kOk;
}

}  // namespace

template <typename T>
OpFn<T> pointwise_operator(int32_t type) {
  switch (type) {
    case kMeanShift: return mean_shift<T>;
    case kWhiteNoise: return white_noise<T>;
    default: return nullptr;
  }
}

template OpFn<float> pointwise_operator<float>(int32_t);
template OpFn<double> pointwise_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
