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
#include <cstring>
#include <type_traits>
#if !defined(__CUDACC__)
#include <vector>
#endif

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

// The same pair in float maths, for float32 images, with no libm call and no branch so that a
// loop over a row of words vectorises (box_muller_row): (r0 >> 8) + 1 ≤ 2²⁴ is exact in float;
// ln a = e·ln 2 + 2·atanh(s) with the mantissa in [√½, √2) and the odd series to s⁹; the angle
// 2πb is reduced exactly to 2π(b − k/4) ∈ [−π/4, π/4] and sin/cos come from Taylor series to
// θ⁹/θ⁸, rotated by k quarter turns. Within ~1e-6 of the double normals (DISTORTIONS.md §5.2).
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void box_muller(uint32_t r0, uint32_t r1, float& n0, float& n1) {
  const float a = static_cast<float>((r0 >> 8) + 1u);  // a·2⁻²⁴ ∈ (0, 1]
  uint32_t bits;
  std::memcpy(&bits, &a, sizeof bits);
  const uint32_t mantissa = bits & 0x007FFFFFu;
  const int32_t high = mantissa > 0x003504F3u ? 1 : 0;  // mantissa ≥ √2: halve it
  const int32_t exponent = static_cast<int32_t>(bits >> 23) - 151 + high;
  const uint32_t m_bits = mantissa | (high ? 0x3F000000u : 0x3F800000u);
  float m;
  std::memcpy(&m, &m_bits, sizeof m);
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float ln_a = static_cast<float>(exponent) * 0.69314718055994531f +
                     2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  const float radius = std::sqrt(-2.0f * ln_a);
  const float b = static_cast<float>(r1 >> 8) * (1.0f / 16777216.0f);
  const int32_t k = static_cast<int32_t>(4.0f * b + 0.5f);  // nearest quarter turn, 0..4
  const float theta = 6.28318530717958647692f * (b - 0.25f * static_cast<float>(k));
  const float t2 = theta * theta;
  const float sine = theta * (1.0f + t2 * (-1.0f / 6 + t2 * (1.0f / 120 + t2 * (-1.0f / 5040 + t2 * (1.0f / 362880)))));
  const float cosine = 1.0f + t2 * (-0.5f + t2 * (1.0f / 24 + t2 * (-1.0f / 720 + t2 * (1.0f / 40320))));
  const float c1 = (k & 1) ? -sine : cosine, s1 = (k & 1) ? cosine : sine;
  const float signed_radius = (k & 2) ? -radius : radius;
  n0 = signed_radius * c1;
  n1 = signed_radius * s1;
}

// box_muller over a row of word pairs (vectorised by the compiler).
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void box_muller_row(const uint32_t* PYIQA_FAST_RESTRICT r0,
                                                            const uint32_t* PYIQA_FAST_RESTRICT r1,
                                                            float* PYIQA_FAST_RESTRICT n0,
                                                            float* PYIQA_FAST_RESTRICT n1, int64_t n) {
  for (int64_t i = 0; i < n; ++i) box_muller(r0[i], r1[i], n0[i], n1[i]);
}

#if !defined(__CUDACC__)
// Host helper: the three normals (the pair of words 0, 1 and the cos branch of words 2, 3) of
// draw d at the pixels (x0 + i, y), i < n, into out[i], out[n + i], out[2n + i] — in T's precision,
// for float kernels through Box–Muller rows the compiler vectorises. Buffers are the caller's.
template <typename T>
inline void row_normals3(uint64_t seed, int64_t x0, int64_t y, uint32_t d, int64_t n, std::vector<uint32_t>& words,
                         std::vector<float>& scratch, double* out) {
  words.resize(static_cast<size_t>(4 * n));
  scratch.resize(static_cast<size_t>(4 * n));
  for (int64_t i = 0; i < n; ++i) {
    const Uint4 w = draw(seed, static_cast<uint32_t>(x0 + i), static_cast<uint32_t>(y), d);
    words[i] = w.x;
    words[n + i] = w.y;
    words[2 * n + i] = w.z;
    words[3 * n + i] = w.w;
  }
  if constexpr (std::is_same_v<T, float>) {
    box_muller_row(words.data(), words.data() + n, scratch.data(), scratch.data() + n, n);
    box_muller_row(words.data() + 2 * n, words.data() + 3 * n, scratch.data() + 2 * n, scratch.data() + 3 * n, n);
    for (int64_t i = 0; i < 3 * n; ++i) out[i] = scratch[i];
  } else {
    double unused;
    for (int64_t i = 0; i < n; ++i) {
      box_muller(words[i], words[n + i], out[i], out[n + i]);
      box_muller(words[2 * n + i], words[3 * n + i], out[2 * n + i], unused);
    }
  }
}
#endif

}  // namespace pyiqa_fast::philox
