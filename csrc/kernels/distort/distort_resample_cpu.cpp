// distort, CPU: the resample operators (DISTORTIONS.md §6): Pillow convolution resizes, nearest
// index maps (resize_nearest, pixelate), jitter (5 random warps), and the small gather/fill
// operators colour block, non-eccentricity and colour shift (§4.12, §4.13, §4.23). The reference
// is pyiqa_fast/ops/distort/impl/reference/resample.py.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/philox.h"
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {
namespace {

// ---------------------------------------------------------------------------------------------
// Pillow convolution resampling (§4.1–4.3, Resample.c precompute_coeffs), float.

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) { return (-3.0 <= x && x < 3.0) ? sinc_filter(x) * sinc_filter(x / 3) : 0.0; }

// Normalised weights of one axis n_in → n_out: output i uses inputs start[i] .. start[i]+len[i]-1
// with weights w[i*ksize ..].
template <typename T>
struct AxisWeights {
  std::vector<int64_t> start, len;
  std::vector<T> w;
  int64_t ksize = 0;

  AxisWeights(int64_t n_in, int64_t n_out, double (*filter)(double), double base) {
    const double scale = static_cast<double>(n_in) / static_cast<double>(n_out);
    const double fs = std::max(scale, 1.0);
    const double support = base * fs;
    const double ss = 1.0 / fs;
    ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
    start.resize(n_out);
    len.resize(n_out);
    w.assign(n_out * ksize, T(0));
    std::vector<double> k(ksize);
    for (int64_t i = 0; i < n_out; ++i) {
      const double centre = (static_cast<double>(i) + 0.5) * scale;
      const int64_t lo = std::max<int64_t>(static_cast<int64_t>(centre - support + 0.5), 0);
      const int64_t hi = std::min<int64_t>(static_cast<int64_t>(centre + support + 0.5), n_in);
      double total = 0.0;
      for (int64_t j = lo; j < hi; ++j) {
        const double v = filter((static_cast<double>(j) - centre + 0.5) * ss);
        k[j - lo] = v;
        total += v;
      }
      for (int64_t j = lo; j < hi; ++j) w[i * ksize + (j - lo)] = static_cast<T>(total != 0.0 ? k[j - lo] / total : k[j - lo]);
      start[i] = lo;
      len[i] = hi - lo;
    }
  }
};

// (3, h, w_in) → (3, h, w_out) along rows.
template <typename T>
void resample_horizontal(const OpArgs<T>& a, const T* in, T* out, int64_t h, int64_t w_in, int64_t w_out,
                         const AxisWeights<T>& t) {
  parallel_range(a, 3 * h, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* row = in + r * w_in;
      T* o = out + r * w_out;
      for (int64_t i = 0; i < w_out; ++i) {
        const T* k = t.w.data() + i * t.ksize;
        const T* p = row + t.start[i];
        T s = 0;
        for (int64_t j = 0; j < t.len[i]; ++j) s += p[j] * k[j];
        o[i] = s;
      }
    }
  });
}

// (3, h_in, w) → (3, h_out, w) along columns (row-vector accumulation: vectorises over x).
template <typename T>
void resample_vertical(const OpArgs<T>& a, const T* in, T* out, int64_t h_in, int64_t h_out, int64_t w,
                       const AxisWeights<T>& t) {
  parallel_range(a, 3 * h_out, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r / h_out, i = r % h_out;
      T* o = out + r * w;
      std::fill(o, o + w, T(0));
      const T* k = t.w.data() + i * t.ksize;
      for (int64_t j = 0; j < t.len[i]; ++j) {
        const T* src = in + (c * h_in + t.start[i] + j) * w;
        const T kj = k[j];
        for (int64_t x = 0; x < w; ++x) o[x] += kj * src[x];
      }
    }
  });
}

// Pillow resize (3, h_in, w_in) → (3, h_out, w_out) into out; horizontal pass first, a pass with
// an unchanged size is skipped (identity). scratch holds 3·h_in·w_out.
template <typename T>
void pillow_resize(const OpArgs<T>& a, const T* in, int64_t h_in, int64_t w_in, T* out, int64_t h_out, int64_t w_out,
                   std::vector<T>& scratch, double (*filter)(double), double base) {
  const T* cur = in;
  if (w_in != w_out) {
    AxisWeights<T> tw(w_in, w_out, filter, base);
    T* dst = h_in != h_out ? scratch.data() : out;
    resample_horizontal(a, cur, dst, h_in, w_in, w_out, tw);
    cur = dst;
  }
  if (h_in != h_out) {
    AxisWeights<T> th(h_in, h_out, filter, base);
    resample_vertical(a, cur, out, h_in, h_out, w_out, th);
  } else if (cur != out) {
    std::memcpy(out, cur, sizeof(T) * 3 * h_in * w_in);
  }
}

// compat: Pillow's 8-bit path (Resample.c normalize_coeffs_8bpc, ImagingResample*_8bpc) on
// integer images: weights round(w·2²²) (half away from zero), each pass + 2²¹ >> 22, clip 0..255.
constexpr int kPrecisionBits = 22;

std::vector<int64_t> fixed_weights(const AxisWeights<double>& t) {
  std::vector<int64_t> k(t.w.size());
  for (size_t i = 0; i < k.size(); ++i) {
    const double v = t.w[i] * static_cast<double>(int64_t{1} << kPrecisionBits);
    k[i] = static_cast<int64_t>(v < 0 ? std::trunc(v - 0.5) : std::trunc(v + 0.5));
  }
  return k;
}

inline int64_t fixed_round(int64_t acc) {
  const int64_t v = (acc + (int64_t{1} << (kPrecisionBits - 1))) >> kPrecisionBits;
  return v < 0 ? 0 : (v > 255 ? 255 : v);
}

// (3, h_in, w_in) → (3, h_out, w_out), int64 values 0..255.
void pillow_resize_uint8(const int64_t* in, int64_t h_in, int64_t w_in, int64_t* out, int64_t h_out, int64_t w_out,
                         double (*filter)(double), double base) {
  std::vector<int64_t> mid;
  const int64_t* cur = in;
  if (w_in != w_out) {
    AxisWeights<double> tw(w_in, w_out, filter, base);
    const std::vector<int64_t> k = fixed_weights(tw);
    mid.resize(3 * h_in * w_out);
    for (int64_t r = 0; r < 3 * h_in; ++r)
      for (int64_t i = 0; i < w_out; ++i) {
        int64_t acc = 0;
        for (int64_t j = 0; j < tw.len[i]; ++j) acc += cur[r * w_in + tw.start[i] + j] * k[i * tw.ksize + j];
        mid[r * w_out + i] = fixed_round(acc);
      }
    cur = mid.data();
  }
  if (h_in != h_out) {
    AxisWeights<double> th(h_in, h_out, filter, base);
    const std::vector<int64_t> k = fixed_weights(th);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < h_out; ++i)
        for (int64_t x = 0; x < w_out; ++x) {
          int64_t acc = 0;
          for (int64_t j = 0; j < th.len[i]; ++j) acc += cur[(c * h_in + th.start[i] + j) * w_out + x] * k[i * th.ksize + j];
          out[(c * h_out + i) * w_out + x] = fixed_round(acc);
        }
  } else {
    std::copy(cur, cur + 3 * h_in * w_out, out);
  }
}

template <typename T>
Status down_up(const OpArgs<T>& a, double (*filter)(double), double base) {
  const double k = a.value;
  const int64_t hs = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(a.h) / k)));
  const int64_t ws = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(a.w) / k)));
  if (a.compat) {
    const int64_t n = 3 * a.h * a.w;
    std::vector<int64_t> q(n), small(3 * hs * ws), back(n);
    for (int64_t i = 0; i < n; ++i) {
      const double v = std::floor(static_cast<double>(a.src[i]) * 255 + 0.5);
      q[i] = static_cast<int64_t>(std::min(std::max(v, 0.0), 255.0));
    }
    pillow_resize_uint8(q.data(), a.h, a.w, small.data(), hs, ws, filter, base);
    pillow_resize_uint8(small.data(), hs, ws, back.data(), a.h, a.w, filter, base);
    for (int64_t i = 0; i < n; ++i) a.dst[i] = static_cast<T>(static_cast<double>(back[i]) / 255);
    return Status::kOk;
  }
  std::vector<T> small(3 * hs * ws), scratch(3 * std::max(a.h * ws, hs * a.w));
  pillow_resize(a, a.src, a.h, a.w, small.data(), hs, ws, scratch, filter, base);
  pillow_resize(a, small.data(), hs, ws, a.dst, a.h, a.w, scratch, filter, base);
  return Status::kOk;
}

template <typename T> Status resize_bicubic(const OpArgs<T>& a) { return down_up(a, bicubic_filter, 2.0); }
template <typename T> Status resize_bilinear(const OpArgs<T>& a) { return down_up(a, bilinear_filter, 1.0); }
template <typename T> Status resize_lanczos(const OpArgs<T>& a) { return down_up(a, lanczos_filter, 3.0); }

// ---------------------------------------------------------------------------------------------
// Nearest-neighbour maps (§4.4, §4.25).

// Pillow NEAREST (ImagingScaleAffine): position accumulated in double.
std::vector<int64_t> pillow_nearest_map(int64_t n_in, int64_t n_out) {
  const double scale = static_cast<double>(n_in) / static_cast<double>(n_out);
  double xo = 0.0 + scale * 0.5;
  std::vector<int64_t> m(n_out);
  for (int64_t i = 0; i < n_out; ++i) {
    m[i] = std::min<int64_t>(static_cast<int64_t>(xo), n_in - 1);
    xo += scale;
  }
  return m;
}

// MATLAB imresize 'nearest' contributions with the given scale, mirrored out-of-range taps
// [PROPOSAL].
std::vector<int64_t> matlab_nearest_map(int64_t n_in, int64_t n_out, double scale) {
  std::vector<int64_t> m(n_out);
  for (int64_t x = 1; x <= n_out; ++x) {
    const double u = static_cast<double>(x) / scale + 0.5 * (1 - 1 / scale);
    const int64_t left = static_cast<int64_t>(std::floor(u - 0.5));
    int64_t j = left;
    for (int64_t c = left; c < left + 3; ++c) {
      const double d = u - static_cast<double>(c);
      if (-0.5 <= d && d < 0.5) {
        j = c;
        break;
      }
    }
    int64_t r = (j - 1) % (2 * n_in);
    if (r < 0) r += 2 * n_in;
    m[x - 1] = r < n_in ? r : 2 * n_in - 1 - r;
  }
  return m;
}

// PyTorch legacy 'nearest': min(⌊float(i)·(float(n_in)/n_out)⌋, n_in − 1).
std::vector<int64_t> torch_nearest_map(int64_t n_in, int64_t n_out) {
  std::vector<int64_t> m(n_out);
  const float scale = static_cast<float>(n_in) / static_cast<float>(n_out);
  for (int64_t i = 0; i < n_out; ++i) {
    if (n_out == n_in) m[i] = i;
    else if (n_out == 2 * n_in) m[i] = i >> 1;
    else m[i] = std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<float>(i) * scale)), n_in - 1);
  }
  return m;
}

std::vector<int64_t> compose(const std::vector<int64_t>& down, const std::vector<int64_t>& up) {
  std::vector<int64_t> m(up.size());
  for (size_t i = 0; i < up.size(); ++i) m[i] = down[up[i]];
  return m;
}

template <typename T>
void gather(const OpArgs<T>& a, const std::vector<int64_t>& rows, const std::vector<int64_t>& cols) {
  const Rect& r = a.out_region;
  parallel_range(a, 3 * r.height(), [&](int64_t begin, int64_t end) {
    for (int64_t cy = begin; cy < end; ++cy) {
      const int64_t c = cy / r.height(), y = r.y0 + cy % r.height();
      const T* in = a.src + (c * a.h + rows[y]) * a.w;
      T* out = a.dst + (c * a.h + y) * a.w;
      for (int64_t x = r.x0; x < r.x1; ++x) out[x] = in[cols[x]];
    }
  });
}

template <typename T>
Status resize_nearest(const OpArgs<T>& a) {
  const int64_t hs = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(a.h) / a.value)));
  const int64_t ws = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(a.w) / a.value)));
  gather(a, compose(pillow_nearest_map(a.h, hs), pillow_nearest_map(hs, a.h)),
         compose(pillow_nearest_map(a.w, ws), pillow_nearest_map(ws, a.w)));
  return Status::kOk;
}

template <typename T>
Status pixelate(const OpArgs<T>& a) {
  const double z = 0.95 - std::pow(a.value, 0.6);
  const double h = static_cast<double>(a.h), w = static_cast<double>(a.w);
  if (a.preset == Preset::kKadis) {
    const int64_t hs = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(z * h)));
    const int64_t ws = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(z * w)));
    gather(a, compose(matlab_nearest_map(a.h, hs, z), matlab_nearest_map(hs, a.h, h / static_cast<double>(hs))),
           compose(matlab_nearest_map(a.w, ws, z), matlab_nearest_map(ws, a.w, w / static_cast<double>(ws))));
    return Status::kOk;
  }
  const int64_t hs = std::max<int64_t>(1, static_cast<int64_t>(z * h));
  const int64_t ws = std::max<int64_t>(1, static_cast<int64_t>(z * w));
  auto map = a.preset == Preset::kArniqa ? torch_nearest_map : pillow_nearest_map;
  gather(a, compose(map(a.h, hs), map(hs, a.h)), compose(map(a.w, ws), map(ws, a.w)));
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Jitter (§4.11).

inline int64_t reflect_index(int64_t j, int64_t n) {
  if (j >= 0 && j < n) return j;
  const int64_t p = 2 * n;
  j %= p;
  if (j < 0) j += p;
  return j < n ? j : p - 1 - j;
}

inline int64_t clamp_index(int64_t j, int64_t n) { return j < 0 ? 0 : (j >= n ? n - 1 : j); }

constexpr double kPole = -0.2679491924311227;  // √3 − 2

// scipy spline_filter1d(order=3, mode='reflect') on n lines laid out as (len, count) with the
// line index as the outer stride: element (i, v) at c[i*stride + v], v < count. Vectorises over v.
template <typename T>
void spline_filter_lines(T* c, int64_t len, int64_t count, int64_t stride) {
  const double z = kPole;
  const T gain = static_cast<T>((1 - z) * (1 - 1 / z));
  for (int64_t i = 0; i < len; ++i) {
    T* p = c + i * stride;
    for (int64_t v = 0; v < count; ++v) p[v] *= gain;
  }
  const T zt = static_cast<T>(z);
  const double z_n = std::pow(z, static_cast<double>(len));
  const T zn = static_cast<T>(z_n);
  // Causal initial value: c0 + z/(1 − z_n²)·(c0·... ) as ni_splines.c _init_causal_reflect.
  std::vector<T> acc(count), c0(count);
  {
    const T* first = c;
    const T* last = c + (len - 1) * stride;
    for (int64_t v = 0; v < count; ++v) {
      c0[v] = first[v];
      acc[v] = first[v] + zn * last[v];
    }
    double z_i = z;
    for (int64_t i = 1; i < len; ++i) {
      const T zi = static_cast<T>(z_i);
      const T* a = c + i * stride;
      const T* b = c + (len - 1 - i) * stride;
      for (int64_t v = 0; v < count; ++v) acc[v] += zi * (a[v] + zn * b[v]);
      z_i *= z;
    }
    const T f = static_cast<T>(z / (1 - z_n * z_n));
    for (int64_t v = 0; v < count; ++v) c[v] = acc[v] * f + c0[v];
  }
  for (int64_t i = 1; i < len; ++i) {
    T* p = c + i * stride;
    const T* q = p - stride;
    for (int64_t v = 0; v < count; ++v) p[v] += zt * q[v];
  }
  {
    const T f = static_cast<T>(z / (z - 1));
    T* last = c + (len - 1) * stride;
    for (int64_t v = 0; v < count; ++v) last[v] *= f;
  }
  for (int64_t i = len - 2; i >= 0; --i) {
    T* p = c + i * stride;
    const T* q = p + stride;
    for (int64_t v = 0; v < count; ++v) p[v] = zt * (q[v] - p[v]);
  }
}

// Row-wise filter of one contiguous line (stride 1, count 1) would not vectorise; rows are
// filtered through the same routine on a transposed layout instead: each channel plane (h, w) is
// filtered along y with count = w (rows = vectors), and along x by filtering blocks of rows as
// (w, rows) after a transpose into scratch.
template <typename T>
void spline_prefilter(const OpArgs<T>& a, T* coef, T* scratch, int64_t h, int64_t w) {
  // Along x: transpose each plane to (w, h), filter with count = h, transpose back.
  parallel_range(a, 3, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      T* plane = coef + c * h * w;
      T* tr = scratch + c * h * w;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) tr[x * h + y] = plane[y * w + x];
      spline_filter_lines(tr, w, h, h);
      for (int64_t x = 0; x < w; ++x)
        for (int64_t y = 0; y < h; ++y) plane[y * w + x] = tr[x * h + y];
      spline_filter_lines(plane, h, w, w);
    }
  });
}

inline void bspline_weights(double t, double* wt) {
  const double z = 1.0 - t;
  wt[0] = z * z * z / 6.0;
  wt[1] = (t * t * (t - 2.0) * 3.0 + 4.0) / 6.0;
  wt[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
  wt[3] = t * t * t / 6.0;
}

inline double keys(double s) {
  s = std::fabs(s);
  if (s < 1) return (1.5 * s - 2.5) * s * s + 1;
  if (s < 2) return ((-0.5 * s + 2.5) * s - 4) * s + 2;
  return 0.0;
}

inline void keys_weights(double t, double* wt) {
  wt[0] = keys(t + 1);
  wt[1] = keys(t);
  wt[2] = keys(1 - t);
  wt[3] = keys(2 - t);
}

// One warp: out(y, x) = Σ wy·wx·in(taps) at (y − dy, x − dx), clipped; rows [y0, y1) cols [x0, x1).
template <typename T, int kTaps>
void warp(const OpArgs<T>& a, const T* in, T* out, int iteration, const Rect& r) {
  const int64_t h = a.h, w = a.w, plane = h * w;
  const double amount = a.value;
  parallel_range(a, r.height(), [&](int64_t begin, int64_t end) {
    // The row's displacements first: Philox words, then Box–Muller over the whole row (for float
    // images a loop the compiler vectorises), then the warp.
    const int64_t n = r.width();
    std::vector<uint32_t> words(static_cast<size_t>(2 * n));
    std::vector<double> normals(static_cast<size_t>(2 * n));
    std::vector<float> normals_f(static_cast<size_t>(2 * n));
    for (int64_t y = r.y0 + begin; y < r.y0 + end; ++y) {
      for (int64_t i = 0; i < n; ++i) {
        const philox::Uint4 word = philox::draw(a.seed, static_cast<uint32_t>(a.rng_x0 + r.x0 + i),
                                                static_cast<uint32_t>(a.rng_y0 + y), static_cast<uint32_t>(iteration));
        words[i] = word.x;
        words[n + i] = word.y;
      }
      if constexpr (std::is_same_v<T, float>) {
        philox::box_muller_row(words.data(), words.data() + n, normals_f.data(), normals_f.data() + n, n);
        for (int64_t i = 0; i < 2 * n; ++i) normals[i] = normals_f[i];
      } else {
        for (int64_t i = 0; i < n; ++i) philox::box_muller(words[i], words[n + i], normals[i], normals[n + i]);
      }
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const double n0 = normals[x - r.x0], n1 = normals[n + x - r.x0];
        const double yy = static_cast<double>(y) - n0 * amount;
        const double xx = static_cast<double>(x) - n1 * amount;
        const double fy = std::floor(yy), fx = std::floor(xx);
        double wy[4], wx[4];
        int64_t ry[4], rx[4];
        constexpr int first = kTaps / 2 - 1;
        const int64_t iy = static_cast<int64_t>(fy) - first, ix = static_cast<int64_t>(fx) - first;
        // Almost every tap window lies inside the image: index it directly, and pay for the
        // border rule (reflect or clamp) only at the borders.
        const bool inside = iy >= 0 && iy + kTaps <= h && ix >= 0 && ix + kTaps <= w;
        const bool reflect = kTaps == 4 && a.preset == Preset::kReiqa;
        for (int k = 0; k < kTaps; ++k) {
          ry[k] = (inside ? iy + k : reflect ? reflect_index(iy + k, h) : clamp_index(iy + k, h)) * w;
          rx[k] = inside ? ix + k : reflect ? reflect_index(ix + k, w) : clamp_index(ix + k, w);
        }
        if constexpr (kTaps == 2) {
          wy[0] = 1 - (yy - fy); wy[1] = yy - fy;
          wx[0] = 1 - (xx - fx); wx[1] = xx - fx;
        } else if (reflect) {
          bspline_weights(yy - fy, wy);
          bspline_weights(xx - fx, wx);
        } else {
          keys_weights(yy - fy, wy);
          keys_weights(xx - fx, wx);
        }
        T wxt[kTaps], wyt[kTaps];  // converted once, not per channel and tap
        for (int k = 0; k < kTaps; ++k) {
          wxt[k] = static_cast<T>(wx[k]);
          wyt[k] = static_cast<T>(wy[k]);
        }
        for (int c = 0; c < 3; ++c) {
          const T* p = in + c * plane;
          T s = 0;
          for (int i = 0; i < kTaps; ++i) {
            const T* row = p + ry[i];
            T t = 0;
            for (int j = 0; j < kTaps; ++j) t += wxt[j] * row[rx[j]];
            s += wyt[i] * t;
          }
          out[c * plane + y * w + x] = std::min(std::max(s, T(0)), T(1));
        }
      }
    }
  });
}

template <typename T>
Status jitter(const OpArgs<T>& a) {
  const int64_t n = 3 * a.h * a.w;
  const Rect full{0, a.h, 0, a.w};
  const bool spline = a.preset == Preset::kReiqa;
  std::vector<T> work(n), coef(n), scratch(spline ? n : 0);
  for (int t = 0; t < 5; ++t) {
    const T* in = t == 0 ? a.src : work.data();
    std::memcpy(coef.data(), in, sizeof(T) * n);
    if (spline) spline_prefilter(a, coef.data(), scratch.data(), a.h, a.w);
    T* out = t == 4 ? a.dst : work.data();
    const Rect& r = t == 4 ? a.out_region : full;
    if (a.preset == Preset::kArniqa) warp<T, 2>(a, coef.data(), out, t, r);
    else warp<T, 4>(a, coef.data(), out, t, r);
  }
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Colour block, non-eccentricity (§4.12, §4.13).

template <typename T>
Status color_block(const OpArgs<T>& a) {
  std::memcpy(a.dst, a.src, sizeof(T) * 3 * a.h * a.w);
  const Rect& g = a.region;
  const int64_t sh = std::min<int64_t>(32, g.height()), sw = std::min<int64_t>(32, g.width());
  // Counts and positions clamped to what the per-call uniforms and the region hold (records are
  // validated first; this keeps every write inside the image whatever the record).
  const int n = static_cast<int>(std::clamp(a.value, 0.0, static_cast<double>(kAuxSize / 5)));
  for (int i = 0; i < n; ++i) {
    const double* u = a.aux + 5 * i;
    const int64_t x = std::clamp<int64_t>(
        g.x0 + static_cast<int64_t>(std::floor(u[0] * static_cast<double>(g.width() - sw))), g.x0, g.x1 - sw);
    const int64_t y = std::clamp<int64_t>(
        g.y0 + static_cast<int64_t>(std::floor(u[1] * static_cast<double>(g.height() - sh))), g.y0, g.y1 - sh);
    for (int c = 0; c < 3; ++c) {
      const double v = a.preset == Preset::kArniqa ? u[2 + c] : std::floor(u[2 + c] * 256) / 255;
      const T col = static_cast<T>(v);
      for (int64_t yy = y; yy < y + sh; ++yy) {
        T* row = a.dst + (c * a.h + yy) * a.w;
        std::fill(row + x, row + x + sw, col);
      }
    }
  }
  return Status::kOk;
}

template <typename T>
Status non_eccentricity(const OpArgs<T>& a) {
  const Rect& g = a.region;
  if (g.height() < 49 || g.width() < 49) return Status::kInvalidArgument;
  std::memcpy(a.dst, a.src, sizeof(T) * 3 * a.h * a.w);
  const bool round = a.preset == Preset::kArniqa;
  auto rnd = [round](double v) { return static_cast<int64_t>(round ? std::nearbyint(v) : std::floor(v)); };
  T patch[3 * 16 * 16];
  const int n = static_cast<int>(std::clamp(a.value, 0.0, static_cast<double>(kAuxSize / 4)));
  for (int i = 0; i < n; ++i) {
    const double* u = a.aux + 4 * i;
    // Clamped to the region (a no-op for uniforms in [0, 1)): every 16×16 read and write stays inside.
    const int64_t xs = std::clamp<int64_t>(g.x0 + rnd(u[0] * static_cast<double>(g.width() - 48)) + 16, g.x0,
                                           g.x1 - 16);
    const int64_t ys = std::clamp<int64_t>(g.y0 + rnd(u[1] * static_cast<double>(g.height() - 48)) + 16, g.y0,
                                           g.y1 - 16);
    const int64_t xd = std::clamp<int64_t>(rnd((u[2] - 0.5) * 16 + static_cast<double>(xs)), g.x0, g.x1 - 16);
    const int64_t yd = std::clamp<int64_t>(rnd((u[3] - 0.5) * 16 + static_cast<double>(ys)), g.y0, g.y1 - 16);
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 16; ++k)
        std::memcpy(patch + (c * 16 + k) * 16, a.dst + (c * a.h + ys + k) * a.w + xs, sizeof(T) * 16);
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 16; ++k)
        std::memcpy(a.dst + (c * a.h + yd + k) * a.w + xd, patch + (c * 16 + k) * 16, sizeof(T) * 16);
  }
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Colour shift (§4.23); the mask is computed in double for both T.

void mapmm(std::vector<double>& e) {
  const auto [lo_it, hi_it] = std::minmax_element(e.begin(), e.end());
  const double lo = *lo_it, hi = *hi_it;
  if (hi == lo) return;
  const double d = hi - lo;
  for (double& v : e) v = (v - lo) / d;
}

// numpy.percentile(values, p), method 'linear' with NumPy's two-sided lerp; work is scratch.
double percentile(const std::vector<double>& values, double p, std::vector<double>& work) {
  work = values;
  const int64_t n = static_cast<int64_t>(work.size());
  const double pos = (p / 100) * static_cast<double>(n - 1);
  const int64_t lo = static_cast<int64_t>(std::floor(pos));
  const double t = pos - static_cast<double>(lo);
  std::nth_element(work.begin(), work.begin() + lo, work.end());
  const double a = work[lo];
  const double b = lo + 1 < n ? *std::min_element(work.begin() + lo + 1, work.end()) : a;
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

template <typename T>
void color_shift_mask(const OpArgs<T>& a, std::vector<double>& e) {
  const int64_t h = a.h, w = a.w, plane = h * w;
  std::vector<double> g(plane), tmp(plane);
  for (int64_t i = 0; i < plane; ++i)
    g[i] = 0.2989 * static_cast<double>(a.src[i]) + 0.5870 * static_cast<double>(a.src[plane + i]) +
           0.1140 * static_cast<double>(a.src[2 * plane + i]);
  e.resize(plane);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      e[y * w + x] = std::hypot(np_gradient(g.data() + x, y, h, w), np_gradient(g.data() + y * w, x, w, int64_t{1}));
    }
  const int radius = a.preset == Preset::kReiqa ? 16 : 8;
  std::vector<double> taps(2 * radius + 1);
  double total = 0;
  for (int k = -radius; k <= radius; ++k) total += taps[k + radius] = std::exp(-double(k * k) / (2 * 16.0));
  for (double& v : taps) v /= total;
  // Vertical (rows as vectors), then horizontal.
  for (int64_t y = 0; y < h; ++y) {
    double* o = tmp.data() + y * w;
    std::fill(o, o + w, 0.0);
    for (int k = -radius; k <= radius; ++k) {
      const double* s = e.data() + clamp_index(y + k, h) * w;
      const double t = taps[k + radius];
      for (int64_t x = 0; x < w; ++x) o[x] += t * s[x];
    }
  }
  for (int64_t y = 0; y < h; ++y) {
    const double* s = tmp.data() + y * w;
    double* o = e.data() + y * w;
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int k = -radius; k <= radius; ++k) acc += taps[k + radius] * s[clamp_index(x + k, w)];
      o[x] = acc;
    }
  }
  mapmm(e);
  for (double& v : e) v = std::min(std::max(v, 0.1), 1.0);
  mapmm(e);
  std::vector<double> work;
  const double lo = percentile(e, 1, work), hi = percentile(e, 99, work);
  for (double& v : e) v = std::min(std::max(v, lo), hi);
  mapmm(e);
}

template <typename T>
Status color_shift(const OpArgs<T>& a) {
  const int64_t h = a.h, w = a.w, plane = h * w;
  std::vector<double> e;
  color_shift_mask(a, e);
  const double u0 = a.aux[0], u1 = a.aux[1];
  const double norm = std::sqrt(u0 * u0 + u1 * u1);
  const int64_t s0 = norm == 0.0 ? 0 : static_cast<int64_t>(std::nearbyint(u0 / norm * a.value));
  const int64_t s1 = norm == 0.0 ? 0 : static_cast<int64_t>(std::nearbyint(u1 / norm * a.value));
  std::memcpy(a.dst, a.src, sizeof(T) * 3 * plane);
  const T* green = a.src + plane;
  T* out = a.dst + plane;
  const bool compat = a.preset == Preset::kReiqa && a.compat;
  const int64_t p = std::max(s0, s1), wp = w + 2 * p, size = (h + 2 * p) * wp;
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      int64_t sy, sx;
      if (compat) {
        int64_t f = ((y + p) * wp + x + p - (s0 + s1)) % size;
        if (f < 0) f += size;
        sy = reflect_index(f / wp - p, h);
        sx = reflect_index(f % wp - p, w);
      } else if (a.preset == Preset::kReiqa) {
        sy = reflect_index(y - s0, h);
        sx = reflect_index(x - s1, w);
      } else {
        sy = clamp_index(y - s0, h);
        sx = clamp_index(x - s1, w);
      }
      const double m = e[y * w + x];
      const double gv = static_cast<double>(green[y * w + x]);
      out[y * w + x] = static_cast<T>(m * static_cast<double>(green[sy * w + sx]) + (1 - m) * gv);
    }
  }
  return Status::kOk;
}

}  // namespace

template <typename T>
OpFn<T> resample_operator(int32_t type) {
  switch (type) {
    case kResizeBicubic: return resize_bicubic<T>;
    case kResizeBilinear: return resize_bilinear<T>;
    case kResizeLanczos: return resize_lanczos<T>;
    case kResizeNearest: return resize_nearest<T>;
    case kPixelate: return pixelate<T>;
    case kJitter: return jitter<T>;
    case kColorBlock: return color_block<T>;
    case kNonEccentricity: return non_eccentricity<T>;
    case kColorShift: return color_shift<T>;
    default: return nullptr;
  }
}

template OpFn<float> resample_operator<float>(int32_t);
template OpFn<double> resample_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
