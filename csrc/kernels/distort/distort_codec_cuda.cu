// distort on CUDA, codec / fill class (DISTORTIONS.md §6): color_block, non_eccentricity, jpeg.
// See distort_cuda.h for the group contract.
//
// color_block (§4.12) and non_eccentricity (§4.13) are sequential pastes on the CPU; here every
// out-region pixel resolves its own history, so both are one pointwise pass with no workspace.
// Grid (tiles of the largest out-region, entries), kTileY × kTileX threads, one pixel (three
// channels) per thread; the entry's paste list (≤ 80 squares, ≤ 100 copies: the 400 per-call
// uniforms) is decoded once per block into shared memory.
//   color_block: the last square (in paste order) that covers the pixel gives its colour, else
//     the source pixel.
//   non_eccentricity: copy i maps its destination square to its source square in the image as
//     it was before copy i (the patch is read whole, then written), so walking the copies from the
//     last to the first and moving the pixel back through every destination square that holds it
//     ends at the source pixel whose value lands there.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/cuda_launch.h"
#include "kernels/distort/distort.h"
#include "kernels/distort/distort_cuda.h"
#include "kernels/distort/distort_cuda_device.cuh"

namespace pyiqa_fast::distort {
namespace {

constexpr int kTileX = 32, kTileY = 8;
constexpr int kThreads = kTileX * kTileY;
constexpr int kMaxSquares = kAuxSize / 5;  // color_block: 5 uniforms per square
constexpr int kMaxCopies = kAuxSize / 4;   // non_eccentricity: 4 uniforms per copy
constexpr int kPatch = 16;

__device__ __forceinline__ int thread_rank() { return threadIdx.x + threadIdx.y * kTileX; }

// ---- color_block -------------------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kThreads)
    color_block_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                       const double* __restrict__ values, const double* __restrict__ aux, int32_t preset,
                       int64_t tiles_x) {
  __shared__ int s_x[kMaxSquares], s_y[kMaxSquares];
  __shared__ T s_colour[3][kMaxSquares];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t ry0 = e[kRy0], rx0 = e[kRx0], rh = e[kRy1] - ry0, rw = e[kRx1] - rx0;
  const int64_t sh = rh < 32 ? rh : 32, sw = rw < 32 ? rw : 32;
  int count = static_cast<int>(values[n]);
  count = count < 0 ? 0 : (count > kMaxSquares ? kMaxSquares : count);
  // Square i: top-left (x0 + ⌊u0·(W_r − s)⌋, y0 + ⌊u1·(H_r − s)⌋), colour u2..u4 (arniqa) or ⌊256u⌋/255.
  for (int i = thread_rank(); i < count; i += kThreads) {
    const double* u = aux + n * kAuxSize + 5 * i;
    s_x[i] = static_cast<int>(rx0 + static_cast<int64_t>(floor(u[0] * static_cast<double>(rw - sw))));
    s_y[i] = static_cast<int>(ry0 + static_cast<int64_t>(floor(u[1] * static_cast<double>(rh - sh))));
    for (int c = 0; c < 3; ++c) {
      const double v = preset == static_cast<int32_t>(Preset::kArniqa) ? u[2 + c] : floor(u[2 + c] * 256) / 255;
      s_colour[c][i] = static_cast<T>(v);
    }
  }
  __syncthreads();
  int64_t y, x;
  if (!tile_pixel<kTileX, kTileY>(e, tiles_x, y, x)) return;
  int hit = -1;
  for (int i = count - 1; i >= 0; --i) {
    if (y >= s_y[i] && y < s_y[i] + sh && x >= s_x[i] && x < s_x[i] + sw) {
      hit = i;
      break;
    }
  }
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  const int64_t dc = e[kDstC];
  if (hit >= 0) {
    for (int c = 0; c < 3; ++c) d[c * dc] = clip01(s_colour[c][hit]);
  } else {
    const T* s = src + e[kSrc] + y * e[kSrcY] + x;
    for (int c = 0; c < 3; ++c) d[c * dc] = clip01(s[c * e[kSrcC]]);
  }
}

// ---- non_eccentricity --------------------------------------------------------------------------

__device__ __forceinline__ int64_t paste_round(double v, bool round_even) {
  return static_cast<int64_t>(round_even ? rint(v) : floor(v));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    non_eccentricity_kernel(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ entries,
                            const double* __restrict__ values, const double* __restrict__ aux, int32_t preset,
                            int64_t tiles_x) {
  __shared__ int s_xd[kMaxCopies], s_yd[kMaxCopies], s_dx[kMaxCopies], s_dy[kMaxCopies];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t ry0 = e[kRy0], rx0 = e[kRx0], rh = e[kRy1] - ry0, rw = e[kRx1] - rx0;
  int count = static_cast<int>(values[n]);
  count = count < 0 ? 0 : (count > kMaxCopies ? kMaxCopies : count);
  if (rh < 49 || rw < 49) count = 0;  // refused on the host (needs a 49 × 49 region); never read outside
  const bool round_even = preset == static_cast<int32_t>(Preset::kArniqa);
  // Copy i: x_s = x0 + rnd(u0·(W_r − 48)) + 16, x_d = rnd((u2 − 0.5)·16 + x_s) (same for y);
  // rnd = floor, or round half to even for arniqa (rint in the default rounding mode).
  for (int i = thread_rank(); i < count; i += kThreads) {
    const double* u = aux + n * kAuxSize + 4 * i;
    const int64_t xs = rx0 + paste_round(u[0] * static_cast<double>(rw - 48), round_even) + 16;
    const int64_t ys = ry0 + paste_round(u[1] * static_cast<double>(rh - 48), round_even) + 16;
    const int64_t xd = paste_round((u[2] - 0.5) * 16 + static_cast<double>(xs), round_even);
    const int64_t yd = paste_round((u[3] - 0.5) * 16 + static_cast<double>(ys), round_even);
    s_xd[i] = static_cast<int>(xd);
    s_yd[i] = static_cast<int>(yd);
    s_dx[i] = static_cast<int>(xs - xd);
    s_dy[i] = static_cast<int>(ys - yd);
  }
  __syncthreads();
  int64_t y, x;
  if (!tile_pixel<kTileX, kTileY>(e, tiles_x, y, x)) return;
  int64_t sy = y, sx = x;
  for (int i = count - 1; i >= 0; --i) {
    if (sy >= s_yd[i] && sy < s_yd[i] + kPatch && sx >= s_xd[i] && sx < s_xd[i] + kPatch) {
      sy += s_dy[i];
      sx += s_dx[i];
    }
  }
  const T* s = src + e[kSrc] + sy * e[kSrcY] + sx;
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  for (int c = 0; c < 3; ++c) d[c * e[kDstC]] = clip01(s[c * e[kSrcC]]);
}

// ---- jpeg --------------------------------------------------------------------------------------
//
// libjpeg-turbo's integer pipeline, as Pillow's save(format='JPEG', quality=q) + open runs it:
// ⌊255x + 0.5⌋ samples, JFIF colour conversion (jccolor.c, 16-bit fixed point), edge replication to
// whole MCUs, 2×2 chroma downsampling with the alternating bias 1, 2 (jcsample.c), islow forward
// DCT (jfdctint.c), quantisation by the reciprocal multiply of the SIMD build (jcdctmgr.c),
// dequantisation, islow inverse DCT (jidctint.c), "fancy" triangular chroma upsampling (jdsample.c;
// plain replication when the chroma plane is at most 2 samples wide) and ycc_rgb_convert
// (jdcolor.c). Entropy coding is lossless and skipped. Each islow 1-D pass is an integer-linear map
// followed by one rounding shift, i.e. an 8×8 integer matrix product (the matrices and the
// quantisation tables come from the host: cuda_tables/codec.py, itable row per entry).
//
// Pass 1 (jpeg_mcu_kernel): grid (MCUs of the largest image, entries), 16 × 16 threads, one MCU
// (four luma and two chroma 8×8 blocks) per block, entirely in shared memory; blocks outside the
// MCUs the entry's out-region (and the upsampler's ±1 chroma sample context) needs exit at once.
// Decoded samples go to the workspace as bytes: per entry a luma plane hp × wp (hp, wp: the
// largest image rounded up to 16) and two chroma planes hp/2 × wp/2.
// Pass 2 (jpeg_decode_kernel): the pointwise grid over the out-region: upsampling, colour
// conversion, ÷255.

constexpr int kJpegMatrices = 224, kJpegItable = kJpegMatrices + 2 * 4 * 64;

struct JpegLayout {
  int64_t hp, wp, mcu_cols, mcus;
  size_t entry_bytes;
};

JpegLayout jpeg_layout(const GroupArgs& a) {
  JpegLayout l{};
  l.hp = (a.max_h + 15) / 16 * 16;
  l.wp = (a.max_w + 15) / 16 * 16;
  l.mcu_cols = l.wp / 16;
  l.mcus = (l.hp / 16) * l.mcu_cols;
  l.entry_bytes = static_cast<size_t>(l.hp * l.wp + l.hp * l.wp / 2);
  return l;
}

// Chroma samples [lo, hi] (rows or columns) of the upsampler's reads for out-region [o0, o1).
__device__ __forceinline__ void chroma_span(int64_t o0, int64_t o1, int64_t n_chroma, int64_t& lo, int64_t& hi) {
  lo = o0 / 2 - 1 < 0 ? 0 : o0 / 2 - 1;
  hi = (o1 - 1) / 2 + 1 > n_chroma - 1 ? n_chroma - 1 : (o1 - 1) / 2 + 1;
}

__device__ __forceinline__ int jpeg_sample(double v) {
  // ⌊255x + 0.5⌋ clamped to 0..255, NaN → 0 (reference codec.to_pil).
  const double t = floor(v * 255.0 + 0.5);
  return t == t ? static_cast<int>(t < 0.0 ? 0.0 : (t > 255.0 ? 255.0 : t)) : 0;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    jpeg_mcu_kernel(const T* __restrict__ src, const int64_t* __restrict__ entries,
                    const int64_t* __restrict__ itable, int64_t i_stride, int64_t mcu_cols, int64_t hp, int64_t wp,
                    uint8_t* __restrict__ workspace) {
  __shared__ int s_mat[kJpegMatrices];
  __shared__ int s_q[2 * 4 * 64];
  __shared__ int s_chroma[2][16][16];
  __shared__ int s_a[6][64];
  __shared__ int s_b[6][64];
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  const int64_t h = e[kH], w = e[kW], ch = (h + 1) / 2, cw = (w + 1) / 2;
  int64_t cy_lo, cy_hi, cx_lo, cx_hi;
  chroma_span(e[kOy0], e[kOy1], ch, cy_lo, cy_hi);
  chroma_span(e[kOx0], e[kOx1], cw, cx_lo, cx_hi);
  const int64_t my = blockIdx.x / mcu_cols, mx = blockIdx.x % mcu_cols;
  if (e[kOy1] <= e[kOy0] || e[kOx1] <= e[kOx0] || my < cy_lo / 8 || my > cy_hi / 8 || mx < cx_lo / 8 ||
      mx > cx_hi / 8) {
    return;  // uniform across the block: before any barrier
  }
  const int tx = threadIdx.x, ty = threadIdx.y, t = tx + 16 * ty;
  const int64_t* table = itable + n * i_stride;
  for (int i = t; i < kJpegMatrices + 512; i += kThreads) {
    if (i < kJpegMatrices) {
      s_mat[i] = static_cast<int>(table[i]);
    } else {
      s_q[i - kJpegMatrices] = static_cast<int>(table[i]);
    }
  }
  // Colour conversion of the MCU's 16 × 16 pixels (edge replicated): luma blocks 0..3 (level
  // shifted), Cb and Cr at full resolution for the downsampler.
  {
    const int64_t y = my * 16 + ty, x = mx * 16 + tx;
    const T* p = src + e[kSrc] + (y < h ? y : h - 1) * e[kSrcY] + (x < w ? x : w - 1);
    const int r = jpeg_sample(static_cast<double>(p[0]));
    const int g = jpeg_sample(static_cast<double>(p[e[kSrcC]]));
    const int b = jpeg_sample(static_cast<double>(p[2 * e[kSrcC]]));
    s_a[(ty / 8) * 2 + tx / 8][(ty % 8) * 8 + tx % 8] = ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) - 128;
    s_chroma[0][ty][tx] = (-11059 * r - 21709 * g + 32768 * b + 8388608 + 32767) >> 16;
    s_chroma[1][ty][tx] = (32768 * r - 27439 * g - 5329 * b + 8388608 + 32767) >> 16;
  }
  __syncthreads();
  // 2 × 2 downsampling, bias 1, 2, 1, 2, … along x; chroma rows past ⌈h/2⌉ replicate the last one.
  if (t < 128) {
    const int k = t / 64, r = (t % 64) / 8, c = t % 8;
    const int64_t last = ch - 1 - my * 8;  // ≥ 0: this MCU holds chroma rows
    const int rr = static_cast<int>(r < last ? r : last);
    const int sum = s_chroma[k][2 * rr][2 * c] + s_chroma[k][2 * rr][2 * c + 1] + s_chroma[k][2 * rr + 1][2 * c] +
                    s_chroma[k][2 * rr + 1][2 * c + 1];
    s_a[4 + k][r * 8 + c] = ((sum + 1 + (c & 1)) >> 2) - 128;
  }
  __syncthreads();
  const int* fwd_rows = s_mat;        // [u, x]
  const int* fwd_cols = s_mat + 64;   // [v, y]
  const int* inv = s_mat + 128;       // [out, in]
  const int* add1 = s_mat + 192;
  const int* shift1 = s_mat + 200;
  const int* add2 = s_mat + 208;
  const int* shift2 = s_mat + 216;
  // Forward row pass: s_b[b][y, u] = (Σ_x rows[u, x]·s_a[b][y, x] + add1[u]) >> shift1[u].
  for (int i = t; i < 6 * 64; i += kThreads) {
    const int b = i / 64, y = (i % 64) / 8, u = i % 8;
    int acc = 0;  // |acc| < 2²³ (samples ≤ 128 in magnitude); the forward passes fit in int32
    for (int x = 0; x < 8; ++x) acc += fwd_rows[u * 8 + x] * s_a[b][y * 8 + x];
    s_b[b][y * 8 + u] = (acc + add1[u]) >> shift1[u];
  }
  __syncthreads();
  // Forward column pass, quantisation and dequantisation: s_a[b][v, u] = coefficient.
  for (int i = t; i < 6 * 64; i += kThreads) {
    const int b = i / 64, v = (i % 64) / 8, u = i % 8, k = v * 8 + u;
    int acc = 0;  // |acc| < 2²⁸ (row outputs ≤ 4096 in magnitude)
    for (int y = 0; y < 8; ++y) acc += fwd_cols[v * 8 + y] * s_b[b][y * 8 + u];
    const long long f = (acc + add2[v]) >> shift2[v];
    const int* q = s_q + (b < 4 ? 0 : 256);  // quantval, reciprocal, correction, shift
    const long long mag = (((f < 0 ? -f : f) + q[128 + k]) * q[64 + k]) >> q[192 + k];
    s_a[b][k] = static_cast<int>((f < 0 ? -mag : mag) * q[k]);
  }
  __syncthreads();
  // Inverse passes in int64, as libjpeg's JLONG products.
  // Inverse column pass: s_b[b][y, u] = (Σ_v inv[y, v]·coef[v, u] + 2¹⁰) >> 11.
  for (int i = t; i < 6 * 64; i += kThreads) {
    const int b = i / 64, y = (i % 64) / 8, u = i % 8;
    long long acc = 0;
    for (int v = 0; v < 8; ++v) acc += static_cast<long long>(inv[y * 8 + v]) * s_a[b][v * 8 + u];
    s_b[b][y * 8 + u] = static_cast<int>((acc + 1024) >> 11);
  }
  __syncthreads();
  // Inverse row pass: ((Σ_u inv[x, u]·s_b[b][y, u] + 2¹⁷) >> 18) + 128, range-limited, to the workspace.
  uint8_t* luma = workspace + n * (hp * wp + hp * wp / 2);
  uint8_t* chroma = luma + hp * wp;
  const int64_t cplane = (hp / 2) * (wp / 2), crow = wp / 2;
  for (int i = t; i < 6 * 64; i += kThreads) {
    const int b = i / 64, y = (i % 64) / 8, x = i % 8;
    long long acc = 0;
    for (int u = 0; u < 8; ++u) acc += static_cast<long long>(inv[x * 8 + u]) * s_b[b][y * 8 + u];
    long long o = ((acc + 131072) >> 18) + 128;
    o = o < 0 ? 0 : (o > 255 ? 255 : o);
    if (b < 4) {
      luma[(my * 16 + (b / 2) * 8 + y) * wp + mx * 16 + (b % 2) * 8 + x] = static_cast<uint8_t>(o);
    } else {
      chroma[(b - 4) * cplane + (my * 8 + y) * crow + mx * 8 + x] = static_cast<uint8_t>(o);
    }
  }
}

// h2v2_fancy_upsample at chroma (cy, cx) of the output pixel's parity (cy_nb: the row above for an
// even row, below for an odd one, clamped), or h2v2_upsample's replication when cw ≤ 2.
__device__ __forceinline__ int upsample(const uint8_t* c, int64_t crow, int64_t cy, int64_t cy_nb, int64_t cx,
                                        int64_t cw, bool odd_x) {
  if (cw <= 2) return c[cy * crow + cx];
  int64_t side_x = odd_x ? cx + 1 : cx - 1;
  side_x = side_x < 0 ? 0 : (side_x > cw - 1 ? cw - 1 : side_x);
  const int mid = 3 * c[cy * crow + cx] + c[cy_nb * crow + cx];
  const int side = 3 * c[cy * crow + side_x] + c[cy_nb * crow + side_x];
  return (3 * mid + side + (odd_x ? 7 : 8)) >> 4;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    jpeg_decode_kernel(T* __restrict__ dst, const int64_t* __restrict__ entries, const uint8_t* __restrict__ workspace,
                       int64_t hp, int64_t wp, int64_t tiles_x) {
  const int64_t n = blockIdx.y;
  const int64_t* e = entries + n * kNumFields;
  int64_t y, x;
  if (!tile_pixel<kTileX, kTileY>(e, tiles_x, y, x)) return;
  const int64_t h = e[kH], w = e[kW], ch = (h + 1) / 2, cw = (w + 1) / 2;
  const uint8_t* luma = workspace + n * (hp * wp + hp * wp / 2);
  const uint8_t* chroma = luma + hp * wp;
  const int64_t cplane = (hp / 2) * (wp / 2), crow = wp / 2;
  const int yv = luma[y * wp + x];
  const int64_t cy = y / 2, cx = x / 2;
  int64_t cy_nb = (y & 1) ? cy + 1 : cy - 1;
  cy_nb = cy_nb < 0 ? 0 : (cy_nb > ch - 1 ? ch - 1 : cy_nb);
  const bool odd_x = (x & 1) != 0;
  const int cb = upsample(chroma, crow, cy, cy_nb, cx, cw, odd_x) - 128;
  const int cr = upsample(chroma + cplane, crow, cy, cy_nb, cx, cw, odd_x) - 128;
  int rgb[3] = {yv + ((91881 * cr + 32768) >> 16), yv + ((-22554 * cb + 32768 - 46802 * cr) >> 16),
                yv + ((116130 * cb + 32768) >> 16)};
  T* d = dst + e[kDst] + y * e[kDstY] + x;
  for (int c = 0; c < 3; ++c) {
    const int v = rgb[c] < 0 ? 0 : (rgb[c] > 255 ? 255 : rgb[c]);
    d[c * e[kDstC]] = static_cast<T>(v) / T(255);
  }
}

template <typename T>
Status launch_jpeg(const GroupArgs& a, cudaStream_t stream, dim3 grid, dim3 block, int64_t tiles_x) {
  if (a.itable == nullptr || a.i_stride < kJpegItable) return Status::kInvalidArgument;
  const JpegLayout l = jpeg_layout(a);
  if (l.mcus > 0x7fffffff) return Status::kInvalidArgument;
  uint8_t* ws = static_cast<uint8_t*>(a.workspace);
  PYIQA_FAST_LAUNCH(jpeg_mcu_kernel<T>, dim3(static_cast<unsigned>(l.mcus), static_cast<unsigned>(a.n)), dim3(16, 16),
                    0, stream, static_cast<const T*>(a.src), a.entries, a.itable, a.i_stride, l.mcu_cols, l.hp, l.wp,
                    ws);
  PYIQA_FAST_LAUNCH(jpeg_decode_kernel<T>, grid, block, 0, stream, static_cast<T*>(a.dst), a.entries,
                    static_cast<const uint8_t*>(ws), l.hp, l.wp, tiles_x);
  return Status::kOk;
}

template <typename T>
Status launch_typed(const GroupArgs& a, cudaStream_t stream) {
  dim3 grid;
  int64_t tiles_x;
  if (!out_tile_grid<kTileX, kTileY>(a, grid, tiles_x) || a.max_h > 0x3fffffff || a.max_w > 0x3fffffff)
    return Status::kInvalidArgument;
  const dim3 block(kTileX, kTileY);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  switch (a.type) {
    case kColorBlock:
      PYIQA_FAST_LAUNCH(color_block_kernel<T>, grid, block, 0, stream, src, dst, a.entries, a.values, a.aux, a.preset,
                        tiles_x);
      return Status::kOk;
    case kNonEccentricity:
      PYIQA_FAST_LAUNCH(non_eccentricity_kernel<T>, grid, block, 0, stream, src, dst, a.entries, a.values, a.aux,
                        a.preset, tiles_x);
      return Status::kOk;
    case kJpeg:
      return launch_jpeg<T>(a, stream, grid, block, tiles_x);
    default:
      return Status::kUnsupportedDType;
  }
}

bool handles(int32_t type) { return type == kColorBlock || type == kNonEccentricity || type == kJpeg; }
size_t workspace_bytes(const GroupArgs& a) {
  return a.type == kJpeg ? static_cast<size_t>(a.n) * jpeg_layout(a).entry_bytes : 0;
}
Status launch(const GroupArgs& a, cudaStream_t stream) {
  return a.is_double ? launch_typed<double>(a, stream) : launch_typed<float>(a, stream);
}

}  // namespace

const CudaClass kCodecCuda{handles, workspace_bytes, launch};

}  // namespace pyiqa_fast::distort
