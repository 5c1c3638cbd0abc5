// margin_ranking_loss — CUDA kernel: fused loss + gradient by tiled brute force.
//
// Mapping: one thread per row i, kCudaThreads rows per block; every block streams all n
// (prediction, target) pairs through shared memory in tiles of kCudaThreads and, per pair,
// counts the active pairs where i is the higher (C_i) or lower (D_i) element, sums the hinge
// terms where i is higher (so each unordered pair's loss is counted once) and counts ties.
// grad_i = c·(D_i − C_i) is written directly; the loss is a fixed-order block sum, written
// directly when the grid has one block (n ≤ 256: one launch in all), else as per-block partials
// that a one-block finalize kernel sums in a fixed order (two launches). No atomics:
// deterministic, bitwise run to run.
//
// Before the pair loop every block computes the margin itself (two-pass unbiased std of the
// targets in double, then rounded as the reference rounds it in its own dtype) and scans for
// NaN / ±inf, reading 2n elements: negligible next to the n²/blocks pair work, and it saves a
// launch. Bytes moved: ≈ 2n·sizeof(T)·(blocks + 2); FLOPs ≈ 6n². Compute type: float for
// fp16/bf16/fp32, double for fp64; per-thread hinge sums in double. Brute force is O(n²):
// ≈4·10⁹ pairs at n = 64k; the CPU backend's O(n log n) algorithm serves very large n.
#include <cuda_runtime.h>

#include <cmath>

#include "common/cuda_utils.cuh"
#include "kernels/margin_ranking_loss/margin_ranking_loss.h"

namespace pyiqa_fast::margin_ranking_loss {
namespace {

using pyiqa_fast::cuda::block_sum;
using pyiqa_fast::cuda::Elem;

// A double rounded to scalar_t (through float for 16-bit types), returned in compute_t.
template <typename scalar_t, typename compute_t>
__device__ PYIQA_FAST_INLINE compute_t round_to(double v) {
  return static_cast<compute_t>(Elem<scalar_t>::to_float(Elem<scalar_t>::from_double(v)));
}

template <typename scalar_t, typename compute_t>
__global__ void __launch_bounds__(kCudaThreads) margin_ranking_loss_fwd_kernel(CudaParams p) {
  __shared__ compute_t tile_p[kCudaThreads];
  __shared__ compute_t tile_y[kCudaThreads];
  __shared__ double scratch[kCudaThreads / 32];

  const auto* pred = static_cast<const scalar_t*>(p.pred);
  const auto* target = static_cast<const scalar_t*>(p.target);
  const int n = static_cast<int>(p.n);
  const int tid = threadIdx.x;

  // Margin and non-finite scan; identical in every block (same data, same reduction order).
  double sum_y = 0.0;
  int bad = 0;
  for (int k = tid; k < n; k += kCudaThreads) {
    const double y = Elem<scalar_t>::to_float(target[k * p.target_stride]);
    const double v = Elem<scalar_t>::to_float(pred[k * p.pred_stride]);
    sum_y += y;
    bad |= !isfinite(y) | !isfinite(v);
  }
  bad = __syncthreads_or(bad);
  compute_t m;
  if (p.has_margin) {
    m = round_to<scalar_t, compute_t>(p.margin);
  } else {
    const double mean_y = block_sum(sum_y, scratch) / n;
    double ss = 0.0;
    for (int k = tid; k < n; k += kCudaThreads) {
      const double d = Elem<scalar_t>::to_float(target[k * p.target_stride]) - mean_y;
      ss = __dadd_rn(ss, __dmul_rn(d, d));  // no FMA contraction: the CPU's two-pass sum
    }
    // As torch evaluates `margin_scale * target.std()` in the input dtype: the std rounded to
    // the dtype, the product in op-math precision (float below fp64), rounded again.
    const compute_t std = round_to<scalar_t, compute_t>(sqrt(block_sum(ss, scratch) / (n - 1)));
    m = round_to<scalar_t, compute_t>(static_cast<compute_t>(p.margin_scale) * std);
  }

  const int i = blockIdx.x * kCudaThreads + tid;
  const bool valid = i < n;
  const compute_t pi = valid ? Elem<scalar_t>::to_float(pred[i * p.pred_stride]) : compute_t(0);
  const compute_t yi = valid ? Elem<scalar_t>::to_float(target[i * p.target_stride]) : compute_t(0);
  int higher = 0, lower = 0, ties = 0;
  double hinge = 0.0;
  for (int j0 = 0; j0 < n; j0 += kCudaThreads) {
    __syncthreads();
    const int j = j0 + tid;
    if (j < n) {
      tile_p[tid] = Elem<scalar_t>::to_float(pred[j * p.pred_stride]);
      tile_y[tid] = Elem<scalar_t>::to_float(target[j * p.target_stride]);
    }
    __syncthreads();
    if (valid) {
      const int count = min(kCudaThreads, n - j0);
      for (int t = 0; t < count; ++t) {
        const compute_t yj = tile_y[t], pj = tile_p[t];
        if (yj < yi) {  // i is the higher element: the loop's predicate fl(p_i − p_j) ≤ m
          const compute_t d = pi - pj;
          if (d <= m) {
            ++higher;
            hinge += static_cast<double>(m) - static_cast<double>(d);
          }
        } else if (yj > yi) {
          const compute_t d = pj - pi;
          lower += (d <= m);
        } else {
          ++ties;  // includes j == i, removed below
        }
      }
    }
  }
  const double c = p.mean ? 2.0 / (static_cast<double>(n) * (n - 1)) : 1.0;
  const bool nan_seen = bad;
  const double nan = __longlong_as_double(0x7ff8000000000000ULL);
  if (valid) {
    const double g = nan_seen ? nan : c * static_cast<double>(lower - higher);
    static_cast<scalar_t*>(p.grad)[i] = Elem<scalar_t>::from_double(g);
    hinge += 0.5 * static_cast<double>(m) * (ties - 1);  // each tied pair is seen from both rows
  }
  const double block_total = block_sum(hinge, scratch);
  if (tid == 0) {
    if (gridDim.x == 1) {
      *static_cast<scalar_t*>(p.loss) = Elem<scalar_t>::from_double(nan_seen ? nan : c * block_total);
    } else {
      p.partials[blockIdx.x] = nan_seen ? nan : block_total;
    }
  }
}

template <typename scalar_t>
__global__ void __launch_bounds__(kCudaThreads) margin_ranking_loss_finalize_kernel(CudaParams p, int blocks) {
  __shared__ double scratch[kCudaThreads / 32];
  double s = 0.0;
  for (int b = threadIdx.x; b < blocks; b += kCudaThreads) s += p.partials[b];
  const double total = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const double c = p.mean ? 2.0 / (static_cast<double>(p.n) * (p.n - 1)) : 1.0;
    *static_cast<scalar_t*>(p.loss) = Elem<scalar_t>::from_double(c * total);
  }
}

thread_local cudaError_t last_error = cudaSuccess;

Status checked(cudaError_t error) {
  last_error = error;
  return error == cudaSuccess ? Status::kOk : Status::kLaunchFailed;
}

template <typename scalar_t, typename compute_t>
Status launch_typed(const CudaParams& p, cudaStream_t stream) {
  const int blocks = static_cast<int>(cuda_num_blocks(p.n));
  margin_ranking_loss_fwd_kernel<scalar_t, compute_t><<<blocks, kCudaThreads, 0, stream>>>(p);
  if (checked(cudaGetLastError()) != Status::kOk) return Status::kLaunchFailed;
  if (blocks > 1) {
    margin_ranking_loss_finalize_kernel<scalar_t><<<1, kCudaThreads, 0, stream>>>(p, blocks);
    if (checked(cudaGetLastError()) != Status::kOk) return Status::kLaunchFailed;
  }
  return Status::kOk;
}

}  // namespace

const char* margin_ranking_loss_cuda_error() {
  return last_error == cudaSuccess ? "" : cudaGetErrorString(last_error);
}

Status launch_margin_ranking_loss_fwd(const CudaParams& p, cudaStream_t stream) {
  if (p.n < 2 || p.n > kCudaMaxN || p.pred == nullptr || p.target == nullptr || p.loss == nullptr ||
      p.grad == nullptr || (cuda_num_blocks(p.n) > 1 && p.partials == nullptr)) {
    return Status::kInvalidArgument;
  }
  switch (p.dtype) {
    case DType::kFloat32: return launch_typed<float, float>(p, stream);
    case DType::kFloat64: return launch_typed<double, double>(p, stream);
    case DType::kFloat16: return launch_typed<__half, float>(p, stream);
    case DType::kBFloat16: return launch_typed<__nv_bfloat16, float>(p, stream);
  }
  return Status::kUnsupportedDType;
}

}  // namespace pyiqa_fast::margin_ranking_loss
