// distort on CUDA, stencil class (DISTORTIONS.md §4.5–4.7, §4.10, §4.19, §4.22, §6): motion_blur,
// gaussian_blur, lens_blur, unsharp_mask, denoise (reiqa), color_diffuse. See distort_cuda.h for
// the group contract; the per-entry tables are built on the host by
// pyiqa_fast/ops/distort/impl/cuda_tables/stencil.py.
//
// Three engines, all with replicate borders, computing in the image's precision (float / double):
//
//  - separable (gaussian_blur, reiqa motion_blur, denoise, color_diffuse, kadis/arniqa
//    unsharp_mask): a chain of 1-D FIR passes along x, then along y, each pass clamping its own
//    input (replicate between passes, as Pillow's three box passes and the reference do). Two
//    launches through the workspace:
//      rows kernel  grid (x tiles of kRowTile outputs, planes × rows, entries), 1-D blocks: loads
//                   the row segment plus its halo into shared memory through a per-type load
//                   transform (RGB, RGB + Philox noise clipped to [0, 1], Lab a*/b*, Lab L*), runs
//                   every x pass in shared memory and writes the out-region's columns of the rows the
//                   y passes read to the workspace;
//      cols kernel  grid (tiles of kColTileY × XW outputs, 1, entries), blocks (XW, 8): loads each
//                   plane's column tile plus its halo from the workspace (coalesced along x), runs
//                   the y passes in shared memory, keeps the planes' results in registers and
//                   writes the pixel through a per-type store (clip; Lab round trip with the
//                   blurred a*, b* × gain (color_diffuse) or L + a·(L − G * L) (unsharp_mask)).
//    Inside a tile, intermediate pass k holds at position p the stage value at clamp(p): with
//    the tile's halo the sum of the later passes' halos, every clamped read stays in the tile, so
//    the result equals the whole-line passes with replicate padding before each of them.
//  - direct 2-D correlation (lens_blur's disc, kadis/arniqa motion_blur's oriented line): a
//    kTile2Y × kTile2X output tile plus a halo of up to kHalo2 per side in shared memory per
//    channel, the entry's kernel (≤ 17 × 17) in shared memory; zero taps skipped.
//  - reiqa unsharp_mask: L* of a tile plus 2 pixels of halo in shared memory, numpy.gradient of
//    numpy.gradient along each axis (one-sided at the image edges), Lab round trip.
//
// Tables (per entry, host-built):
//   separable: itable [nx, ny, (lo, n, off) × kMaxPasses]: nx x passes then ny y passes, pass k
//              with taps ftable[off .. off + n) at offsets lo, lo + 1, …; ftable: the taps.
//   2-D:       itable [ry, rx]; ftable the (2ry + 1) × (2rx + 1) weights, row-major (correlation).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/color.h"
#include "common/cuda_launch.h"
#include "common/philox.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"
#include "kernels/distort/distort_cuda_device.cuh"

#if defined(__CUDACC__)
#define PYIQA_FAST_STENCIL_UNROLL _Pragma("unroll")
#else
#define PYIQA_FAST_STENCIL_UNROLL
#endif

namespace pyiqa_fast::distort {
namespace {

constexpr int kMaxPasses = 6;                      // x + y passes per entry
constexpr int kSepIStride = 2 + 3 * kMaxPasses;   // itable columns of the separable types
constexpr int kMaxTaps = 512;                      // ftable columns of the separable types
constexpr int kRowTile = 128;                      // outputs per rows-kernel block (= threads)
constexpr int kRowHalo = 96;                       // the largest total x halo
constexpr int kColTileY = 32, kColThreadsY = 8;    // cols kernel: rows per tile, thread rows
constexpr int kPerThread = kColTileY / kColThreadsY;
// Cols-kernel variants: (XW, halo, buffers). Multi-pass chains have small halos; color_diffuse's
// single pass reaches radius 80 (161 taps).
constexpr int kSmallXW = 32, kSmallHalo = 16;
constexpr int kLargeXW = 16, kLargeHalo = 80;
constexpr int kTile2X = 32, kTile2Y = 16, kHalo2 = 8;  // 2-D correlation (17 × 17 at most)
constexpr int kLapTX = 32, kLapTY = 16, kLapHalo = 2;  // reiqa unsharp_mask

// Load / store transforms of the separable engine.
enum Mode : int { kPlain = 0, kNoisy = 1, kDiffuse = 2, kSharpen = 3 };

template <int MODE>
constexpr int planes_of() {
  return MODE == kDiffuse ? 2 : (MODE == kSharpen ? 1 : 3);
}

__device__ __forceinline__ int64_t clampi(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

struct PassDesc {
  int lo, n, off;
};

__device__ __forceinline__ PassDesc pass_at(const int64_t* it, int k) {
  return PassDesc{static_cast<int>(it[2 + 3 * k]), static_cast<int>(it[3 + 3 * k]), static_cast<int>(it[4 + 3 * k])};
}

__device__ __forceinline__ int halo_of(const PassDesc& p) {
  const int a = -p.lo, b = p.lo + p.n - 1;
  const int h = a > b ? a : b;
  return h > 0 ? h : 0;
}

// Sum of the halos of passes [k0, k1).
__device__ __forceinline__ int halo_sum(const int64_t* it, int k0, int k1) {
  int h = 0;
  for (int k = k0; k < k1; ++k) h += halo_of(pass_at(it, k));
  return h;
}

// Σ_j w[j]·in[(first + j)·stride].
template <typename T>
__device__ __forceinline__ T tap_sum(const T* in, int stride, int64_t first, const T* w, int n) {
  T s = T(0);
  const T* q = in + first * stride;
  for (int j = 0; j < n; ++j) s += w[j] * q[j * stride];
  return s;
}

// One intermediate pass over a tile of lines (XW interleaved lines, buffer index (pos − base)·XW
// + line): positions [t0 − hrem, t0 + tile + hrem) of `out` get the pass at the clamped position.
template <typename T, int XW>
__device__ void mid_pass(const T* in, T* out, const T* taps, const PassDesc& p, int64_t base, int64_t t0, int tile,
                         int hrem, int64_t len, int tid, int nthreads) {
  const int64_t first_pos = t0 - hrem;
  const int count = (tile + 2 * hrem) * XW;
  for (int i = tid; i < count; i += nthreads) {
    const int64_t pos = first_pos + i / XW;
    const int line = i % XW;
    const int64_t q = clampi(pos, 0, len - 1);
    out[(pos - base) * XW + line] = tap_sum(in + line, XW, q + p.lo - base, taps + p.off, p.n);
  }
}

// ---- separable engine: load / store transforms ------------------------------------------------

template <typename T, int MODE>
__device__ __forceinline__ T load_value(const T* src, const int64_t* e, double value, int plane, int64_t y,
                                        int64_t x) {
  const T* s = src + e[kSrc] + y * e[kSrcY] + x;
  const int64_t sc = e[kSrcC];
  if constexpr (MODE == kPlain) {
    return s[plane * sc];
  } else if constexpr (MODE == kNoisy) {
    // x + √v·n, n the pixel's normals (n0, n1 of the first pair, n0 of the second) at image
    // coordinates, clipped to [0, 1] before the blur (§4.19).
    const philox::Uint4 w = philox::draw(static_cast<uint64_t>(e[kSeed]), static_cast<uint32_t>(e[kRngX0] + x),
                                         static_cast<uint32_t>(e[kRngY0] + y), 0u);
    T n0, n1;
    if (plane < 2) {
      philox::box_muller(w.x, w.y, n0, n1);
    } else {
      philox::box_muller(w.z, w.w, n0, n1);
    }
    const T nz = plane == 1 ? n1 : n0;
    const double v = static_cast<double>(s[plane * sc]) + std::sqrt(value) * static_cast<double>(nz);
    return static_cast<T>(v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v));
  } else if constexpr (MODE == kDiffuse) {
    T L, A, B;
    color::rgb_to_lab(s[0], s[sc], s[2 * sc], L, A, B);
    return plane == 0 ? A : B;
  } else {
    return color::rgb_to_lab_l(s[0], s[sc], s[2 * sc]);
  }
}

template <typename T>
__device__ __forceinline__ T trunc255(T v) {
  return std::trunc(v * T(255) + T(kTrunc255Guard)) / T(255);  // guard: distort_domains.h
}

template <typename T, int MODE>
__device__ __forceinline__ void store_pixel(const T* src, T* dst, const int64_t* e, double value, int32_t preset,
                                            int64_t y, int64_t x, const T* r) {
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  const int64_t dc = e[kDstC];
  if constexpr (MODE == kPlain || MODE == kNoisy) {
    for (int c = 0; c < 3; ++c) d[c * dc] = clip01(r[c]);
  } else {
    const T* s = src + e[kSrc] + y * e[kSrcY] + x;
    const int64_t sc = e[kSrcC];
    T o0, o1, o2;
    if constexpr (MODE == kDiffuse) {
      // §4.22: L kept, a*, b* blurred × a; arniqa truncates to the 8-bit grid.
      const T gain = static_cast<T>(value);
      const T L = color::rgb_to_lab_l(s[0], s[sc], s[2 * sc]);
      color::lab_to_rgb(L, r[0] * gain, r[1] * gain, o0, o1, o2);
      if (preset == static_cast<int32_t>(Preset::kArniqa)) {
        o0 = trunc255(o0);
        o1 = trunc255(o1);
        o2 = trunc255(o2);
      }
    } else {
      // §4.10 kadis/arniqa: L' = clip(L + a·(L − G₃ * L), 0, 100).
      T L, A, B;
      color::rgb_to_lab(s[0], s[sc], s[2 * sc], L, A, B);
      const T amount = static_cast<T>(value);
      T v = L + amount * (L - r[0]);
      v = v < T(0) ? T(0) : (v > T(100) ? T(100) : v);
      color::lab_to_rgb(v, A, B, o0, o1, o2);
    }
    d[0] = clip01(o0);
    d[dc] = clip01(o1);
    d[2 * dc] = clip01(o2);
  }
}

// Workspace layout (separable types): per entry, planes × rows × max_out_w, row 0 = the first row
// the y passes read (max(0, OY0 − hy)), column 0 = OX0.
struct WsShape {
  int64_t rows, cols;
};

// ---- separable engine: rows kernel ---------------------------------------------------------------

template <typename T, int MODE>
__global__ void __launch_bounds__(kRowTile)
    sep_rows_kernel(const T* __restrict__ src, T* __restrict__ ws, const int64_t* __restrict__ entries,
                    const double* __restrict__ values, const double* __restrict__ ftable, int64_t f_stride,
                    const int64_t* __restrict__ itable, int64_t i_stride, int64_t ws_rows, int64_t ws_cols) {
  constexpr int kPlanes = planes_of<MODE>();
  __shared__ T taps[kMaxTaps];
  __shared__ T buf[2][kRowTile + 2 * kRowHalo];
  const int64_t n = blockIdx.z;
  const int64_t* e = entries + n * kNumFields;
  const int64_t* it = itable + n * i_stride;
  const int plane = static_cast<int>(blockIdx.y / ws_rows);
  const int64_t row = blockIdx.y % ws_rows;
  const int nx = static_cast<int>(it[0]), ny = static_cast<int>(it[1]);
  const int hx = halo_sum(it, 0, nx), hy = halo_sum(it, nx, nx + ny);
  const int64_t H = e[kH], W = e[kW];
  const int64_t y_first = e[kOy0] - hy > 0 ? e[kOy0] - hy : 0;
  const int64_t y_end = e[kOy1] + hy < H ? e[kOy1] + hy : H;
  const int64_t y = y_first + row;
  const int64_t t0 = e[kOx0] + static_cast<int64_t>(blockIdx.x) * kRowTile;
  if (plane >= kPlanes || y >= y_end || t0 >= e[kOx1]) return;  // uniform per block
  const int tid = threadIdx.x;
  T* out = ws + ((n * kPlanes + plane) * ws_rows + row) * ws_cols - e[kOx0];  // out[x], x image column
  const int64_t x = t0 + tid;
  if (hx > kRowHalo) {  // beyond this kernel's tile (the host tables never ask for it)
    if (x < e[kOx1]) out[x] = static_cast<T>(NAN);
    return;
  }
  const double value = values[n];
  for (int i = tid; i < f_stride; i += kRowTile) taps[i] = static_cast<T>(ftable[n * f_stride + i]);
  const int64_t base = t0 - hx;
  const T* s = src;
  for (int i = tid; i < kRowTile + 2 * hx; i += kRowTile)
    buf[0][i] = load_value<T, MODE>(s, e, value, plane, y, clampi(base + i, 0, W - 1));
  __syncthreads();
  int cur = 0, hrem = hx;
  T result;
  if (nx == 0) {
    result = buf[0][tid];
  } else {
    for (int k = 0; k + 1 < nx; ++k) {
      const PassDesc p = pass_at(it, k);
      hrem -= halo_of(p);
      mid_pass<T, 1>(buf[cur], buf[cur ^ 1], taps, p, base, t0, kRowTile, hrem, W, tid, kRowTile);
      __syncthreads();
      cur ^= 1;
    }
    const PassDesc p = pass_at(it, nx - 1);
    result = tap_sum(buf[cur], 1, clampi(x, 0, W - 1) + p.lo - base, taps + p.off, p.n);
  }
  if (x < e[kOx1]) out[x] = result;
}

// ---- separable engine: cols kernel ---------------------------------------------------------------

template <typename T, int MODE, int XW, int HALO, int NBUF>
__global__ void __launch_bounds__(XW * kColThreadsY)
    sep_cols_kernel(const T* __restrict__ src, T* __restrict__ dst, const T* __restrict__ ws,
                    const int64_t* __restrict__ entries, const double* __restrict__ values,
                    const double* __restrict__ ftable, int64_t f_stride, const int64_t* __restrict__ itable,
                    int64_t i_stride, int64_t ws_rows, int64_t ws_cols, int64_t tiles_x, int32_t preset) {
  constexpr int kPlanes = planes_of<MODE>();
  constexpr int kThreads = XW * kColThreadsY;
  constexpr int kBufLen = (kColTileY + 2 * HALO) * XW;
  __shared__ T taps[kMaxTaps];
  __shared__ T buf[NBUF][kBufLen];
  const int64_t n = blockIdx.z;
  const int64_t* e = entries + n * kNumFields;
  const int64_t* it = itable + n * i_stride;
  const int64_t y0 = e[kOy0] + static_cast<int64_t>(blockIdx.x / tiles_x) * kColTileY;
  const int64_t xt = e[kOx0] + static_cast<int64_t>(blockIdx.x % tiles_x) * XW;
  if (y0 >= e[kOy1] || xt >= e[kOx1]) return;  // uniform per block
  const int tx = threadIdx.x, tid = threadIdx.y * XW + threadIdx.x;
  const int64_t x = xt + tx;
  const int nx = static_cast<int>(it[0]), ny = static_cast<int>(it[1]);
  const int hy = halo_sum(it, nx, nx + ny);
  const int64_t H = e[kH];
  const double value = values[n];
  T res[kPlanes][kPerThread];
  if (hy > HALO || (NBUF == 1 && ny > 1)) {  // beyond this variant (the host tables never ask for it)
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t y = y0 + threadIdx.y + kColThreadsY * j;
      if (y < e[kOy1] && x < e[kOx1]) {
        T* d = dst + e[kDst] + y * e[kDstY] + x;
        for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = static_cast<T>(NAN);
      }
    }
    return;
  }
  for (int i = tid; i < f_stride; i += kThreads) taps[i] = static_cast<T>(ftable[n * f_stride + i]);
  const int64_t y_first = e[kOy0] - hy > 0 ? e[kOy0] - hy : 0;
  const int64_t y_last = (e[kOy1] + hy < H ? e[kOy1] + hy : H) - 1;  // rows the rows kernel wrote
  const int64_t base = y0 - hy;
  PYIQA_FAST_STENCIL_UNROLL
  for (int plane = 0; plane < kPlanes; ++plane) {
    const T* wp = ws + (n * kPlanes + plane) * ws_rows * ws_cols;
    for (int i = tid; i < (kColTileY + 2 * hy) * XW; i += kThreads) {
      const int64_t yy = clampi(clampi(base + i / XW, 0, H - 1), y_first, y_last);
      const int64_t xr = clampi(xt + i % XW, 0, e[kOx1] - 1) - e[kOx0];
      buf[0][i] = wp[(yy - y_first) * ws_cols + xr];
    }
    __syncthreads();
    int cur = 0, hrem = hy;
    for (int k = 0; k + 1 < ny; ++k) {
      const PassDesc p = pass_at(it, nx + k);
      hrem -= halo_of(p);
      mid_pass<T, XW>(buf[cur], buf[(cur + 1) % NBUF], taps, p, base, y0, kColTileY, hrem, H, tid, kThreads);
      __syncthreads();
      cur = (cur + 1) % NBUF;
    }
    PYIQA_FAST_STENCIL_UNROLL
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t y = y0 + threadIdx.y + kColThreadsY * j;
      if (ny == 0) {
        res[plane][j] = buf[cur][(y - base) * XW + tx];
      } else {
        const PassDesc p = pass_at(it, nx + ny - 1);
        res[plane][j] = tap_sum(buf[cur] + tx, XW, clampi(y, 0, H - 1) + p.lo - base, taps + p.off, p.n);
      }
    }
    __syncthreads();  // before the next plane overwrites the buffers
  }
  PYIQA_FAST_STENCIL_UNROLL
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t y = y0 + threadIdx.y + kColThreadsY * j;
    if (y >= e[kOy1] || x >= e[kOx1]) continue;
    T r[kPlanes];
    for (int c = 0; c < kPlanes; ++c) r[c] = res[c][j];
    store_pixel<T, MODE>(src, dst, e, value, preset, y, x, r);
  }
}

// ---- direct 2-D correlation --------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kTile2X * 8)
    correlate2d_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                       const double* __restrict__ ftable, int64_t f_stride, const int64_t* __restrict__ itable,
                       int64_t i_stride, int64_t tiles_x) {
  constexpr int kTileW = kTile2X + 2 * kHalo2, kK = 2 * kHalo2 + 1;
  __shared__ T tile[(kTile2Y + 2 * kHalo2) * kTileW];
  __shared__ T kern[kK * kK];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t y0 = e[kOy0] + static_cast<int64_t>(blockIdx.x / tiles_x) * kTile2Y;
  const int64_t x0 = e[kOx0] + static_cast<int64_t>(blockIdx.x % tiles_x) * kTile2X;
  if (y0 >= e[kOy1] || x0 >= e[kOx1]) return;  // uniform per block
  const int ry = static_cast<int>(itable[n * i_stride]), rx = static_cast<int>(itable[n * i_stride + 1]);
  const int tid = threadIdx.y * kTile2X + threadIdx.x;
  const int64_t H = e[kH], W = e[kW];
  const int64_t x = x0 + threadIdx.x;
  const bool fits = ry <= kHalo2 && rx <= kHalo2;
  const int kw = 2 * rx + 1, kh = 2 * ry + 1;
  if (fits)
    for (int i = tid; i < kh * kw; i += kTile2X * 8) kern[i] = static_cast<T>(ftable[n * f_stride + i]);
  const int rows = kTile2Y + 2 * ry, cols = kTile2X + 2 * rx;
  for (int c = 0; c < 3; ++c) {
    const T* s = src + e[kSrc] + c * e[kSrcC];
    if (fits) {
      for (int i = tid; i < rows * cols; i += kTile2X * 8) {
        const int r = i / cols, q = i % cols;
        tile[r * kTileW + q] = s[clampi(y0 - ry + r, 0, H - 1) * e[kSrcY] + clampi(x0 - rx + q, 0, W - 1)];
      }
    }
    __syncthreads();
    for (int j = threadIdx.y; j < kTile2Y; j += 8) {
      const int64_t y = y0 + j;
      if (y >= e[kOy1] || x >= e[kOx1]) continue;
      T acc = static_cast<T>(NAN);
      if (fits) {
        acc = T(0);
        for (int dy = 0; dy < kh; ++dy) {
          const T* trow = tile + (j + dy) * kTileW + threadIdx.x;
          const T* krow = kern + dy * kw;
          for (int dx = 0; dx < kw; ++dx) {
            const T wgt = krow[dx];
            if (wgt != T(0)) acc += wgt * trow[dx];
          }
        }
      }
      dst[e[kDst] + c * e[kDstC] + y * e[kDstY] + x] = clip01(acc);
    }
    __syncthreads();
  }
}

// ---- reiqa unsharp_mask: Laplacian from numpy.gradient passes -----------------------------------

template <typename T>
__global__ void __launch_bounds__(kLapTX * 8)
    unsharp_laplacian_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                             const double* __restrict__ values, int64_t tiles_x) {
  constexpr int kTileW = kLapTX + 2 * kLapHalo, kRows = kLapTY + 2 * kLapHalo;
  __shared__ T Ls[kRows * kTileW];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t y0 = e[kOy0] + static_cast<int64_t>(blockIdx.x / tiles_x) * kLapTY;
  const int64_t x0 = e[kOx0] + static_cast<int64_t>(blockIdx.x % tiles_x) * kLapTX;
  if (y0 >= e[kOy1] || x0 >= e[kOx1]) return;  // uniform per block
  const int tid = threadIdx.y * kLapTX + threadIdx.x;
  const int64_t H = e[kH], W = e[kW];
  const int64_t sc = e[kSrcC];
  const T* s0 = src + e[kSrc];
  for (int i = tid; i < kRows * kTileW; i += kLapTX * 8) {
    const int r = i / kTileW, q = i % kTileW;
    const T* s = s0 + clampi(y0 - kLapHalo + r, 0, H - 1) * e[kSrcY] + clampi(x0 - kLapHalo + q, 0, W - 1);
    Ls[i] = color::rgb_to_lab_l(s[0], s[sc], s[2 * sc]);
  }
  __syncthreads();
  const int64_t ybase = y0 - kLapHalo, xbase = x0 - kLapHalo;
  auto L = [&](int64_t yy, int64_t xx) { return Ls[(yy - ybase) * kTileW + (xx - xbase)]; };
  // numpy.gradient along x of L's row yy at xx, then of that gradient (one-sided at the ends).
  auto gx = [&](int64_t yy, int64_t xx) -> T {
    if (W < 2) return T(0);
    if (xx == 0) return L(yy, 1) - L(yy, 0);
    if (xx == W - 1) return L(yy, W - 1) - L(yy, W - 2);
    return (L(yy, xx + 1) - L(yy, xx - 1)) / T(2);
  };
  auto gy = [&](int64_t yy, int64_t xx) -> T {
    if (H < 2) return T(0);
    if (yy == 0) return L(1, xx) - L(0, xx);
    if (yy == H - 1) return L(H - 1, xx) - L(H - 2, xx);
    return (L(yy + 1, xx) - L(yy - 1, xx)) / T(2);
  };
  auto ggx = [&](int64_t yy, int64_t xx) -> T {
    if (W < 2) return T(0);
    if (xx == 0) return gx(yy, 1) - gx(yy, 0);
    if (xx == W - 1) return gx(yy, W - 1) - gx(yy, W - 2);
    return (gx(yy, xx + 1) - gx(yy, xx - 1)) / T(2);
  };
  auto ggy = [&](int64_t yy, int64_t xx) -> T {
    if (H < 2) return T(0);
    if (yy == 0) return gy(1, xx) - gy(0, xx);
    if (yy == H - 1) return gy(H - 1, xx) - gy(H - 2, xx);
    return (gy(yy + 1, xx) - gy(yy - 1, xx)) / T(2);
  };
  const T amount = static_cast<T>(values[n]);
  const int64_t x = x0 + threadIdx.x;
  for (int j = threadIdx.y; j < kLapTY; j += 8) {
    const int64_t y = y0 + j;
    if (y >= e[kOy1] || x >= e[kOx1]) continue;
    T v = L(y, x) - amount * (ggx(y, x) + ggy(y, x));
    v = v < T(0) ? T(0) : (v > T(100) ? T(100) : v);
    const T* s = s0 + y * e[kSrcY] + x;
    T Lo, A, B, o0, o1, o2;
    color::rgb_to_lab(s[0], s[sc], s[2 * sc], Lo, A, B);
    color::lab_to_rgb(v, A, B, o0, o1, o2);
    T* d = dst + e[kDst] + y * e[kDstY] + x;
    d[0] = clip01(o0);
    d[e[kDstC]] = clip01(o1);
    d[2 * e[kDstC]] = clip01(o2);
  }
}

// ---- host side -----------------------------------------------------------------------------------

enum class Engine { kNone, kSepSmall, kSepLarge, kCorrelate2d, kLaplacian };

struct Plan {
  Engine engine;
  int mode;
};

Plan plan_of(const GroupArgs& a) {
  const bool reiqa = a.preset == static_cast<int32_t>(Preset::kReiqa);
  switch (a.type) {
    case kMotionBlur: return reiqa ? Plan{Engine::kSepSmall, kPlain} : Plan{Engine::kCorrelate2d, kPlain};
    case kGaussianBlur: return {Engine::kSepSmall, kPlain};
    case kLensBlur: return {Engine::kCorrelate2d, kPlain};
    case kUnsharpMask: return reiqa ? Plan{Engine::kLaplacian, kPlain} : Plan{Engine::kSepSmall, kSharpen};
    case kDenoise: return reiqa ? Plan{Engine::kSepSmall, kNoisy} : Plan{Engine::kNone, kPlain};
    case kColorDiffuse: return {Engine::kSepLarge, kDiffuse};
    default: return {Engine::kNone, kPlain};
  }
}

int planes_of_mode(int mode) { return mode == kDiffuse ? 2 : (mode == kSharpen ? 1 : 3); }

WsShape ws_shape(const GroupArgs& a, Engine engine) {
  const int64_t halo = engine == Engine::kSepLarge ? kLargeHalo : kSmallHalo;
  const int64_t rows = a.max_out_h + 2 * halo < a.max_h ? a.max_out_h + 2 * halo : a.max_h;
  return {rows, a.max_out_w};
}

template <typename T, int MODE, int XW, int HALO, int NBUF>
Status launch_separable(const GroupArgs& a, cudaStream_t stream) {
  if (a.itable == nullptr || a.i_stride < kSepIStride || a.f_stride > kMaxTaps || a.ftable == nullptr ||
      a.workspace == nullptr)
    return Status::kInvalidArgument;
  const Plan plan = plan_of(a);
  const WsShape ws = ws_shape(a, plan.engine);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  T* work = static_cast<T*>(a.workspace);
  constexpr int kPlanes = planes_of<MODE>();
  const int64_t row_tiles = (a.max_out_w + kRowTile - 1) / kRowTile;
  if (kPlanes * ws.rows > 65535) return Status::kInvalidArgument;  // grid.y: (plane, row)
  const dim3 grid_rows(static_cast<unsigned>(row_tiles), static_cast<unsigned>(kPlanes * ws.rows),
                       static_cast<unsigned>(a.n));
  auto* rows_kernel = sep_rows_kernel<T, MODE>;
  auto* cols_kernel = sep_cols_kernel<T, MODE, XW, HALO, NBUF>;
  PYIQA_FAST_LAUNCH(rows_kernel, grid_rows, dim3(kRowTile), 0, stream, src, work, a.entries,
                    a.values, a.ftable, a.f_stride, a.itable, a.i_stride, ws.rows, ws.cols);
  const int64_t tiles_x = (a.max_out_w + XW - 1) / XW;
  const int64_t tiles_y = (a.max_out_h + kColTileY - 1) / kColTileY;
  const dim3 grid_cols(static_cast<unsigned>(tiles_x * tiles_y), 1u, static_cast<unsigned>(a.n));
  PYIQA_FAST_LAUNCH(cols_kernel, grid_cols, dim3(XW, kColThreadsY), 0, stream, src,
                    dst, static_cast<const T*>(work), a.entries, a.values, a.ftable, a.f_stride, a.itable, a.i_stride,
                    ws.rows, ws.cols, tiles_x, a.preset);
  return Status::kOk;
}

template <typename T, int MODE>
Status launch_sep_small(const GroupArgs& a, cudaStream_t stream) {
  return launch_separable<T, MODE, kSmallXW, kSmallHalo, 2>(a, stream);
}

template <typename T>
Status launch_typed(const GroupArgs& a, cudaStream_t stream) {
  if (a.n > 65535) return Status::kInvalidArgument;  // grid limit; the schedule splits larger groups
  const Plan plan = plan_of(a);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  switch (plan.engine) {
    case Engine::kSepSmall:
      switch (plan.mode) {
        case kPlain: return launch_sep_small<T, kPlain>(a, stream);
        case kNoisy: return launch_sep_small<T, kNoisy>(a, stream);
        case kSharpen: return launch_sep_small<T, kSharpen>(a, stream);
        default: return Status::kUnsupportedDType;
      }
    case Engine::kSepLarge:
      return launch_separable<T, kDiffuse, kLargeXW, kLargeHalo, 1>(a, stream);
    case Engine::kCorrelate2d: {
      if (a.itable == nullptr || a.i_stride < 2 || a.ftable == nullptr) return Status::kInvalidArgument;
      dim3 grid;
      int64_t tiles_x;
      if (!out_tile_grid<kTile2X, kTile2Y>(a, grid, tiles_x)) return Status::kInvalidArgument;
      PYIQA_FAST_LAUNCH(correlate2d_kernel<T>, grid, dim3(kTile2X, 8), 0, stream, src, dst, a.entries, a.ftable,
                        a.f_stride, a.itable, a.i_stride, tiles_x);
      return Status::kOk;
    }
    case Engine::kLaplacian: {
      dim3 grid;
      int64_t tiles_x;
      if (!out_tile_grid<kLapTX, kLapTY>(a, grid, tiles_x)) return Status::kInvalidArgument;
      PYIQA_FAST_LAUNCH(unsharp_laplacian_kernel<T>, grid, dim3(kLapTX, 8), 0, stream, src, dst, a.entries,
                        a.values, tiles_x);
      return Status::kOk;
    }
    default:
      return Status::kUnsupportedDType;
  }
}

bool handles(int32_t type) {
  return type == kMotionBlur || type == kGaussianBlur || type == kLensBlur || type == kUnsharpMask ||
         type == kDenoise || type == kColorDiffuse;
}

size_t workspace_bytes(const GroupArgs& a) {
  const Plan plan = plan_of(a);
  if (plan.engine != Engine::kSepSmall && plan.engine != Engine::kSepLarge) return 0;
  const WsShape ws = ws_shape(a, plan.engine);
  const size_t elem = a.is_double ? sizeof(double) : sizeof(float);
  return static_cast<size_t>(a.n) * planes_of_mode(plan.mode) * static_cast<size_t>(ws.rows * ws.cols) * elem;
}

Status launch(const GroupArgs& a, cudaStream_t stream) {
  return a.is_double ? launch_typed<double>(a, stream) : launch_typed<float>(a, stream);
}

}  // namespace

const CudaClass kStencilCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
