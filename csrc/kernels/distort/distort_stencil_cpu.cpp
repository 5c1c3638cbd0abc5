// distort, CPU: the stencil operators (DISTORTIONS.md §6): motion_blur (§4.5), gaussian_blur (§4.6),
// lens_blur (§4.7), denoise (§4.19, reiqa).
//
// Two engines, both with replicate borders and restricted to the output region plus its halo
// (composite blocks do not pay for the whole image):
//  - separable: a list of horizontal then vertical 1-D passes; a pass is either an "extended box"
//    (weight 1 on [dlo, dhi], weight `a` on dlo − 1 and dhi + 1, times `inv`; Pillow's box blur,
//    the axis-aligned motion line) evaluated with a running sum (O(1) per pixel whatever the
//    radius), or a symmetric FIR (kadis Gaussian). Each pass clamps its own input (replicate
//    between passes, as Pillow and MATLAB do). Accumulation in double.
//  - row-sparse 2-D correlation (lens disc, kadis oriented motion line): each kernel row is a run
//    of equal full-weight taps (evaluated from per-row prefix sums: 2 loads per kernel row) plus
//    explicit rim taps; input rows are padded once into a double line buffer.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "common/philox.h"
#include "kernels/distort/distort.h"

namespace pyiqa_fast::distort {
namespace {

constexpr int kMaxFir = 64;  // FIR half-width limit (kadis Gaussian: 2⌈2σ⌉ + 1 taps)

// Per-thread scratch reused across calls (grow-only): large per-call allocations would be fresh
// mmapped pages (page faults cost as much as the filtering). The calling thread owns the buffers;
// the row workers it spawns only write disjoint parts of them during the call.
template <typename T, int kSlot>
T* scratch(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

inline int64_t clampi(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// One 1-D pass. Box: out[x] = inv·(Σ_{d=dlo..dhi} p[x+d] + a·(p[x+dlo−1] + p[x+dhi+1])).
// FIR: out[x] = Σ_{d=−r..r} w[d + r]·p[x+d].
struct Pass {
  bool fir = false;
  int dlo = 0, dhi = 0;
  double a = 0.0, inv = 1.0;
  int r = 0;
  double w[2 * kMaxFir + 1] = {};
  int halo_lo() const { return fir ? r : std::max(0, -(dlo - (a != 0.0 ? 1 : 0))); }
  int halo_hi() const { return fir ? r : std::max(0, dhi + (a != 0.0 ? 1 : 0)); }
};

Pass box_pass(int dlo, int dhi, double a, double inv) {
  Pass p;
  p.dlo = dlo;
  p.dhi = dhi;
  p.a = a;
  p.inv = inv;
  return p;
}

// Pillow's extended box of (float) radius rad: l = ⌊rad⌋, edge weight a = rad − l, 1/(2·rad + 1).
Pass pillow_box(double rad) {
  const int l = static_cast<int>(rad);
  return box_pass(-l, l, rad - l, 1.0 / (2.0 * rad + 1.0));
}

// Pillow ImagingGaussianBlur: per-pass radius of the 3-pass extended box (BoxBlur.c), §4.6.
double pillow_gaussian_radius(double sigma, int passes) {
  const double s2 = sigma * sigma / passes;
  const double L = std::sqrt(12.0 * s2 + 1.0);
  const double l = std::floor((L - 1.0) / 2.0);
  double a = (2 * l + 1) * (l * (l + 1) - 3 * s2);
  a /= 6 * (s2 - (l + 1) * (l + 1));
  return l + a;
}

// Running sums restart at multiples of kChunk and every pass range is widened to multiples of
// kChunk, so a pixel's value does not depend on the region computed (composite blocks equal the
// whole-image operator bitwise) and rounding does not drift along long lines.
constexpr int64_t kChunk = 16;

struct Range {
  int64_t lo, hi;
};

// Ranges of the passes of a chain over an axis of length n so that the last pass covers [o0, o1);
// element ps.size() is the range the first pass reads (unclamped: may extend past [0, n)).
std::vector<Range> pass_ranges(const std::vector<Pass>& ps, int64_t o0, int64_t o1, int64_t n) {
  auto down = [n](int64_t v) { return std::min(n, std::max<int64_t>(0, v >= 0 ? v / kChunk * kChunk : 0)); };
  auto up = [n](int64_t v) { return std::max<int64_t>(0, std::min(n, (v + kChunk - 1) / kChunk * kChunk)); };
  std::vector<Range> r(ps.size() + 1);
  int64_t lo = o0, hi = o1;
  for (size_t k = ps.size(); k-- > 0;) {
    r[k] = {down(lo), up(hi)};
    lo = r[k].lo - ps[k].halo_lo();
    hi = r[k].hi + ps[k].halo_hi();
  }
  r[ps.size()] = {lo, hi};
  return r;
}

// Horizontal pass on a padded line: in/out indexed by x + off, valid input on [lo − hl, hi + hh).
void pass_line(const Pass& p, const double* __restrict in, double* __restrict out, int64_t lo, int64_t hi) {
  if (!p.fir && p.dhi - p.dlo < 16) {  // short box: direct, vectorisable sums of shifted lines
    const double ea = p.a, inv = p.inv;
    const int dlo = p.dlo, dhi = p.dhi;
    const double* __restrict l = in + dlo - 1;
    const double* __restrict r = in + dhi + 1;
    for (int64_t x = lo; x < hi; ++x) out[x] = ea * (l[x] + r[x]);
    for (int d = dlo; d <= dhi; ++d) {
      const double* __restrict q = in + d;
      for (int64_t x = lo; x < hi; ++x) out[x] += q[x];
    }
    for (int64_t x = lo; x < hi; ++x) out[x] *= inv;
    return;
  }
  if (p.fir) {
    const int r = p.r;
    for (int64_t x = lo; x < hi; ++x) {
      const double* q = in + x - r;
      double s = 0.0;
      for (int d = 0; d <= 2 * r; ++d) s += p.w[d] * q[d];
      out[x] = s;
    }
    return;
  }
  double acc = 0.0;
  for (int64_t x = lo; x < hi; ++x) {
    if (x % kChunk == 0 || x == lo) {
      acc = 0.0;
      for (int d = p.dlo; d <= p.dhi; ++d) acc += in[x + d];
    }
    double s = acc;
    if (p.a != 0.0) s += p.a * (in[x + p.dlo - 1] + in[x + p.dhi + 1]);
    out[x] = p.inv * s;
    acc += in[x + p.dhi + 1] - in[x + p.dlo];
  }
}

// Separable chain on the 3 planes of src: horizontal passes hp, then vertical passes vp; writes
// dst over a.out_region. `src` may be a scratch image (denoise) of a's shape.
template <typename T>
void separable(const OpArgs<T>& a, const T* src, const std::vector<Pass>& hp, const std::vector<Pass>& vp) {
  const Rect& o = a.out_region;
  const int64_t h = a.h, w = a.w, plane = h * w;
  const std::vector<Range> hr = pass_ranges(hp, o.x0, o.x1, w), vr = pass_ranges(vp, o.y0, o.y1, h);
  const int64_t y_lo = std::max<int64_t>(0, vr.back().lo), y_hi = std::min(h, vr.back().hi);  // rows read
  int64_t hx_lo = 0, hx_hi = 0;
  for (const Pass& p : hp) {
    hx_lo = std::max<int64_t>(hx_lo, p.halo_lo());
    hx_hi = std::max<int64_t>(hx_hi, p.halo_hi());
  }
  // Stage 1: horizontal passes of rows [y_lo, y_hi), columns [o.x0, o.x1) into hbuf (double).
  double* const hbuf = scratch<double, 0>(static_cast<size_t>(3 * plane));
  const int64_t pad = std::max(hx_lo, hx_hi) + 2;
  const int64_t nrows = y_hi - y_lo;
  parallel_range(a, 3 * nrows, [&](int64_t begin, int64_t end) {
    std::vector<double> l0(static_cast<size_t>(w + 2 * pad)), l1(static_cast<size_t>(w + 2 * pad));
    for (int64_t cy = begin; cy < end; ++cy) {
      const int64_t c = cy / nrows, y = y_lo + cy % nrows;
      const T* row = src + c * plane + y * w;
      double* out = hbuf + c * plane + y * w;
      if (hp.empty()) {
        for (int64_t x = o.x0; x < o.x1; ++x) out[x] = static_cast<double>(row[x]);
        continue;
      }
      double* cur = l0.data() + pad;
      double* nxt = l1.data() + pad;
      const int64_t in_lo = hr.back().lo, in_hi = hr.back().hi;
      for (int64_t x = in_lo; x < in_hi; ++x) cur[x] = static_cast<double>(row[clampi(x, 0, w - 1)]);
      for (size_t k = 0; k < hp.size(); ++k) {
        const int64_t lo = hr[k].lo, hi = hr[k].hi;
        pass_line(hp[k], cur, nxt, lo, hi);
        if (k + 1 < hp.size()) {  // replicate the image border for the next pass
          if (lo == 0) for (int64_t x = -pad; x < 0; ++x) nxt[x] = nxt[0];
          if (hi == w) for (int64_t x = w; x < w + pad; ++x) nxt[x] = nxt[w - 1];
        }
        std::swap(cur, nxt);
      }
      for (int64_t x = o.x0; x < o.x1; ++x) out[x] = cur[x];
    }
  });
  // Stage 2: vertical passes over column strips of [o.x0, o.x1).
  constexpr int64_t kStrip = 64;
  const int64_t ow = o.width();
  const int64_t nstrips = (ow + kStrip - 1) / kStrip;
  parallel_range(a, 3 * nstrips, [&](int64_t begin, int64_t end) {
    double acc[kStrip], s[kStrip];
    // Strip-local intermediates (h × kStrip, cache resident), owned by this worker thread.
    double* const vbuf0 = vp.size() > 1 ? scratch<double, 1>(static_cast<size_t>(h * kStrip)) : nullptr;
    double* const vbuf1 = vp.size() > 2 ? scratch<double, 2>(static_cast<size_t>(h * kStrip)) : nullptr;
    for (int64_t cs = begin; cs < end; ++cs) {
      const int64_t c = cs / nstrips, x0 = o.x0 + (cs % nstrips) * kStrip, x1 = std::min(o.x1, x0 + kStrip);
      const int64_t n = x1 - x0;
      T* dplane = a.dst + c * plane;
      if (vp.empty()) {
        for (int64_t y = o.y0; y < o.y1; ++y)
          for (int64_t i = 0; i < n; ++i) dplane[y * w + x0 + i] = static_cast<T>(hbuf[c * plane + y * w + x0 + i]);
        continue;
      }
      const double* in = hbuf + c * plane + x0;
      int64_t in_stride = w;
      for (size_t k = 0; k < vp.size(); ++k) {
        const Pass& p = vp[k];
        const int64_t lo = vr[k].lo, hi = vr[k].hi;
        const bool last = k + 1 == vp.size();
        double* out = last ? nullptr : ((k % 2 == 0) ? vbuf0 : vbuf1);
        auto row = [&](int64_t y) { return in + clampi(y, 0, h - 1) * in_stride; };
        auto emit = [&](int64_t y, const double* v) {
          if (last) {
            T* d = dplane + y * w + x0;
            for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(v[i]);
          } else {
            double* d = out + y * kStrip;
            for (int64_t i = 0; i < n; ++i) d[i] = v[i];
          }
        };
        if (p.fir) {
          for (int64_t y = lo; y < hi; ++y) {
            for (int64_t i = 0; i < n; ++i) s[i] = 0.0;
            for (int d = -p.r; d <= p.r; ++d) {
              const double wd = p.w[d + p.r];
              const double* q = row(y + d);
              for (int64_t i = 0; i < n; ++i) s[i] += wd * q[i];
            }
            emit(y, s);
          }
        } else {
          for (int64_t y = lo; y < hi; ++y) {
            if (y % kChunk == 0 || y == lo) {
              for (int64_t i = 0; i < n; ++i) acc[i] = 0.0;
              for (int d = p.dlo; d <= p.dhi; ++d) {
                const double* q = row(y + d);
                for (int64_t i = 0; i < n; ++i) acc[i] += q[i];
              }
            }
            if (p.a != 0.0) {
              const double* qa = row(y + p.dlo - 1);
              const double* qb = row(y + p.dhi + 1);
              for (int64_t i = 0; i < n; ++i) s[i] = p.inv * (acc[i] + p.a * (qa[i] + qb[i]));
            } else {
              for (int64_t i = 0; i < n; ++i) s[i] = p.inv * acc[i];
            }
            emit(y, s);
            const double* add = row(y + p.dhi + 1);
            const double* sub = row(y + p.dlo);
            for (int64_t i = 0; i < n; ++i) acc[i] += add[i] - sub[i];
          }
        }
        in = out;
        in_stride = kStrip;
      }
    }
  });
}

// A 2-D kernel (odd size, centre at the middle), correlation, stored row-major in double.
struct Kernel2D {
  int ry = 0, rx = 0;  // half sizes
  std::vector<double> k;
  double at(int dy, int dx) const { return k[static_cast<size_t>((dy + ry) * (2 * rx + 1) + dx + rx)]; }
};

// Row-sparse 2-D correlation of src with kern, replicate borders, over a.out_region.
template <typename T>
void correlate2d(const OpArgs<T>& a, const Kernel2D& kern) {
  struct Row {
    int dy;
    int run0, run1;  // full-weight run [run0, run1] (run1 < run0: none)
    double run_w;
    std::vector<std::pair<int, double>> taps;
  };
  std::vector<Row> rows;
  bool any_run = false;
  for (int dy = -kern.ry; dy <= kern.ry; ++dy) {
    Row r{dy, 0, -1, 0.0, {}};
    double m = 0.0;
    for (int dx = -kern.rx; dx <= kern.rx; ++dx) m = std::max(m, kern.at(dy, dx));
    if (m == 0.0) continue;
    // Longest run of taps equal to the row's maximum.
    int best0 = 0, best1 = -1;
    for (int dx = -kern.rx; dx <= kern.rx;) {
      if (kern.at(dy, dx) != m) {
        ++dx;
        continue;
      }
      int e = dx;
      while (e + 1 <= kern.rx && kern.at(dy, e + 1) == m) ++e;
      if (e - dx > best1 - best0) {
        best0 = dx;
        best1 = e;
      }
      dx = e + 1;
    }
    if (best1 - best0 + 1 >= 4) {
      r.run0 = best0;
      r.run1 = best1;
      r.run_w = m;
      any_run = true;
    }
    for (int dx = -kern.rx; dx <= kern.rx; ++dx) {
      const double v = kern.at(dy, dx);
      if (v == 0.0 || (dx >= r.run0 && dx <= r.run1)) continue;
      r.taps.emplace_back(dx, v);
    }
    rows.push_back(std::move(r));
  }
  const Rect& o = a.out_region;
  const int64_t h = a.h, w = a.w, plane = h * w;
  const int64_t y_lo = std::max<int64_t>(0, o.y0 - kern.ry), y_hi = std::min<int64_t>(h, o.y1 + kern.ry);
  const int64_t nrows = y_hi - y_lo;
  // Padded rows span the whole width (x = i − rx) so the prefix sums, hence the results, do not
  // depend on the region computed.
  const int64_t len = w + 2 * kern.rx;
  const int64_t stride = len + 1;
  double* const padded = scratch<double, 3>(static_cast<size_t>(3 * nrows * stride));
  double* const prefix = any_run ? scratch<double, 4>(static_cast<size_t>(3 * nrows * stride)) : nullptr;
  parallel_range(a, 3 * nrows, [&](int64_t begin, int64_t end) {
    for (int64_t cy = begin; cy < end; ++cy) {
      const int64_t c = cy / nrows, y = y_lo + cy % nrows;
      const T* src = a.src + c * plane + y * w;
      double* p = padded + cy * stride;
      const int64_t xs = -kern.rx;
      for (int64_t i = 0; i < len; ++i) p[i] = static_cast<double>(src[clampi(xs + i, 0, w - 1)]);
      if (any_run) {
        double* q = prefix + cy * stride;
        double s = 0.0;
        q[0] = 0.0;
        for (int64_t i = 0; i < len; ++i) {
          s += p[i];
          q[i + 1] = s;
        }
      }
    }
  });
  const int64_t oh = o.height(), ow = o.width();
  parallel_range(a, 3 * oh, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(ow));
    for (int64_t cy = begin; cy < end; ++cy) {
      const int64_t c = cy / oh, y = o.y0 + cy % oh;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (const Row& r : rows) {
        const int64_t yy = clampi(y + r.dy, 0, h - 1) - y_lo;
        const double* p = padded + (c * nrows + yy) * stride + kern.rx + o.x0;  // p[i]: x = o.x0 + i
        if (r.run1 >= r.run0) {
          const double* q = prefix + (c * nrows + yy) * stride + kern.rx + o.x0;
          const double wr = r.run_w;
          const int64_t i0 = r.run0, i1 = r.run1 + 1;
          for (int64_t i = 0; i < ow; ++i) acc[i] += wr * (q[i + i1] - q[i + i0]);
        }
        for (const auto& t : r.taps) {
          const double* pt = p + t.first;
          const double wt = t.second;
          for (int64_t i = 0; i < ow; ++i) acc[i] += wt * pt[i];
        }
      }
      T* d = a.dst + c * plane + y * w + o.x0;
      for (int64_t i = 0; i < ow; ++i) d[i] = static_cast<T>(acc[i]);
    }
  });
}

// MATLAB fspecial('disk', r) as exact pixel/disc intersection areas, normalised (§2.3, §4.7).
double seg_area(double x0, double x1, double y0, double y1, double r) {
  // ∫_{x0}^{x1} clamp(√(r² − x²) − y0, 0, y1 − y0) dx for 0 ≤ x0 < x1, 0 ≤ y0 < y1.
  auto S = [r](double x) {
    x = std::min(x, r);
    return 0.5 * (x * std::sqrt(std::max(r * r - x * x, 0.0)) + r * r * std::asin(x / r));
  };
  const double xa = y1 >= r ? 0.0 : std::sqrt(r * r - y1 * y1);  // s(x) ≥ y1 for x ≤ xa
  const double xb = y0 >= r ? 0.0 : std::sqrt(r * r - y0 * y0);  // s(x) ≥ y0 for x ≤ xb
  double area = 0.0;
  const double f1 = std::min(x1, xa);
  if (f1 > x0) area += (y1 - y0) * (f1 - x0);
  const double lo = std::max(x0, xa), hi = std::min(x1, xb);
  if (hi > lo) area += (S(hi) - S(lo)) - y0 * (hi - lo);
  return area;
}

double pixel_disc_area(int i, int j, double r) {
  auto pieces = [](int c, double* lo, double* hi, int* n) {
    const int a = c < 0 ? -c : c;
    if (a == 0) {
      lo[0] = 0.0; hi[0] = 0.5; lo[1] = 0.0; hi[1] = 0.5;
      *n = 2;
    } else {
      lo[0] = a - 0.5; hi[0] = a + 0.5;
      *n = 1;
    }
  };
  double xl[2], xh[2], yl[2], yh[2];
  int nx, ny;
  pieces(j, xl, xh, &nx);
  pieces(i, yl, yh, &ny);
  double s = 0.0;
  for (int p = 0; p < nx; ++p)
    for (int q = 0; q < ny; ++q) s += seg_area(xl[p], xh[p], yl[q], yh[q], r);
  return s;
}

Kernel2D disk_kernel(double r) {
  Kernel2D k;
  const int c = static_cast<int>(std::ceil(r - 0.5));
  k.ry = k.rx = c;
  const int n = 2 * c + 1;
  k.k.resize(static_cast<size_t>(n * n));
  double sum = 0.0;
  for (int i = -c; i <= c; ++i)
    for (int j = -c; j <= c; ++j) sum += (k.k[static_cast<size_t>((i + c) * n + j + c)] = pixel_disc_area(i, j, r));
  for (double& v : k.k) v /= sum;
  return k;
}

// MATLAB fspecial('motion', len, theta) (documented algorithm: anti-aliased line of width 1).
Kernel2D motion_kernel(double len_in, int theta) {
  constexpr double eps = 2.220446049250313e-16;
  const double len = std::max(1.0, len_in);
  const double half = (len - 1) / 2;
  const double phi = static_cast<double>(((theta % 180) + 180) % 180) / 180.0 * M_PI;
  const double cosphi = std::cos(phi), sinphi = std::sin(phi);
  const double xsign = cosphi > 0 ? 1.0 : (cosphi < 0 ? -1.0 : 0.0);
  const double linewdt = 1.0;
  const double sx = std::trunc(half * cosphi + linewdt * xsign - len * eps);
  const double sy = std::trunc(half * sinphi + linewdt - len * eps);
  const int nx = static_cast<int>(std::fabs(sx)) + 1, ny = static_cast<int>(sy) + 1;
  // Half matrix dist(y, x), y = 0..sy, x = 0, xsign, ..., sx.
  std::vector<double> dist(static_cast<size_t>(nx * ny));
  for (int iy = 0; iy < ny; ++iy) {
    for (int ix = 0; ix < nx; ++ix) {
      const double x = ix * xsign, y = iy;
      double d = y * cosphi - x * sinphi;
      const double rad = std::sqrt(x * x + y * y);
      if (rad >= half && std::fabs(d) <= linewdt) {
        const double x2 = half - std::fabs((x + d * sinphi) / cosphi);
        d = std::sqrt(d * d + x2 * x2);
      }
      d = linewdt + eps - std::fabs(d);
      dist[static_cast<size_t>(iy * nx + ix)] = d < 0 ? 0.0 : d;
    }
  }
  // Unfold: full (2ny−1)×(2nx−1); rot90(dist, 2) in the top-left, dist in the bottom-right.
  const int H = 2 * ny - 1, W = 2 * nx - 1;
  std::vector<double> full(static_cast<size_t>(H * W), 0.0);
  for (int iy = 0; iy < ny; ++iy)
    for (int ix = 0; ix < nx; ++ix)
      full[static_cast<size_t>((ny - 1 - iy) * W + (nx - 1 - ix))] = dist[static_cast<size_t>(iy * nx + ix)];
  for (int iy = 0; iy < ny; ++iy)
    for (int ix = 0; ix < nx; ++ix)
      full[static_cast<size_t>((ny - 1 + iy) * W + (nx - 1 + ix))] = dist[static_cast<size_t>(iy * nx + ix)];
  double sum = 0.0;
  for (int ix = 0; ix < W; ++ix)  // column-major, as MATLAB's sum(h(:))
    for (int iy = 0; iy < H; ++iy) sum += full[static_cast<size_t>(iy * W + ix)];
  const double norm = sum + eps * len * len;
  Kernel2D k;
  k.ry = ny - 1;
  k.rx = nx - 1;
  k.k.resize(full.size());
  for (int iy = 0; iy < H; ++iy) {
    const int src_y = cosphi > 0 ? H - 1 - iy : iy;  // flipud when cos φ > 0
    for (int ix = 0; ix < W; ++ix) k.k[static_cast<size_t>(iy * W + ix)] = full[static_cast<size_t>(src_y * W + ix)] / norm;
  }
  return k;
}

// §4.5.
template <typename T>
Status motion_blur(const OpArgs<T>& a) {
  const double len = a.value;
  if (a.preset != Preset::kReiqa) {
    const int theta = static_cast<int>(std::floor(a.aux[0] * 181.0));
    correlate2d(a, motion_kernel(len, theta));
    return Status::kOk;
  }
  const bool horizontal = a.aux[0] < 0.5;
  const int k = static_cast<int>(len);
  if (k < 1) return Status::kInvalidArgument;
  std::vector<Pass> along, across;
  if (a.compat) {
    // ReIQA (R3): k taps of 1/k over d ∈ [c − k + 1, c], plus a shift of c − ⌊(k−1)/2⌋ across.
    const int c = k / 2, cc = (k - 1) / 2;
    along.push_back(box_pass(c - k + 1, c, 0.0, 1.0 / k));
    if (c != cc) across.push_back(box_pass(c - cc, c - cc, 0.0, 1.0));
  } else if (k % 2 == 0) {
    along.push_back(box_pass(-(k / 2 - 1), k / 2 - 1, 0.5, 1.0 / k));  // k + 1 taps, ends 1/(2k)
  } else {
    along.push_back(box_pass(-(k / 2), k / 2, 0.0, 1.0 / k));
  }
  if (horizontal) {
    separable(a, a.src, along, across);
  } else {
    separable(a, a.src, across, along);
  }
  return Status::kOk;
}

Pass gaussian_fir(double sigma) {
  Pass p;
  p.fir = true;
  p.r = static_cast<int>(std::ceil(2 * sigma));
  double s = 0.0;
  for (int d = -p.r; d <= p.r; ++d) s += (p.w[d + p.r] = std::exp(-(d * d) / (2 * sigma * sigma)));
  for (int d = 0; d <= 2 * p.r; ++d) p.w[d] /= s;
  return p;
}

// §4.6.
template <typename T>
Status gaussian_blur(const OpArgs<T>& a) {
  const double sigma = a.value;
  if (!(sigma > 0)) return Status::kInvalidArgument;
  if (a.preset == Preset::kReiqa) {
    const std::vector<Pass> ps(3, pillow_box(pillow_gaussian_radius(sigma, 3)));
    separable(a, a.src, ps, ps);
  } else {
    if (std::ceil(2 * sigma) > kMaxFir) return Status::kInvalidArgument;
    const std::vector<Pass> ps(1, gaussian_fir(sigma));
    separable(a, a.src, ps, ps);
  }
  return Status::kOk;
}

// §4.7.
template <typename T>
Status lens_blur(const OpArgs<T>& a) {
  static const Kernel2D kernels[5] = {disk_kernel(1), disk_kernel(2), disk_kernel(4), disk_kernel(6),
                                      disk_kernel(8)};
  const double r = a.value;
  for (int i = 0; i < 5; ++i) {
    const double ri = i == 0 ? 1 : 2 * i;
    if (r == ri) {
      correlate2d(a, kernels[i]);
      return Status::kOk;
    }
  }
  if (!(r > 0)) return Status::kInvalidArgument;
  correlate2d(a, disk_kernel(r));
  return Status::kOk;
}

// §4.19 (reiqa): x + N(0, v) (normals n0, n1, n2 of draw 0), clip, then Pillow GaussianBlur(3)
// if aux[0] < 0.5 else Pillow BoxBlur(2). kadis needs DnCNN: unsupported here.
template <typename T>
Status denoise(const OpArgs<T>& a) {
  if (a.preset != Preset::kReiqa) return Status::kUnsupportedDType;
  const bool gauss = a.aux[0] < 0.5;
  const std::vector<Pass> ps = gauss ? std::vector<Pass>(3, pillow_box(pillow_gaussian_radius(3.0, 3)))
                                     : std::vector<Pass>(1, pillow_box(2.0));
  const Rect& o = a.out_region;
  const std::vector<Range> hr = pass_ranges(ps, o.x0, o.x1, a.w), vr = pass_ranges(ps, o.y0, o.y1, a.h);
  const int64_t y0 = std::max<int64_t>(0, vr.back().lo), y1 = std::min(a.h, vr.back().hi);
  const int64_t x0 = std::max<int64_t>(0, hr.back().lo), x1 = std::min(a.w, hr.back().hi);
  const int64_t plane = a.h * a.w;
  T* const noisy = scratch<T, 5>(static_cast<size_t>(3 * plane));
  const double sigma = std::sqrt(a.value);
  parallel_range(a, y1 - y0, [&](int64_t begin, int64_t end) {
    const int64_t n_row = x1 - x0;
    std::vector<uint32_t> words;
    std::vector<float> row_scratch;
    std::vector<double> normals(static_cast<size_t>(3 * n_row));
    for (int64_t y = y0 + begin; y < y0 + end; ++y) {
      philox::row_normals3<T>(a.seed, a.rng_x0 + x0, a.rng_y0 + y, 0, n_row, words, row_scratch, normals.data());
      for (int64_t x = x0; x < x1; ++x) {
        const int64_t i = y * a.w + x;
        for (int c = 0; c < 3; ++c) {
          const double v = static_cast<double>(a.src[c * plane + i]) + sigma * normals[c * n_row + (x - x0)];
          noisy[c * plane + i] = static_cast<T>(v < 0 ? 0 : (v > 1 ? 1 : v));
        }
      }
    }
  });
  separable(a, noisy, ps, ps);
  return Status::kOk;
}

}  // namespace

template <typename T>
OpFn<T> stencil_operator(int32_t type) {
  switch (type) {
    case kMotionBlur: return motion_blur<T>;
    case kGaussianBlur: return gaussian_blur<T>;
    case kLensBlur: return lens_blur<T>;
    case kDenoise: return denoise<T>;
    default: return nullptr;
  }
}

template OpFn<float> stencil_operator<float>(int32_t);
template OpFn<double> stencil_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
