// distort, CPU: the elementwise and elementwise + RNG operators (DISTORTIONS.md §6 first two
// classes), plus the two Lab stencils (unsharp_mask, color_diffuse) that share the colour code.
// Each pointwise output pixel depends on the same input pixel only (and on its Philox draws).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/color.h"
#include "common/philox.h"
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {
namespace {

template <typename T>
inline T clip01(T v) {
  return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
}

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

// Applies f(y, x, r, g, b) (RGB in, RGB out by reference) to every pixel of out_region.
template <typename T, typename F>
void for_each_pixel(const OpArgs<T>& a, F f) {
  const Rect& r = a.out_region;
  const int64_t plane = a.h * a.w;
  parallel_range(a, r.height(), [&](int64_t begin, int64_t end) {
    for (int64_t y = r.y0 + begin; y < r.y0 + end; ++y) {
      const T* in = a.src + y * a.w;
      T* out = a.dst + y * a.w;
      for (int64_t x = r.x0; x < r.x1; ++x) {
        T cr = in[x], cg = in[plane + x], cb = in[2 * plane + x];
        f(y, x, cr, cg, cb);
        out[x] = cr;
        out[plane + x] = cg;
        out[2 * plane + x] = cb;
      }
    }
  });
}

// for_each_pixel with f(y, x, r, g, b, n) also given the pixel's three normals n[0..2] (the first
// pair and the cos branch of the second pair of draw 0): a row's normals are computed first, for
// float images by a Box–Muller loop the compiler vectorises.
template <typename T, typename F>
void for_each_pixel_with_normals(const OpArgs<T>& a, F f) {
  const Rect& r = a.out_region;
  const int64_t plane = a.h * a.w, n = r.width();
  parallel_range(a, r.height(), [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> words;
    std::vector<float> scratch;
    std::vector<double> normals(static_cast<size_t>(3 * n));
    for (int64_t y = r.y0 + begin; y < r.y0 + end; ++y) {
      philox::row_normals3<T>(a.seed, a.rng_x0 + r.x0, a.rng_y0 + y, 0, n, words, scratch, normals.data());
      const T* in = a.src + y * a.w;
      T* out = a.dst + y * a.w;
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const int64_t i = x - r.x0;
        const double pixel_n[3] = {normals[i], normals[n + i], normals[2 * n + i]};
        T cr = in[x], cg = in[plane + x], cb = in[2 * plane + x];
        f(y, x, cr, cg, cb, pixel_n);
        out[x] = cr;
        out[plane + x] = cg;
        out[2 * plane + x] = cb;
      }
    }
  });
}

inline philox::Uint4 pixel_words(uint64_t seed, int64_t x_img, int64_t y_img) {
  return philox::draw(seed, static_cast<uint32_t>(x_img), static_cast<uint32_t>(y_img), 0);
}


// trunc(255·v)/255 (ARNIQA's quantisation of its Lab operators, §2.1).
template <typename T>
inline T trunc255(T v) {
  return std::trunc(v * T(255) + T(kTrunc255Guard)) / T(255);  // guard: distort_domains.h
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
  for_each_pixel_with_normals(a, [&](int64_t, int64_t, T& r, T& g, T& b, const double* n) {
    r = static_cast<T>(r + sigma * n[0]);
    g = static_cast<T>(g + sigma * n[1]);
    b = static_cast<T>(b + sigma * n[2]);
  });
  return Status::kOk;
}

// §4.9: f(x) = 0.5 + (1 − β/4)(x − 0.5) + β(x − 0.5)³, β = −(0.05 + 0.25p)/0.042.
template <typename T>
Status contrast(const OpArgs<T>& a) {
  const double beta = -(0.05 + 0.25 * a.value) / 0.042;
  const T c1 = static_cast<T>(1.0 - beta / 4.0), c3 = static_cast<T>(beta);
  for_each_value(a, [=](T v) {
    const T d = v - T(0.5);
    return T(0.5) + d * (c1 + c3 * d * d);
  });
  return Status::kOk;
}

// g(x) = clip(x + 2A·x(1 − x)) (brighten, A > 0; darken uses −A).
template <typename T>
inline T tone(T v, T two_a) {
  return clip01(v + two_a * v * (T(1) - v));
}

// §4.20: (2·g(RGB) + Lab-with-L/100-through-g)/3, all presets.
template <typename T>
Status brighten(const OpArgs<T>& a) {
  const T two_a = static_cast<T>(2.0 * a.value);
  for_each_pixel(a, [&](int64_t, int64_t, T& r, T& g, T& b) {
    T L, A, B, r2, g2, b2;
    color::rgb_to_lab(r, g, b, L, A, B);
    L = T(100) * tone(L * T(0.01), two_a);
    color::lab_to_rgb(L, A, B, r2, g2, b2);
    r = (T(2) * tone(r, two_a) + r2) / T(3);
    g = (T(2) * tone(g, two_a) + g2) / T(3);
    b = (T(2) * tone(b, two_a) + b2) / T(3);
  });
  return Status::kOk;
}

// §4.21: g(x) = clip(x − 2A·x(1 − x)) per RGB channel, all presets.
template <typename T>
Status darken(const OpArgs<T>& a) {
  const T two_a = static_cast<T>(-2.0 * a.value);
  for_each_value(a, [=](T v) { return tone(v, two_a); });
  return Status::kOk;
}

// §4.24: a*, b* × S in Lab; arniqa quantises the result to trunc(255·y)/255 after a float64
// round trip whatever T, so that the truncation falls where the reference's does (a float32 round
// trip of white, or of k/255 at S = 1, lands an ulp below and truncates a whole step lower).
template <typename T>
Status saturate(const OpArgs<T>& a) {
  if (a.preset == Preset::kArniqa) {
    const double s = a.value;
    for_each_pixel(a, [&](int64_t, int64_t, T& r, T& g, T& b) {
      double L, A, B, rd, gd, bd;
      color::rgb_to_lab<double>(r, g, b, L, A, B);
      color::lab_to_rgb<double>(L, A * s, B * s, rd, gd, bd);
      r = static_cast<T>(trunc255(rd));
      g = static_cast<T>(trunc255(gd));
      b = static_cast<T>(trunc255(bd));
    });
    return Status::kOk;
  }
  const T s = static_cast<T>(a.value);
  for_each_pixel(a, [&](int64_t, int64_t, T& r, T& g, T& b) {
    T L, A, B;
    color::rgb_to_lab(r, g, b, L, A, B);
    color::lab_to_rgb(L, A * s, B * s, r, g, b);
  });
  return Status::kOk;
}

// §4.25 saturate_hsv: S × f in HSV, all presets.
template <typename T>
Status saturate_hsv(const OpArgs<T>& a) {
  const T f = static_cast<T>(a.value);
  for_each_pixel(a, [&](int64_t, int64_t, T& r, T& g, T& b) {
    T h, s, v;
    color::rgb_to_hsv(r, g, b, h, s, v);
    color::hsv_to_rgb(h, s * f, v, r, g, b);
  });
  return Status::kOk;
}

// §4.25 nonlinear_contrast (arniqa's only table): y = (0.5 − v) + 2v·x.
template <typename T>
Status nonlinear_contrast(const OpArgs<T>& a) {
  const T slope = static_cast<T>(2.0 * a.value), offset = static_cast<T>(0.5 - a.value);
  for_each_value(a, [=](T v) { return offset + slope * clip01(v); });
  return Status::kOk;
}

// §4.16: noise N(0, v) on Y, Cb, Cr (normals n0, n1, n2). reiqa: studio range, no clip; kadis:
// studio range, noisy YCbCr clipped to [0, 1]; arniqa: full range (kornia).
template <typename T>
Status white_noise_ycbcr(const OpArgs<T>& a) {
  const double sigma = std::sqrt(a.value);
  const Preset preset = a.preset;
  for_each_pixel_with_normals(a, [&](int64_t, int64_t, T& r, T& g, T& b, const double* n) {
    T yy, cb, cr;
    if (preset == Preset::kArniqa) {
      color::rgb_to_ycbcr_full(r, g, b, yy, cb, cr);
    } else {
      color::rgb_to_ycbcr_studio(r, g, b, yy, cb, cr);
    }
    yy = static_cast<T>(yy + sigma * n[0]);
    cb = static_cast<T>(cb + sigma * n[1]);
    cr = static_cast<T>(cr + sigma * n[2]);
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
  });
  return Status::kOk;
}

// §4.17: reiqa: one uniform per pixel (r0), u < d/2 → black, u > 1 − d/2 → white. kadis and
// arniqa [PROPOSAL for arniqa: per-element Bernoulli instead of ⌊d·C·H·W⌋ coordinates drawn with
// replacement]: the same rule per element with uniforms r0, r1, r2 for R, G, B.
template <typename T>
Status impulse_noise(const OpArgs<T>& a) {
  const double half = 0.5 * a.value;
  const bool per_pixel = a.preset == Preset::kReiqa;
  for_each_pixel(a, [&](int64_t y, int64_t x, T& r, T& g, T& b) {
    const philox::Uint4 w = pixel_words(a.seed, a.rng_x0 + x, a.rng_y0 + y);
    auto apply = [half](double u, T& v) {
      if (u < half) {
        v = T(0);
      } else if (u > 1.0 - half) {
        v = T(1);
      }
    };
    if (per_pixel) {
      const double u = philox::uniform<double>(w.x);
      apply(u, r);
      apply(u, g);
      apply(u, b);
    } else {
      apply(philox::uniform<double>(w.x), r);
      apply(philox::uniform<double>(w.y), g);
      apply(philox::uniform<double>(w.z), b);
    }
  });
  return Status::kOk;
}

// §4.18: y = x + x·n per element; reiqa/arniqa n = σ·normal (n0..n2), kadis n = (2u − 1)·√(3v)
// with uniforms r0..r2 (MATLAB speckle).
template <typename T>
Status multiplicative_noise(const OpArgs<T>& a) {
  const bool uniform = a.preset == Preset::kKadis;
  const double scale = uniform ? std::sqrt(3.0 * a.value) : std::sqrt(a.value);
  auto apply = [scale](T& r, T& g, T& b, const double* n) {
    r = static_cast<T>(r + r * (scale * n[0]));
    g = static_cast<T>(g + g * (scale * n[1]));
    b = static_cast<T>(b + b * (scale * n[2]));
  };
  if (uniform) {
    for_each_pixel(a, [&](int64_t y, int64_t x, T& r, T& g, T& b) {
      const philox::Uint4 w = pixel_words(a.seed, a.rng_x0 + x, a.rng_y0 + y);
      const double n[3] = {2.0 * philox::uniform<double>(w.x) - 1.0, 2.0 * philox::uniform<double>(w.y) - 1.0,
                           2.0 * philox::uniform<double>(w.z) - 1.0};
      apply(r, g, b, n);
    });
  } else {
    for_each_pixel_with_normals(a, [&](int64_t, int64_t, T& r, T& g, T& b, const double* n) { apply(r, g, b, n); });
  }
  return Status::kOk;
}

// §4.25 quantization (arniqa): bin index = #{e ∈ [0, ⌊255i/n⌋ (i = 1..n−1), 256] : e < 255x} per
// element (torch.bucketize), then min-max stretch of the indices over the whole image given
// (all channels; unchanged if constant). 255·x is formed in T, as in the reference.
template <typename T>
Status quantization(const OpArgs<T>& a) {
  if (a.preset != Preset::kArniqa) return Status::kUnsupportedDType;
  const int n = static_cast<int>(a.value);
  if (n < 1) return Status::kInvalidArgument;
  int edges[64];
  if (n + 1 > 64) return Status::kInvalidArgument;
  edges[0] = 0;
  for (int i = 1; i < n; ++i) edges[i] = (255 * i) / n;
  edges[n] = 256;
  auto bin = [&](T v) {
    const T s = v * T(255);
    int k = 0;
    while (k <= n && static_cast<T>(edges[k]) < s) ++k;
    return k;
  };
  const int64_t total = 3 * a.h * a.w;
  int lo = n + 1, hi = -1;
  for (int64_t i = 0; i < total; ++i) {
    const int k = bin(a.src[i]);
    lo = std::min(lo, k);
    hi = std::max(hi, k);
  }
  const bool stretch = lo < hi;
  const T span = static_cast<T>(hi - lo);
  for_each_value(a, [&](T v) {
    const int k = bin(v);
    return stretch ? static_cast<T>(k - lo) / span : static_cast<T>(k);
  });
  return Status::kOk;
}

// ---- Lab stencils --------------------------------------------------------------------------

// Normalised sampled Gaussian, half-width r: w[k] = exp(−k²/2σ²) / Σ, k = 0..r (symmetric).
inline std::vector<double> gaussian_half(double sigma, int64_t r) {
  std::vector<double> w(static_cast<size_t>(r + 1));
  double sum = 0;
  for (int64_t k = 0; k <= r; ++k) {
    w[k] = std::exp(-0.5 * static_cast<double>(k * k) / (sigma * sigma));
    sum += k == 0 ? w[k] : 2 * w[k];
  }
  for (double& v : w) v /= sum;
  return w;
}

inline int64_t clampi(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Separable symmetric Gaussian with replicate borders on `planes` planes (h, w) of `in`, written
// to `out` for rows [y0, y1) and columns [x0, x1) (other entries untouched). Horizontal pass over
// the rows the vertical pass needs (into `tmp`, full width), then a transpose-free vertical pass
// that accumulates whole rows into a row buffer.
template <typename T>
void gaussian_separable(const OpArgs<T>& a, const T* in, T* out, int planes, const std::vector<double>& wd,
                        int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  const int64_t h = a.h, w = a.w, r = static_cast<int64_t>(wd.size()) - 1;
  std::vector<T> wt(wd.begin(), wd.end());
  const int64_t ry0 = std::max<int64_t>(0, y0 - r), ry1 = std::min<int64_t>(h, y1 + r);
  std::vector<T> tmp(static_cast<size_t>(planes * h * w));
  // Horizontal: rows [ry0, ry1), columns [x0, x1), reading the replicate-padded row.
  parallel_range(a, planes * (ry1 - ry0), [&](int64_t begin, int64_t end) {
    std::vector<T> pad(static_cast<size_t>(x1 - x0 + 2 * r));
    for (int64_t py = begin; py < end; ++py) {
      const int64_t p = py / (ry1 - ry0), y = ry0 + py % (ry1 - ry0);
      const T* row = in + (p * h + y) * w;
      for (int64_t i = 0; i < x1 - x0 + 2 * r; ++i) pad[i] = row[clampi(x0 - r + i, 0, w - 1)];
      T* o = tmp.data() + (p * h + y) * w + x0;
      const T* c = pad.data() + r;
      const int64_t n = x1 - x0;
      const T w0 = wt[0];
      for (int64_t x = 0; x < n; ++x) o[x] = w0 * c[x];
      for (int64_t k = 1; k <= r; ++k) {
        const T wk = wt[k];
        const T* lft = c - k;
        const T* rgt = c + k;
        for (int64_t x = 0; x < n; ++x) o[x] += wk * (lft[x] + rgt[x]);
      }
    }
  });
  // Vertical: output rows [y0, y1), accumulating rows of tmp.
  parallel_range(a, planes * (y1 - y0), [&](int64_t begin, int64_t end) {
    for (int64_t py = begin; py < end; ++py) {
      const int64_t p = py / (y1 - y0), y = y0 + py % (y1 - y0);
      const T* base = tmp.data() + p * h * w + x0;
      T* o = out + (p * h + y) * w + x0;
      const int64_t n = x1 - x0;
      const T* c = base + y * w;
      const T w0 = wt[0];
      for (int64_t x = 0; x < n; ++x) o[x] = w0 * c[x];
      for (int64_t k = 1; k <= r; ++k) {
        const T wk = wt[k];
        const T* up = base + clampi(y - k, 0, h - 1) * w;
        const T* dn = base + clampi(y + k, 0, h - 1) * w;
        for (int64_t x = 0; x < n; ++x) o[x] += wk * (up[x] + dn[x]);
      }
    }
  });
}

// §4.22 color_diffuse: a*, b* blurred (σ = 1.5a + 2) and multiplied by a, L kept. reiqa:
// scikit-image window (radius ⌊4σ + 0.5⌋); kadis/arniqa: MATLAB window (radius ⌈2σ⌉); arniqa
// quantises to trunc(255·y)/255.
template <typename T>
Status color_diffuse(const OpArgs<T>& a) {
  const double amount = a.value, sigma = 1.5 * amount + 2.0;
  const int64_t radius = a.preset == Preset::kReiqa ? static_cast<int64_t>(4.0 * sigma + 0.5)
                                                    : static_cast<int64_t>(std::ceil(2.0 * sigma));
  const std::vector<double> wd = gaussian_half(sigma, radius);
  const int64_t h = a.h, w = a.w, plane = h * w;
  const Rect& o = a.out_region;
  // Lab a*, b* of the rows and columns the blur reads.
  const int64_t ry0 = std::max<int64_t>(0, o.y0 - radius), ry1 = std::min<int64_t>(h, o.y1 + radius);
  std::vector<T> ab(static_cast<size_t>(2 * plane)), blurred(static_cast<size_t>(2 * plane));
  parallel_range(a, ry1 - ry0, [&](int64_t begin, int64_t end) {
    for (int64_t y = ry0 + begin; y < ry0 + end; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const int64_t i = y * w + x;
        T L, A, B;
        color::rgb_to_lab(a.src[i], a.src[plane + i], a.src[2 * plane + i], L, A, B);
        ab[i] = A;
        ab[plane + i] = B;
      }
    }
  });
  gaussian_separable(a, ab.data(), blurred.data(), 2, wd, o.y0, o.y1, o.x0, o.x1);
  const T gain = static_cast<T>(amount);
  const bool quantise = a.preset == Preset::kArniqa;
  for_each_pixel(a, [&](int64_t y, int64_t x, T& r, T& g, T& b) {
    const int64_t i = y * w + x;
    const T L = color::rgb_to_lab_l(r, g, b);
    color::lab_to_rgb(L, blurred[i] * gain, blurred[plane + i] * gain, r, g, b);
    if (quantise) {
      r = trunc255(r);
      g = trunc255(g);
      b = trunc255(b);
    }
  });
  return Status::kOk;
}


// §4.10 unsharp_mask. reiqa: L' = clip(L − a·(∂y∂y L + ∂x∂x L), 0, 100) with numpy.gradient
// passes; compat (R1): Lab of 255·x (ReIQA's 0..255 floats into rgb2lab). kadis, and arniqa with
// bug A4 fixed (σ = 3): L' = clip(L + a·(L − G₃ * L), 0, 100), 13×13 Gaussian, replicate.
template <typename T>
Status unsharp_mask(const OpArgs<T>& a) {
  const int64_t h = a.h, w = a.w, plane = h * w;
  const Rect& o = a.out_region;
  const T amount = static_cast<T>(a.value);
  const bool laplacian = a.preset == Preset::kReiqa;
  const T scale = laplacian && a.compat ? T(255) : T(1);
  const int64_t halo = laplacian ? 2 : 6;
  const int64_t ry0 = std::max<int64_t>(0, o.y0 - halo), ry1 = std::min<int64_t>(h, o.y1 + halo);
  const int64_t rx0 = std::max<int64_t>(0, o.x0 - halo), rx1 = std::min<int64_t>(w, o.x1 + halo);
  std::vector<T> L(static_cast<size_t>(plane)), Lnew(static_cast<size_t>(plane));
  parallel_range(a, ry1 - ry0, [&](int64_t begin, int64_t end) {
    for (int64_t y = ry0 + begin; y < ry0 + end; ++y) {
      for (int64_t x = rx0; x < rx1; ++x) {
        const int64_t i = y * w + x;
        L[i] = color::rgb_to_lab_l(scale * a.src[i], scale * a.src[plane + i], scale * a.src[2 * plane + i]);
      }
    }
  });
  if (laplacian) {
    // First derivatives on the rows / columns the second pass reads (halo 1 around out_region).
    std::vector<T> gy(static_cast<size_t>(plane)), gx(static_cast<size_t>(plane));
    const int64_t gy0 = std::max<int64_t>(0, o.y0 - 1), gy1 = std::min<int64_t>(h, o.y1 + 1);
    const int64_t gx0 = std::max<int64_t>(0, o.x0 - 1), gx1 = std::min<int64_t>(w, o.x1 + 1);
    for (int64_t y = gy0; y < gy1; ++y) {
      for (int64_t x = o.x0; x < o.x1; ++x) gy[y * w + x] = np_gradient(L.data() + x, y, h, w);
    }
    for (int64_t y = o.y0; y < o.y1; ++y) {
      for (int64_t x = gx0; x < gx1; ++x) gx[y * w + x] = np_gradient(L.data() + y * w, x, w, int64_t{1});
    }
    for (int64_t y = o.y0; y < o.y1; ++y) {
      for (int64_t x = o.x0; x < o.x1; ++x) {
        const T ggy = np_gradient(gy.data() + x, y, h, w);
        const T ggx = np_gradient(gx.data() + y * w, x, w, int64_t{1});
        const T v = L[y * w + x] - amount * (ggx + ggy);
        Lnew[y * w + x] = v < T(0) ? T(0) : (v > T(100) ? T(100) : v);
      }
    }
  } else {
    const std::vector<double> wd = gaussian_half(3.0, 6);
    gaussian_separable(a, L.data(), Lnew.data(), 1, wd, o.y0, o.y1, o.x0, o.x1);
    for (int64_t y = o.y0; y < o.y1; ++y) {
      for (int64_t x = o.x0; x < o.x1; ++x) {
        const int64_t i = y * w + x;
        const T v = L[i] + amount * (L[i] - Lnew[i]);
        Lnew[i] = v < T(0) ? T(0) : (v > T(100) ? T(100) : v);
      }
    }
  }
  for_each_pixel(a, [&](int64_t y, int64_t x, T& r, T& g, T& b) {
    T Lo, A, B;
    color::rgb_to_lab(scale * r, scale * g, scale * b, Lo, A, B);
    color::lab_to_rgb(Lnew[y * w + x], A, B, r, g, b);
  });
  return Status::kOk;
}

}  // namespace

template <typename T>
OpFn<T> pointwise_operator(int32_t type) {
  switch (type) {
    case kMeanShift: return mean_shift<T>;
    case kContrast: return contrast<T>;
    case kUnsharpMask: return unsharp_mask<T>;
    case kWhiteNoise: return white_noise<T>;
    case kWhiteNoiseYcbcr: return white_noise_ycbcr<T>;
    case kImpulseNoise: return impulse_noise<T>;
    case kMultiplicativeNoise: return multiplicative_noise<T>;
    case kBrighten: return brighten<T>;
    case kDarken: return darken<T>;
    case kColorDiffuse: return color_diffuse<T>;
    case kSaturate: return saturate<T>;
    case kSaturateHsv: return saturate_hsv<T>;
    case kQuantization: return quantization<T>;
    case kNonlinearContrast: return nonlinear_contrast<T>;
    default: return nullptr;
  }
}

template OpFn<float> pointwise_operator<float>(int32_t);
template OpFn<double> pointwise_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
