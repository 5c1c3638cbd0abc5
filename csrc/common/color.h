// Colour conversions of the distortion kernels (DISTORTIONS.md §2.2), host + device, torch-free.
// Every function works on one pixel in registers and is templated on the scalar type (float for
// float32 images, double for float64), so the CPU kernels and the CUDA kernels share the maths.
//
//   sRGB ↔ CIELAB (D65, scikit-image rgb2lab/lab2rgb): linearise, XYZ = M·rgb, normalise by the
//     white point, f(t) = cbrt(t) above (6/29)³ else t/(3(6/29)²) + 4/29; inverse with the f-domain
//     z clamped at 0 (scikit-image's "negative Z" rule) and RGB clipped to [0, 1];
//   YCbCr BT.601 studio swing on [0, 1] (MATLAB / scikit-image rgb2ycbcr ÷ 255);
//   YCbCr full range (kornia rgb_to_ycbcr), exact algebraic inverse;
//   HSV hexcone (scikit-image rgb2hsv / hsv2rgb);
//   grey: ReIQA (MATLAB rgb2gray) and kornia weights.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/macros.h"

namespace pyiqa_fast::color {

// Float32 kernels read the three transcendental curves of the Lab round trip (c^2.4, c^(1/2.4),
// cbrt) from 16,384-interval tables with linear interpolation on their usual domains (error
// ≤ 1.2e-6 absolute, vs 24 ns for glibc's cbrtf and 6–13 ns for powf per call); outside those
// domains, and in double kernels and on the device, the exact functions.
#if !defined(__CUDA_ARCH__)
namespace table {

constexpr int kIntervals = 16384;

struct Curve {
  float lo, scale;  // index = (x − lo) · scale
  float values[kIntervals + 1];
  template <typename F>
  Curve(double lo_, double hi_, F f) : lo(static_cast<float>(lo_)), scale(static_cast<float>(kIntervals / (hi_ - lo_))) {
    for (int i = 0; i <= kIntervals; ++i) values[i] = static_cast<float>(f(lo_ + (hi_ - lo_) * i / kIntervals));
  }
  // Linear interpolation for x in [lo, hi]; the caller checks the domain.
  float operator()(float x) const {
    const float position = (x - lo) * scale;
    int i = static_cast<int>(position);
    i = i < kIntervals ? i : kIntervals - 1;
    const float frac = position - static_cast<float>(i);
    return values[i] + frac * (values[i + 1] - values[i]);
  }
};

inline const Curve& gamma_decode() {  // ((c + 0.055)/1.055)^2.4 for c in [0.04045, 1]
  static const Curve curve(0.04045, 1.0, [](double c) { return std::pow((c + 0.055) / 1.055, 2.4); });
  return curve;
}
inline const Curve& gamma_encode() {  // c^(1/2.4) for c in [0.0031308, 1]
  static const Curve curve(0.0031308, 1.0, [](double c) { return std::pow(c, 1.0 / 2.4); });
  return curve;
}
inline const Curve& cube_root() {  // cbrt(t) for t in [(6/29)³, 1.125]
  static const Curve curve(216.0 / 24389.0, 1.125, [](double t) { return std::cbrt(t); });
  return curve;
}

}  // namespace table
#endif

// sRGB → linear (IEC 61966-2-1).
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T srgb_to_linear(T c) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    if (c > 0.04045f && c <= 1.0f) return table::gamma_decode()(c);
  }
#endif
  return c > T(0.04045) ? std::pow((c + T(0.055)) * T(1.0 / 1.055), T(2.4)) : c * T(1.0 / 12.92);
}

// linear → sRGB.
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T linear_to_srgb(T c) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    if (c > 0.0031308f && c <= 1.0f) return 1.055f * table::gamma_encode()(c) - 0.055f;
  }
#endif
  return c > T(0.0031308) ? T(1.055) * std::pow(c, T(1.0 / 2.4)) - T(0.055) : c * T(12.92);
}

// CIELAB companding f(t) and its inverse (δ = 6/29).
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T lab_f(T t) {
  constexpr double kDelta = 6.0 / 29.0;
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    if (t > T(kDelta * kDelta * kDelta) && t <= 1.125f) return table::cube_root()(t);
  }
#endif
  return t > T(kDelta * kDelta * kDelta) ? std::cbrt(t) : t * T(1.0 / (3.0 * kDelta * kDelta)) + T(4.0 / 29.0);
}

template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T lab_finv(T u) {
  constexpr double kDelta = 6.0 / 29.0;
  return u > T(kDelta) ? u * u * u : T(3.0 * kDelta * kDelta) * (u - T(4.0 / 29.0));
}

constexpr double kWhiteX = 0.95047, kWhiteY = 1.0, kWhiteZ = 1.08883;

// L* only (the unsharp stencils need L of every pixel, a*, b* only where they write).
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T rgb_to_lab_l(T r, T g, T b) {
  const T rl = srgb_to_linear(r), gl = srgb_to_linear(g), bl = srgb_to_linear(b);
  const T y = T(0.212671) * rl + T(0.715160) * gl + T(0.072169) * bl;
  return T(116) * lab_f(y) - T(16);
}

template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void rgb_to_lab(T r, T g, T b, T& L, T& A, T& B) {
  const T rl = srgb_to_linear(r), gl = srgb_to_linear(g), bl = srgb_to_linear(b);
  const T x = (T(0.412453) * rl + T(0.357580) * gl + T(0.180423) * bl) * T(1.0 / kWhiteX);
  const T y = T(0.212671) * rl + T(0.715160) * gl + T(0.072169) * bl;
  const T z = (T(0.019334) * rl + T(0.119193) * gl + T(0.950227) * bl) * T(1.0 / kWhiteZ);
  const T fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
  L = T(116) * fy - T(16);
  A = T(500) * (fx - fy);
  B = T(200) * (fy - fz);
}

// Lab → sRGB, clipped to [0, 1] (z in the f domain clamped at 0 first, as scikit-image).
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void lab_to_rgb(T L, T A, T B, T& r, T& g, T& b) {
  const T fy = (L + T(16)) * T(1.0 / 116);
  const T fx = fy + A * T(1.0 / 500);
  T fz = fy - B * T(1.0 / 200);
  fz = fz < T(0) ? T(0) : fz;
  const T x = lab_finv(fx) * T(kWhiteX), y = lab_finv(fy) * T(kWhiteY), z = lab_finv(fz) * T(kWhiteZ);
  // inv(M), M the XYZ-from-linear-RGB matrix above (numpy.linalg.inv, as scikit-image).
  const T rl = T(3.2404813432005266) * x + T(-1.5371515162713185) * y + T(-0.4985363261688878) * z;
  const T gl = T(-0.9692549499965682) * x + T(1.8759900014898907) * y + T(0.04155592655829284) * z;
  const T bl = T(0.05564663913517716) * x + T(-0.20404133836651123) * y + T(1.0573110696453443) * z;
  const T rs = linear_to_srgb(rl), gs = linear_to_srgb(gl), bs = linear_to_srgb(bl);
  r = rs < T(0) ? T(0) : (rs > T(1) ? T(1) : rs);
  g = gs < T(0) ? T(0) : (gs > T(1) ? T(1) : gs);
  b = bs < T(0) ? T(0) : (bs > T(1) ? T(1) : bs);
}

// BT.601 studio-swing YCbCr on [0, 1]: Y ∈ [16, 235]/255, Cb, Cr ∈ [16, 240]/255.
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void rgb_to_ycbcr_studio(T r, T g, T b, T& y, T& cb, T& cr) {
  y = (T(16) + T(65.481) * r + T(128.553) * g + T(24.966) * b) * T(1.0 / 255);
  cb = (T(128) - T(37.797) * r - T(74.203) * g + T(112.0) * b) * T(1.0 / 255);
  cr = (T(128) + T(112.0) * r - T(93.786) * g - T(18.214) * b) * T(1.0 / 255);
}

template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void ycbcr_studio_to_rgb(T y, T cb, T cr, T& r, T& g, T& b) {
  y -= T(16.0 / 255);
  cb -= T(128.0 / 255);
  cr -= T(128.0 / 255);
  // inv(M / 255) of the forward matrix (numpy.linalg.inv).
  r = T(1.1643835616438356) * y + T(3.011243973294133e-07) * cb + T(1.5960268873357042) * cr;
  g = T(1.1643835616438356) * y + T(-0.3917625399414501) * cb + T(-0.8129682921622053) * cr;
  b = T(1.1643835616438358) * y + T(2.0172326395564593) * cb + T(3.054261745313201e-06) * cr;
}

// Full-range YCbCr (kornia rgb_to_ycbcr) and its exact algebraic inverse.
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void rgb_to_ycbcr_full(T r, T g, T b, T& y, T& cb, T& cr) {
  y = T(0.299) * r + T(0.587) * g + T(0.114) * b;
  cb = T(0.564) * (b - y) + T(0.5);
  cr = T(0.713) * (r - y) + T(0.5);
}

template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void ycbcr_full_to_rgb(T y, T cb, T cr, T& r, T& g, T& b) {
  r = y + (cr - T(0.5)) * T(1.0 / 0.713);
  b = y + (cb - T(0.5)) * T(1.0 / 0.564);
  g = (y - T(0.299) * r - T(0.114) * b) * T(1.0 / 0.587);
}

// HSV (scikit-image): h ∈ [0, 1), s = (max − min)/max (0 for black), v = max; on ties the
// blue, then green branch wins (the hue is the same either way).
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void rgb_to_hsv(T r, T g, T b, T& h, T& s, T& v) {
  const T mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
  const T mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
  const T delta = mx - mn;
  v = mx;
  s = mx > T(0) ? delta / mx : T(0);
  if (delta > T(0)) {
    T hh;
    if (b == mx) {
      hh = T(4) + (r - g) / delta;
    } else if (g == mx) {
      hh = T(2) + (b - r) / delta;
    } else {
      hh = (g - b) / delta;
    }
    hh = hh / T(6);
    h = hh - std::floor(hh);
  } else {
    h = T(0);
  }
}

template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE void hsv_to_rgb(T h, T s, T v, T& r, T& g, T& b) {
  const T h6 = h * T(6);
  const T fl = std::floor(h6);
  const T f = h6 - fl;
  int hi = static_cast<int>(fl) % 6;
  if (hi < 0) hi += 6;
  const T p = v * (T(1) - s), q = v * (T(1) - f * s), t = v * (T(1) - (T(1) - f) * s);
  switch (hi) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
  }
}

// Grey levels: ReIQA's colour-shift mask (MATLAB rgb2gray weights) and kornia's.
template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T grey_reiqa(T r, T g, T b) {
  return T(0.2989) * r + T(0.5870) * g + T(0.1140) * b;
}

template <typename T>
PYIQA_FAST_HOST_DEVICE PYIQA_FAST_INLINE T grey_kornia(T r, T g, T b) {
  return T(0.299) * r + T(0.587) * g + T(0.114) * b;
}

}  // namespace pyiqa_fast::color
