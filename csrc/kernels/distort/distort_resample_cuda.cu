// distort on CUDA, resample class (DISTORTIONS.md §4.1–4.4, §4.11, §6): the Pillow convolution
// resizes, the nearest-neighbour down/up maps (resize_nearest, pixelate) and jitter. See
// distort_cuda.h for the group contract; the per-entry tables are built on the host by
// pyiqa_fast/ops/distort/impl/cuda_tables/resample.py (layouts documented there). The CPU model of
// the same maths is distort_resample_cpu.cpp; the reference is ops/distort/impl/reference/resample.py.
//
// Every launch covers all entries of the group (entry = blockIdx.y); tiles beyond an entry's image
// exit at once (the launch geometry uses the group's largest image, the host never reads device
// data). Intermediate images live in the workspace: buffer b of entry n at
// workspace + (b·N + n)·3·max_h·max_w elements, laid out compactly (3, h, w) with its own h, w.
//
// - resize_bicubic / resize_bilinear / resize_lanczos: four separable gather passes
//   x W→ws (src → buf0), y H→hs (buf0 → buf1), x ws→W (buf1 → buf0), y hs→H (buf0 → dst out-region,
//   clipped); each output pixel reads its padded sparse weights (first tap, tap count, weights) from
//   the host table; a pass whose size does not change carries an identity table (one tap, weight 1,
//   exact). One thread per output pixel, all three channels; coalesced along x.
// - pixelate / resize_nearest: down∘up composed on the host into one row map and one column map per
//   entry; one gather launch over the out-regions.
// - jitter: five dependent iterations. reiqa: B-spline prefilter as a row-recursive pass (one thread
//   per row and channel, src|buf0 → buf1) and a column-recursive pass (one thread per column and
//   channel, in place on buf1), then the 4×4 warp buf1 → buf0 (dst at the last iteration). kadis /
//   arniqa: the warp alone, ping-pong src → buf0 → buf1 → … → dst. Clipped after every iteration;
//   only the last iteration writes (only) the out-region.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/cuda_launch.h"
#include "common/philox.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"
#include "kernels/distort/distort_cuda_device.cuh"

namespace pyiqa_fast::distort {
namespace {

constexpr int kTileX = 32, kTileY = 8;  // 2-D pixel tiles (coalesced along x)
constexpr int kLineThreads = 128;       // 1-D blocks of the recursive line passes
constexpr int kGridYLimit = 65535;

// Resize table header (itable, per entry): hs, ws, then per pass (f_offset, taps, i_offset).
constexpr int kHdrHs = 0, kHdrWs = 1, kHdrPass = 2, kHdrPassStride = 3;

// Everything a kernel of this file needs; passed by value.
template <typename T>
struct Args {
  const T* src;
  T* dst;
  const int64_t* entries;
  const double* values;
  const double* ftable;
  const int64_t* itable;
  int64_t f_stride, i_stride;
  int64_t n;         // entries
  T* workspace;
  int64_t slot;      // elements of one workspace image (3·max_h·max_w)
  int32_t preset;
  int64_t tiles_x;   // tiles per row of the launch's tile grid
};

template <typename T>
__device__ __forceinline__ T* ws_image(const Args<T>& a, int buffer, int64_t n) {
  return a.workspace + (static_cast<int64_t>(buffer) * a.n + n) * a.slot;
}

// The pixel of this thread in a tile grid of `tiles_x` tiles per row anchored at (y0, x0).
__device__ __forceinline__ void tile_origin_pixel(int64_t tiles_x, int64_t y0, int64_t x0, int64_t& y, int64_t& x) {
  const int64_t tile = blockIdx.x;
  y = y0 + (tile / tiles_x) * kTileY + threadIdx.y;
  x = x0 + (tile % tiles_x) * kTileX + threadIdx.x;
}

// ---------------------------------------------------------------------------------------------
// Resize family: one separable pass. kPass 0: x, src (H, W) → buf0 (H, ws); 1: y, buf0 → buf1
// (hs, ws); 2: x, buf1 → buf0 (hs, W); 3: y, buf0 → dst (H, W) out-region, clipped.

template <typename T, int kPass>
__global__ void resize_pass_kernel(Args<T> a) {
  const int64_t n = blockIdx.y;
  const int64_t* e = a.entries + n * kNumFields;
  const int64_t* it = a.itable + n * a.i_stride;
  const double* ft = a.ftable + n * a.f_stride;
  const int64_t h = e[kH], w = e[kW], hs = it[kHdrHs], ws = it[kHdrWs];
  constexpr bool kHorizontal = kPass % 2 == 0;
  // (rows, cols) of the pass's input and output.
  const int64_t in_h = kPass == 0 ? h : (kPass == 1 ? h : hs);
  const int64_t in_w = kPass == 0 ? w : (kPass == 3 ? w : ws);
  const int64_t out_h = kPass == 0 ? h : (kPass == 3 ? h : hs);
  const int64_t out_w = kPass == 0 ? ws : (kPass == 1 ? ws : w);
  int64_t y, x;
  if constexpr (kPass == 3) {
    tile_origin_pixel(a.tiles_x, e[kOy0], e[kOx0], y, x);
    if (y >= e[kOy1] || x >= e[kOx1]) return;
  } else {
    tile_origin_pixel(a.tiles_x, 0, 0, y, x);
    if (y >= out_h || x >= out_w) return;
  }
  const T* in;
  int64_t in_c, in_y;
  if constexpr (kPass == 0) {
    in = a.src + e[kSrc];
    in_c = e[kSrcC];
    in_y = e[kSrcY];
  } else {
    in = ws_image(a, kPass == 2 ? 1 : 0, n);
    in_c = in_h * in_w;
    in_y = in_w;
  }
  const int64_t* hdr = it + kHdrPass + kHdrPassStride * kPass;
  const int64_t taps = hdr[1];
  const int64_t i = kHorizontal ? x : y;  // the output index along the pass's axis
  const int64_t first = it[hdr[2] + 2 * i], len = it[hdr[2] + 2 * i + 1];
  const double* wt = ft + hdr[0] + i * taps;
  const int64_t step = kHorizontal ? 1 : in_y;
  const T* p = in + (kHorizontal ? y * in_y + first : first * in_y + x);
  T acc[3] = {T(0), T(0), T(0)};
  for (int64_t j = 0; j < len; ++j) {
    const T k = static_cast<T>(wt[j]);
    const T* q = p + j * step;
    for (int c = 0; c < 3; ++c) acc[c] += q[c * in_c] * k;
  }
  if constexpr (kPass == 3) {
    T* d = a.dst + e[kDst] + y * e[kDstY] + x;
    for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = clip01(acc[c]);
  } else {
    T* d = ws_image(a, kPass == 1 ? 1 : 0, n) + y * out_w + x;
    for (int c = 0; c < 3; ++c) d[c * out_h * out_w] = acc[c];
  }
}

// ---------------------------------------------------------------------------------------------
// pixelate / resize_nearest: out(y, x) = src(rows[y], cols[x]) over the out-region. itable per
// entry: [cols offset, rows map..., cols map...].

template <typename T>
__global__ void gather_kernel(Args<T> a) {
  const int64_t n = blockIdx.y;
  const int64_t* e = a.entries + n * kNumFields;
  int64_t y, x;
  tile_origin_pixel(a.tiles_x, e[kOy0], e[kOx0], y, x);
  if (y >= e[kOy1] || x >= e[kOx1]) return;
  const int64_t* it = a.itable + n * a.i_stride;
  const int64_t sy = it[1 + y], sx = it[it[0] + x];
  const T* s = a.src + e[kSrc] + sy * e[kSrcY] + sx;
  T* d = a.dst + e[kDst] + y * e[kDstY] + x;
  for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = clip01(s[c * e[kSrcC]]);
}

// ---------------------------------------------------------------------------------------------
// Jitter (§4.11).

constexpr double kPole = -0.2679491924311227;  // √3 − 2

// scipy spline_filter1d(order=3, mode='reflect') of one line (gain already applied), in place:
// the half-sample-symmetric causal initial value, causal pass, c[n−1]·z/(z − 1), anti-causal pass.
template <typename T>
__device__ void spline_line(T* c, int64_t len, int64_t stride) {
  const double z = kPole;
  const T zt = static_cast<T>(z);
  const double z_n = pow(z, static_cast<double>(len));
  const T zn = static_cast<T>(z_n);
  const T c0 = c[0];
  T acc = c[0] + zn * c[(len - 1) * stride];
  double z_i = z;
  for (int64_t i = 1; i < len; ++i) {
    acc += static_cast<T>(z_i) * (c[i * stride] + zn * c[(len - 1 - i) * stride]);
    z_i *= z;
  }
  c[0] = acc * static_cast<T>(z / (1 - z_n * z_n)) + c0;
  T prev = c[0];
  for (int64_t i = 1; i < len; ++i) {
    const T v = c[i * stride] + zt * prev;
    c[i * stride] = v;
    prev = v;
  }
  prev = c[(len - 1) * stride] * static_cast<T>(z / (z - 1));
  c[(len - 1) * stride] = prev;
  for (int64_t i = len - 2; i >= 0; --i) {
    const T v = zt * (prev - c[i * stride]);
    c[i * stride] = v;
    prev = v;
  }
}

// Rows: (src at iteration 0, else buf0) · gain → buf1, then filtered along x; one thread per (c, y).
template <typename T>
__global__ void spline_rows_kernel(Args<T> a, int from_src) {
  const int64_t n = blockIdx.y;
  const int64_t* e = a.entries + n * kNumFields;
  const int64_t h = e[kH], w = e[kW];
  const int64_t line = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (line >= 3 * h) return;
  const int64_t c = line / h, y = line % h;
  const T* in = from_src ? a.src + e[kSrc] + c * e[kSrcC] + y * e[kSrcY] : ws_image(a, 0, n) + line * w;
  T* out = ws_image(a, 1, n) + line * w;
  const T gain = static_cast<T>((1 - kPole) * (1 - 1 / kPole));
  for (int64_t x = 0; x < w; ++x) out[x] = in[x] * gain;
  spline_line(out, w, int64_t{1});
}

// Columns of buf1, in place (gain, then filtered along y); one thread per (c, x): coalesced.
template <typename T>
__global__ void spline_cols_kernel(Args<T> a) {
  const int64_t n = blockIdx.y;
  const int64_t* e = a.entries + n * kNumFields;
  const int64_t h = e[kH], w = e[kW];
  const int64_t line = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (line >= 3 * w) return;
  const int64_t c = line / w, x = line % w;
  T* p = ws_image(a, 1, n) + c * h * w + x;
  const T gain = static_cast<T>((1 - kPole) * (1 - 1 / kPole));
  for (int64_t y = 0; y < h; ++y) p[y * w] *= gain;
  spline_line(p, h, w);
}

__device__ __forceinline__ int64_t reflect_index(int64_t j, int64_t n) {
  if (j >= 0 && j < n) return j;
  const int64_t p = 2 * n;
  j %= p;
  if (j < 0) j += p;
  return j < n ? j : p - 1 - j;
}

__device__ __forceinline__ int64_t clamp_index(int64_t j, int64_t n) { return j < 0 ? 0 : (j >= n ? n - 1 : j); }

__device__ __forceinline__ void bspline_weights(double t, double* wt) {
  const double z = 1.0 - t;
  wt[0] = z * z * z / 6.0;
  wt[1] = (t * t * (t - 2.0) * 3.0 + 4.0) / 6.0;
  wt[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
  wt[3] = t * t * t / 6.0;
}

__device__ __forceinline__ double keys(double s) {
  s = fabs(s);
  if (s < 1) return (1.5 * s - 2.5) * s * s + 1;
  if (s < 2) return ((-0.5 * s + 2.5) * s - 4) * s + 2;
  return 0.0;
}

// One warp iteration: out(y, x) = clip(Σ wy·wx·in(taps at (y − n0·v, x − n1·v))), (n0, n1) the
// normals of draw `iter` at the pixel's image coordinates. in_buf −1: src; out_buf −1: dst's
// out-region (else the whole image into the workspace buffer).
template <typename T, int kTaps>
__global__ void warp_kernel(Args<T> a, int iter, int in_buf, int out_buf) {
  const int64_t n = blockIdx.y;
  const int64_t* e = a.entries + n * kNumFields;
  const int64_t h = e[kH], w = e[kW];
  int64_t y, x;
  if (out_buf < 0) {
    tile_origin_pixel(a.tiles_x, e[kOy0], e[kOx0], y, x);
    if (y >= e[kOy1] || x >= e[kOx1]) return;
  } else {
    tile_origin_pixel(a.tiles_x, 0, 0, y, x);
    if (y >= h || x >= w) return;
  }
  const philox::Uint4 word = philox::draw(static_cast<uint64_t>(e[kSeed]), static_cast<uint32_t>(e[kRngX0] + x),
                                          static_cast<uint32_t>(e[kRngY0] + y), static_cast<uint32_t>(iter));
  double n0, n1;
  if constexpr (sizeof(T) == sizeof(float)) {
    float f0, f1;
    philox::box_muller(word.x, word.y, f0, f1);
    n0 = f0;
    n1 = f1;
  } else {
    philox::box_muller(word.x, word.y, n0, n1);
  }
  const double amount = a.values[n];
  const double yy = static_cast<double>(y) - n0 * amount;
  const double xx = static_cast<double>(x) - n1 * amount;
  const double fy = floor(yy), fx = floor(xx);
  constexpr int first = kTaps / 2 - 1;
  const int64_t iy = static_cast<int64_t>(fy) - first, ix = static_cast<int64_t>(fx) - first;
  const bool reflect = kTaps == 4 && a.preset == static_cast<int32_t>(Preset::kReiqa);
  const bool inside = iy >= 0 && iy + kTaps <= h && ix >= 0 && ix + kTaps <= w;
  const T* in;
  int64_t in_c, in_y;
  if (in_buf < 0) {
    in = a.src + e[kSrc];
    in_c = e[kSrcC];
    in_y = e[kSrcY];
  } else {
    in = ws_image(a, in_buf, n);
    in_c = h * w;
    in_y = w;
  }
  int64_t ry[kTaps], rx[kTaps];
  for (int k = 0; k < kTaps; ++k) {
    ry[k] = (inside ? iy + k : reflect ? reflect_index(iy + k, h) : clamp_index(iy + k, h)) * in_y;
    rx[k] = inside ? ix + k : reflect ? reflect_index(ix + k, w) : clamp_index(ix + k, w);
  }
  double wy[kTaps], wx[kTaps];
  if constexpr (kTaps == 2) {
    wy[0] = 1 - (yy - fy);
    wy[1] = yy - fy;
    wx[0] = 1 - (xx - fx);
    wx[1] = xx - fx;
  } else {
    if (reflect) {
      bspline_weights(yy - fy, wy);
      bspline_weights(xx - fx, wx);
    } else {
      const double ty = yy - fy, tx = xx - fx;
      wy[0] = keys(ty + 1); wy[1] = keys(ty); wy[2] = keys(1 - ty); wy[3] = keys(2 - ty);
      wx[0] = keys(tx + 1); wx[1] = keys(tx); wx[2] = keys(1 - tx); wx[3] = keys(2 - tx);
    }
  }
  T wxt[kTaps], wyt[kTaps];
  for (int k = 0; k < kTaps; ++k) {
    wxt[k] = static_cast<T>(wx[k]);
    wyt[k] = static_cast<T>(wy[k]);
  }
  T out[3];
  for (int c = 0; c < 3; ++c) {
    const T* p = in + c * in_c;
    T s = 0;
    for (int i = 0; i < kTaps; ++i) {
      const T* row = p + ry[i];
      T t = 0;
      for (int j = 0; j < kTaps; ++j) t += wxt[j] * row[rx[j]];
      s += wyt[i] * t;
    }
    out[c] = clip01(s);
  }
  if (out_buf < 0) {
    T* d = a.dst + e[kDst] + y * e[kDstY] + x;
    for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = out[c];
  } else {
    T* d = ws_image(a, out_buf, n) + y * w + x;
    for (int c = 0; c < 3; ++c) d[c * h * w] = out[c];
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers.

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool is_resize(int32_t type) { return type == kResizeBicubic || type == kResizeBilinear || type == kResizeLanczos; }

template <typename T>
Status launch_typed(const GroupArgs& g, cudaStream_t stream) {
  if (g.n > kGridYLimit) return Status::kInvalidArgument;  // grid.y limit
  Args<T> a{static_cast<const T*>(g.src), static_cast<T*>(g.dst), g.entries, g.values, g.ftable, g.itable,
            g.f_stride, g.i_stride, g.n, static_cast<T*>(g.workspace), 3 * g.max_h * g.max_w, g.preset, 0};
  const unsigned entries = static_cast<unsigned>(g.n);
  const dim3 tile(kTileX, kTileY);
  // Tile grids: over the largest image (intermediates) and over the largest out-region.
  const int64_t full_x = ceil_div(g.max_w, kTileX), full_tiles = full_x * ceil_div(g.max_h, kTileY);
  const int64_t out_x = ceil_div(g.max_out_w, kTileX), out_tiles = out_x * ceil_div(g.max_out_h, kTileY);
  Args<T> full = a, out = a;
  full.tiles_x = full_x;
  out.tiles_x = out_x;
  const dim3 full_grid(static_cast<unsigned>(full_tiles), entries), out_grid(static_cast<unsigned>(out_tiles), entries);

  if (is_resize(g.type)) {
    if (g.itable == nullptr || g.ftable == nullptr || a.workspace == nullptr) return Status::kInvalidArgument;
    PYIQA_FAST_LAUNCH((resize_pass_kernel<T, 0>), full_grid, tile, 0, stream, full);
    PYIQA_FAST_LAUNCH((resize_pass_kernel<T, 1>), full_grid, tile, 0, stream, full);
    PYIQA_FAST_LAUNCH((resize_pass_kernel<T, 2>), full_grid, tile, 0, stream, full);
    PYIQA_FAST_LAUNCH((resize_pass_kernel<T, 3>), out_grid, tile, 0, stream, out);
    return Status::kOk;
  }
  if (g.type == kPixelate || g.type == kResizeNearest) {
    if (g.itable == nullptr) return Status::kInvalidArgument;
    PYIQA_FAST_LAUNCH(gather_kernel<T>, out_grid, tile, 0, stream, out);
    return Status::kOk;
  }
  if (g.type == kJitter) {
    if (a.workspace == nullptr) return Status::kInvalidArgument;
    const Preset preset = static_cast<Preset>(g.preset);
    if (preset == Preset::kReiqa) {
      const dim3 line(kLineThreads);
      const dim3 rows_grid(static_cast<unsigned>(ceil_div(3 * g.max_h, kLineThreads)), entries);
      const dim3 cols_grid(static_cast<unsigned>(ceil_div(3 * g.max_w, kLineThreads)), entries);
      for (int t = 0; t < 5; ++t) {
        PYIQA_FAST_LAUNCH(spline_rows_kernel<T>, rows_grid, line, 0, stream, a, t == 0 ? 1 : 0);
        PYIQA_FAST_LAUNCH(spline_cols_kernel<T>, cols_grid, line, 0, stream, a);
        if (t < 4) PYIQA_FAST_LAUNCH((warp_kernel<T, 4>), full_grid, tile, 0, stream, full, t, 1, 0);
        else PYIQA_FAST_LAUNCH((warp_kernel<T, 4>), out_grid, tile, 0, stream, out, t, 1, -1);
      }
      return Status::kOk;
    }
    for (int t = 0; t < 5; ++t) {
      const int in_buf = t == 0 ? -1 : (t - 1) % 2;
      if (preset == Preset::kArniqa) {
        if (t < 4) PYIQA_FAST_LAUNCH((warp_kernel<T, 2>), full_grid, tile, 0, stream, full, t, in_buf, t % 2);
        else PYIQA_FAST_LAUNCH((warp_kernel<T, 2>), out_grid, tile, 0, stream, out, t, in_buf, -1);
      } else {
        if (t < 4) PYIQA_FAST_LAUNCH((warp_kernel<T, 4>), full_grid, tile, 0, stream, full, t, in_buf, t % 2);
        else PYIQA_FAST_LAUNCH((warp_kernel<T, 4>), out_grid, tile, 0, stream, out, t, in_buf, -1);
      }
    }
    return Status::kOk;
  }
  return Status::kUnsupportedDType;
}

bool handles(int32_t type) {
  return is_resize(type) || type == kResizeNearest || type == kPixelate || type == kJitter;
}

size_t workspace_bytes(const GroupArgs& g) {
  if (!is_resize(g.type) && g.type != kJitter) return 0;
  const size_t elem = g.is_double ? sizeof(double) : sizeof(float);
  return 2 * static_cast<size_t>(g.n) * 3 * static_cast<size_t>(g.max_h) * static_cast<size_t>(g.max_w) * elem;
}

Status launch(const GroupArgs& g, cudaStream_t stream) {
  return g.is_double ? launch_typed<double>(g, stream) : launch_typed<float>(g, stream);
}

}  // namespace

const CudaClass kResampleCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
