// dsm_pool — CUDA kernels.
//
// Forward mapping: one block (256 threads) owns one strip (b, u): the p input rows of one row
// of output cells, all columns. The columns are taken in chunks of whole cells (≤ 2048
// columns): thread t sums |ref − dist| over the strip's rows and the 3 channels of columns
// t, t + 256, … (adjacent threads read adjacent columns: coalesced for NCHW rows) into a
// shared-memory row of column sums; after a barrier, thread t adds the p column sums of cells
// t, t + 256, … and writes them. Bytes moved: 2·B·3·H·W·sizeof(T) read once, B·H/p·W/p
// outputs written once; ≈ 3 FLOPs per input pair. Accumulation in float (double for double
// inputs), in the same order as the CPU kernel (row, then channel, then the cell's columns).
// No atomics: deterministic. Limits: pool ≤ kCudaMaxPool (one cell must fit in a chunk),
// B·out_h ≤ 2^31 − 1 blocks.
//
// Backward: elementwise, one thread per pixel (b, h, w) in a grid-stride loop, all 3 channels;
// writes ±s (the caller's scale of the pixel's cell, already in the input dtype), or 0 at equality
// and where ref − dist is NaN (torch's sign(NaN) = 0); gradients are contiguous NCHW (coalesced writes). 16-bit values
// are negated by flipping the sign bit: no rounding happens in the kernel.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_utils.cuh"
#include "kernels/dsm_pool/dsm_pool.h"

namespace pyiqa_fast::dsm_pool {
namespace {

constexpr int64_t kChunkCols = 2048;

// Reads and writes per storage type. The 16-bit types are handled as raw uint16_t bits.
template <typename T>
struct Io;
template <>
struct Io<uint8_t> {
  using Acc = float;
  using Out = float;
  static constexpr double kDenominator = 255.0;  // uint8 images are read as value / 255
  static __device__ PYIQA_FAST_INLINE float absdiff(uint8_t a, uint8_t b) {
    return static_cast<float>(abs(static_cast<int>(a) - static_cast<int>(b)));
  }
  static __device__ PYIQA_FAST_INLINE float store(float v) { return v; }
};
template <>
struct Io<float> {
  using Acc = float;
  using Out = float;
  static constexpr double kDenominator = 1.0;
  static __device__ PYIQA_FAST_INLINE float value(float v) { return v; }
  static __device__ PYIQA_FAST_INLINE float absdiff(float a, float b) { return fabsf(a - b); }
  static __device__ PYIQA_FAST_INLINE float store(float v) { return v; }
  static __device__ PYIQA_FAST_INLINE float negate(float v) { return -v; }
  static __device__ PYIQA_FAST_INLINE float zero() { return 0.0f; }
};
template <>
struct Io<double> {
  using Acc = double;
  using Out = double;
  static constexpr double kDenominator = 1.0;
  static __device__ PYIQA_FAST_INLINE double value(double v) { return v; }
  static __device__ PYIQA_FAST_INLINE double absdiff(double a, double b) { return fabs(a - b); }
  static __device__ PYIQA_FAST_INLINE double store(double v) { return v; }
  static __device__ PYIQA_FAST_INLINE double negate(double v) { return -v; }
  static __device__ PYIQA_FAST_INLINE double zero() { return 0.0; }
};
template <>
struct Io<__half> {
  using Acc = float;
  using Out = __half;
  static constexpr double kDenominator = 1.0;
  static __device__ PYIQA_FAST_INLINE float value(__half v) { return __half2float(v); }
  static __device__ PYIQA_FAST_INLINE float absdiff(__half a, __half b) { return fabsf(value(a) - value(b)); }
  static __device__ PYIQA_FAST_INLINE __half store(float v) { return __float2half_rn(v); }
  static __device__ PYIQA_FAST_INLINE __half negate(__half v) {
    return __ushort_as_half(static_cast<unsigned short>(__half_as_ushort(v) ^ 0x8000u));
  }
  static __device__ PYIQA_FAST_INLINE __half zero() { return __ushort_as_half(0); }
};
template <>
struct Io<__nv_bfloat16> {
  using Acc = float;
  using Out = __nv_bfloat16;
  static constexpr double kDenominator = 1.0;
  static __device__ PYIQA_FAST_INLINE float value(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ PYIQA_FAST_INLINE float absdiff(__nv_bfloat16 a, __nv_bfloat16 b) {
    return fabsf(value(a) - value(b));
  }
  static __device__ PYIQA_FAST_INLINE __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
  static __device__ PYIQA_FAST_INLINE __nv_bfloat16 negate(__nv_bfloat16 v) {
    return __ushort_as_bfloat16(static_cast<unsigned short>(__bfloat16_as_ushort(v) ^ 0x8000u));
  }
  static __device__ PYIQA_FAST_INLINE __nv_bfloat16 zero() { return __ushort_as_bfloat16(0); }
};

template <typename T>
__global__ void __launch_bounds__(kCudaThreads) dsm_pool_fwd_kernel(CudaFwdParams p, int64_t cells_per_chunk) {
  using A = typename Io<T>::Acc;
  using O = typename Io<T>::Out;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* colsum = reinterpret_cast<A*>(smem_raw);  // cells_per_chunk · pool column sums

  const Geometry g = p.geo;
  const Strides rs = p.ref_strides, ds = p.dist_strides;
  const int64_t item = blockIdx.x;
  const int64_t b = item / g.out_h, u = item % g.out_h;
  const int64_t rows = cell_extent(u, g.pool, g.height);
  const T* ref = static_cast<const T*>(p.ref) + b * rs.b + u * g.pool * rs.h;
  const T* dist = static_cast<const T*>(p.dist) + b * ds.b + u * g.pool * ds.h;
  O* out = static_cast<O*>(p.out) + item * g.out_w;

  for (int64_t v0 = 0; v0 < g.out_w; v0 += cells_per_chunk) {
    const int64_t c0 = v0 * g.pool;
    const int64_t c_end = min(c0 + cells_per_chunk * g.pool, g.width);
    for (int64_t col = c0 + threadIdx.x; col < c_end; col += blockDim.x) {
      A s = A(0);
#pragma unroll 4  // independent loads in flight: the kernel is bandwidth-bound
      for (int64_t r = 0; r < rows; ++r) {
#pragma unroll
        for (int c = 0; c < 3; ++c) {
          s += static_cast<A>(Io<T>::absdiff(ref[r * rs.h + c * rs.c + col * rs.w],
                                             dist[r * ds.h + c * ds.c + col * ds.w]));
        }
      }
      colsum[col - c0] = s;
    }
    __syncthreads();
    const int64_t v_end = min(v0 + cells_per_chunk, g.out_w);
    for (int64_t v = v0 + threadIdx.x; v < v_end; v += blockDim.x) {
      const int64_t cols = cell_extent(v, g.pool, g.width);
      const A* cell = colsum + (v - v0) * g.pool;
      A sum = A(0);
      for (int64_t k = 0; k < cols; ++k) sum += cell[k];
      out[v] = Io<T>::store(sum / static_cast<A>(3.0 * static_cast<double>(rows * cols) * Io<T>::kDenominator));
    }
    __syncthreads();  // the next chunk overwrites colsum
  }
}

template <typename T>
__global__ void __launch_bounds__(kCudaThreads) dsm_pool_bwd_kernel(CudaBwdParams p) {
  using E = Io<T>;
  const Geometry g = p.geo;
  const Strides rs = p.ref_strides, ds = p.dist_strides;
  const T* ref = static_cast<const T*>(p.ref);
  const T* dist = static_cast<const T*>(p.dist);
  const T* scale = static_cast<const T*>(p.scale);
  T* grad_ref = static_cast<T*>(p.grad_ref);
  T* grad_dist = static_cast<T*>(p.grad_dist);
  const int64_t pixels = g.batch * g.height * g.width;
  const int64_t plane = g.height * g.width;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < pixels;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t w = i % g.width;
    const int64_t t = i / g.width;
    const int64_t h = t % g.height;
    const int64_t b = t / g.height;
    const T s = scale[(b * g.out_h + h / g.pool) * g.out_w + w / g.pool];
    const int64_t r0 = b * rs.b + h * rs.h + w * rs.w;
    const int64_t d0 = b * ds.b + h * ds.h + w * ds.w;
    const int64_t o0 = b * 3 * plane + h * g.width + w;
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      const auto diff = E::value(ref[r0 + c * rs.c]) - E::value(dist[d0 + c * ds.c]);
      // sign(diff)·s as torch's abs backward: 0 at equality and where diff is NaN (sign(NaN) = 0).
      const T out = diff > 0 ? s : diff < 0 ? E::negate(s) : E::zero();
      grad_ref[o0 + c * plane] = out;
      grad_dist[o0 + c * plane] = E::negate(out);
    }
  }
}

thread_local cudaError_t last_error = cudaSuccess;

Status checked(cudaError_t error) {
  last_error = error;
  return error == cudaSuccess ? Status::kOk : Status::kLaunchFailed;
}

template <typename T>
Status launch_fwd(const CudaFwdParams& p, cudaStream_t stream) {
  using A = typename Io<T>::Acc;
  const Geometry& g = p.geo;
  const int64_t blocks = g.batch * g.out_h;
  if (blocks == 0 || g.out_w == 0) return Status::kOk;
  int64_t cells_per_chunk = kChunkCols / g.pool;
  if (cells_per_chunk < 1) cells_per_chunk = 1;
  if (cells_per_chunk > g.out_w) cells_per_chunk = g.out_w;
  const size_t smem = static_cast<size_t>(cells_per_chunk * g.pool) * sizeof(A);  // ≤ 16 KiB
  dsm_pool_fwd_kernel<T><<<static_cast<unsigned>(blocks), kCudaThreads, smem, stream>>>(p, cells_per_chunk);
  return checked(cudaGetLastError());
}

template <typename T>
Status launch_bwd(const CudaBwdParams& p, cudaStream_t stream) {
  const int64_t pixels = p.geo.batch * p.geo.height * p.geo.width;
  if (pixels == 0) return Status::kOk;
  int64_t blocks = (pixels + kCudaThreads - 1) / kCudaThreads;
  if (blocks > (1 << 20)) blocks = 1 << 20;  // grid-stride beyond
  dsm_pool_bwd_kernel<T><<<static_cast<unsigned>(blocks), kCudaThreads, 0, stream>>>(p);
  return checked(cudaGetLastError());
}

bool valid(const Geometry& g) {
  return g.pool >= 1 && g.pool <= kCudaMaxPool && g.batch >= 0 && g.height >= 0 && g.width >= 0 &&
         g.batch * g.out_h <= 0x7fffffffLL;
}

}  // namespace

Status launch_dsm_pool_fwd(const CudaFwdParams& p, cudaStream_t stream) {
  if (!valid(p.geo)) return Status::kInvalidArgument;
  switch (p.in_type) {
    case InType::kUInt8: return launch_fwd<uint8_t>(p, stream);
    case InType::kFloat16: return launch_fwd<__half>(p, stream);
    case InType::kBFloat16: return launch_fwd<__nv_bfloat16>(p, stream);
    case InType::kFloat32: return launch_fwd<float>(p, stream);
    case InType::kFloat64: return launch_fwd<double>(p, stream);
  }
  return Status::kUnsupportedDType;
}

Status launch_dsm_pool_bwd(const CudaBwdParams& p, cudaStream_t stream) {
  if (!valid(p.geo)) return Status::kInvalidArgument;
  switch (p.in_type) {
    case InType::kFloat16: return launch_bwd<__half>(p, stream);
    case InType::kBFloat16: return launch_bwd<__nv_bfloat16>(p, stream);
    case InType::kFloat32: return launch_bwd<float>(p, stream);
    case InType::kFloat64: return launch_bwd<double>(p, stream);
    case InType::kUInt8: return Status::kUnsupportedDType;  // no gradient
  }
  return Status::kUnsupportedDType;
}

const char* dsm_pool_cuda_error() { return last_error == cudaSuccess ? "" : cudaGetErrorString(last_error); }

}  // namespace pyiqa_fast::dsm_pool
