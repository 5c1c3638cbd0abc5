// Counter-based Philox4x32-10 (Salmon et al., SC'11), identical on the host, in CUDA and in the
// PyTorch reference (pyiqa_fast/distortions/philox.py), so every backend draws the same random
// field for the same key (DISTORTIONS.md §5.2). Torch-free.
//
// Conventions shared by every distortion kernel:
//   key     = the slot's 64-bit seed: (k0, k1) = (low, high 32 bits);
//   counter = (x, y, draw, domain) with (x, y) the pixel's coordinates in the whole image,
//             draw an iteration index (jitter) and domain 0 for per-pixel fields;
//             the sampler's per-call uniforms use domain 1 (see sample_params);
//   uniform = (r >> 8) · 2⁻²⁴ ∈ [0, 1);
//   normals = Box–Muller on (r0, r1) and (r2, r3): a = ((r0 >> 8) + 1) · 2⁻²⁴ ∈ (0, 1],
//             b = (r1 >> 8) · 2⁻²⁴; n0 = √(−2 ln a)·cos 2πb, n1 = √(−2 ln a)·sin 2πb.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common/macros.h"

namespace pyiqa_fast::philox {

struct Uint4 {
  uint32_t x, y, z, w;
};

PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE Uint4 philox4x32_10(Uint4 c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c.x;
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c.z;
    c = Uint4{static_cast<uint32_t>(p1 >> 32) ^ c.y ^ k0, static_cast<uint32_t>(p1),
              static_cast<uint32_t>(p0 >> 32) ^ c.w ^ k1, static_cast<uint32_t>(p0)};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE Uint4 draw(uint64_t seed, uint32_t x, uint32_t y, uint32_t d,
                                                    uint32_t domain = 0) {
  return philox4x32_10(Uint4{x, y, d, domain}, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in [0, 1) with 24 random bits (exact in float and double).
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T uniform(uint32_t r) {
  return static_cast<T>(r >> 8) * static_cast<T>(1.0 / 16777216.0);
}

// Two standard normals from two 32-bit words (Box–Muller); computed in double so that float and
// double kernels see the same values up to one rounding.
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void box_muller(uint32_t r0, uint32_t r1, double& n0, double& n1) {
  const double a = (static_cast<double>(r0 >> 8) + 1.0) * (1.0 / 16777216.0);
  const double b = static_cast<double>(r1 >> 8) * (1.0 / 16777216.0);
  const double radius = std::sqrt(-2.0 * std::log(a));
  const double angle = 6.283185307179586 * b;
  n0 = radius * std::cos(angle);
  n1 = radius * std::sin(angle);
}

// The same pair in float maths, for float32 images: (r0 >> 8) + 1 ≤ 2²⁴ is exact in float, and
// logf/sinf/cosf keep the normals within 1e-6 of the double ones (DISTORTIONS.md §5.2 allows that
// across backends); ~40 % cheaper than the double maths (measured: a Taylor sincos and a
// polynomial log were no faster than glibc's float functions here).
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void box_muller(uint32_t r0, uint32_t r1, float& n0, float& n1) {
  const float a = static_cast<float>((r0 >> 8) + 1u) * (1.0f / 16777216.0f);
  const float b = static_cast<float>(r1 >> 8) * (1.0f / 16777216.0f);
  const float radius = std::sqrt(-2.0f * std::log(a));
  const float angle = 6.28318530717958647692f * b;
  n0 = radius * std::cos(angle);
  n1 = radius * std::sin(angle);
}

// Normals in the precision of a kernel on T images: double maths for double (the reference's),
// float maths for float.
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void normals(uint32_t r0, uint32_t r1, double& n0, double& n1) {
  if constexpr (std::is_same_v<T, float>) {
    float f0, f1;
    box_muller(r0, r1, f0, f1);
    n0 = f0;
    n1 = f1;
  } else {
    box_muller(r0, r1, n0, n1);
  }
}

}  // namespace pyiqa_fast::philox
