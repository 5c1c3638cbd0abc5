// block_attention — CUDA kernels: group-masked flash attention over tiles of the sorted token order.
//
// Layout (made by the binding with ATen ops, no host sync): per layout row (one per sample or one
// shared by the batch) `order` = stable argsort of the group ids, `sorted` = the ids in that
// order. Negative ids (global tokens) come first; each group is then one contiguous run of sorted
// positions. A tile is BQ (BK) consecutive SORTED positions, so several short groups (49-token
// blocks of a 14×14 grid) share one tile; rows are gathered through `order` while a tile is
// staged in shared memory (no permuted copy of q/k/v) and results are written back at their
// token positions. Inside a tile the mask compares group ids (gq < 0 || gk < 0 || gq == gk).
//
// Tile skipping: a query tile whose sorted ids run from gmin ≥ 0 to gmax can only see the global
// keys, sorted positions [0, nglob), and the keys with ids in [gmin, gmax], positions [lo, hi);
// both are counts over the key row (#ids < 0, #ids < gmin, #ids ≤ gmax), computed by the block
// at its start (one coalesced pass over Nk ints and three block reductions). The visited keys
// are the virtual sequence [0, nglob) ++ [lo, hi) (lo ≥ nglob: disjoint, no key twice), cut in
// tiles of BK, so a lone CLS key is packed into the first tile with the group keys. A tile
// holding a global query visits all keys. The dK/dV kernel uses the symmetric rule per key tile.
//
// Kernels (256 threads = a 16 × 16 grid, tr = tid / 16 owns rows tr + 16·i, tc = tid % 16 owns
// columns tc + 16·j of every tile product, so a row's 16 threads are one half-warp and row
// reductions are 4 xor-shuffles; SIMT FMAs from shared memory, padded rows (D + 1, BK + 1):
// conflict-free for fp32):
//   fwd    per (b, h, q tile): Q tile staged once; per key tile: stage K, V → S = Q·Kᵀ (registers)
//          → mask, scale, online softmax (m, l per row in registers) → P to smem → O = α·O + P·V.
//          Epilogue: out = O / l (0 when l = 0), lse = m + log l (−inf when l = 0).
//   delta  one warp per query row: delta = Σ_c dO·O.
//   dkdv   per (b, h, k tile): K, V staged once; per visited q tile: stage Q, dO, lse, delta →
//          S, dP = dO·Vᵀ → P = exp(scale·S − lse), dS = P∘(dP − delta) to smem →
//          dV += Pᵀ·dO, dK += dSᵀ·Q; dK scaled by `scale` at the end.
//   dq     per (b, h, q tile): as fwd's iteration; S, dP → dS → dQ += dS·K; scaled at the end.
// Tiles (BQ × BK): fwd fp32 64 × 64 (64 × 32 at d = 128), bwd fp32 64 × 64 (32 × 32 at
// d = 128), fp64 32 × 32. Shared memory ≤ 150 KB (fp64 d = 128 backward), dynamic.
//
// Bytes: each kernel reads its own tile once and the visited other-side tiles once per tile
// (L2-resident for ViT sizes: per (b, h) q/k/v are 197·d elements each). HBM traffic ≈ the
// compulsory one: fwd reads q, k, v and writes out, lse; bwd reads q, k, v, out, dO, lse and
// writes dq, dk, dv (+ delta, 4 B per row, twice). ViT-S 2×2 grid, N = 197, d = 64, bf16:
// ≈ 100 KB per (b, h) forward. FLOPs per visited (query, key) pair: fwd 4d, bwd 10d (dkdv: 8d,
// dq: 6d; S and dP are recomputed in both). With 2×2 groups of 49 and BQ = BK = 64 the forward
// visits 9 of 16 dense key tiles per (b, h) (the CLS tile visits all four).
//
// Precision: products, softmax and accumulators in float (double for fp64 inputs); lse and delta
// in that type; expf/logf (no fast-math intrinsics). The masked probabilities are exact zeros.
// Determinism: fixed summation order everywhere, no atomics (dK/dV per key tile, dQ per query
// tile): bitwise identical results run to run. Each output row is written by exactly one block
// (order is a permutation), so outputs need no zero-fill.
// Known limits: head_dim ∈ {32, 64, 128}; q_len, k_len ≤ kCudaMaxLen (2^31 − 129); non-finite values in a
// masked key's v (or a masked query's dO) inside a visited tile reach the sums as 0·inf = NaN,
// as in any dense masked kernel; a tile with a global query visits every key (dense cost for
// that tile); SIMT only (no tensor cores), no cp.async double buffering yet.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "common/cuda_utils.cuh"
#include "kernels/block_attention/block_attention.h"

namespace pyiqa_fast::block_attention {
namespace {

using pyiqa_fast::cuda::block_sum;
using pyiqa_fast::cuda::Elem;

constexpr int kThreads = 256;  // 16 × 16 thread grid; every tile size is a multiple of 16

template <typename scalar_t> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

__device__ PYIQA_FAST_INLINE float exp_(float x) { return expf(x); }
__device__ PYIQA_FAST_INLINE double exp_(double x) { return exp(x); }
__device__ PYIQA_FAST_INLINE float log_(float x) { return logf(x); }
__device__ PYIQA_FAST_INLINE double log_(double x) { return log(x); }
__device__ PYIQA_FAST_INLINE float max_(float a, float b) { return fmaxf(a, b); }
__device__ PYIQA_FAST_INLINE double max_(double a, double b) { return fmax(a, b); }
template <typename T> __device__ PYIQA_FAST_INLINE T neg_inf() { return static_cast<T>(-INFINITY); }

// Reductions over the 16 lanes of a half-warp (the threads sharing tr). The xor butterfly gives
// every lane the bitwise same value (each step adds the same two operands, commuted).
template <typename T>
__device__ PYIQA_FAST_INLINE T half_warp_max(T v) {
#pragma unroll
  for (int off = 8; off > 0; off >>= 1) v = max_(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
template <typename T>
__device__ PYIQA_FAST_INLINE T half_warp_sum(T v) {
#pragma unroll
  for (int off = 8; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__device__ PYIQA_FAST_INLINE bool allowed(int gq, int gk) { return gq < 0 || gk < 0 || gq == gk; }

// Tile shapes and shared-memory budgets; the kernels and the launchers use the same numbers.
template <typename scalar_t, int D>
struct FwdCfg {
  using acc_t = typename Acc<scalar_t>::type;
  static constexpr bool kWide = sizeof(acc_t) == 8;
  static constexpr int BQ = kWide ? 32 : 64;
  static constexpr int BK = kWide ? 32 : (D == 128 ? 32 : 64);
  static constexpr int LD = D + 1, LP = BK + 1;
  // Qs, Ks, Vs, Ps (acc_t), then qtok, ktok, kgrp (int).
  static constexpr size_t kSmem = sizeof(acc_t) * (BQ * LD + 2 * BK * LD + BQ * LP) + sizeof(int) * (BQ + 2 * BK);
};

template <typename scalar_t, int D>
struct BwdCfg {
  using acc_t = typename Acc<scalar_t>::type;
  static constexpr bool kWide = sizeof(acc_t) == 8;
  static constexpr int BQ = (kWide || D == 128) ? 32 : 64;
  static constexpr int BK = BQ;
  static constexpr int LD = D + 1, LP = BK + 1;
  // dkdv: Ks, Vs, Qs, dOs, Ps, dSs, lse_s, delta_s (acc_t), then qtok, qgrp, ktok (int).
  static constexpr size_t kSmemDkdv =
      sizeof(acc_t) * (2 * BK * LD + 2 * BQ * LD + 2 * BQ * LP + 2 * BQ) + sizeof(int) * (2 * BQ + BK);
  // dq: Qs, dOs, Ks, Vs, dSs (acc_t), then qtok, ktok, kgrp (int).
  static constexpr size_t kSmemDq = sizeof(acc_t) * (2 * BQ * LD + 2 * BK * LD + BQ * LP) + sizeof(int) * (BQ + 2 * BK);
};

// The other side's sorted positions a tile may see, as the virtual sequence [0, nglob) ++ [lo, hi):
// virtual index v ↦ pos(v), v < count. A tile with a global row (gmin < 0) sees every position.
struct Visit {
  int nglob, lo, count;
  __device__ PYIQA_FAST_INLINE int pos(int v) const { return v < nglob ? v : lo + (v - nglob); }
};

// Block-uniform: every thread passes the same gmin/gmax and gets the same result (block_sum
// returns the total to all threads). `sorted` is nondecreasing, so #(ids < x) is the lower bound.
__device__ Visit visit_range(const int32_t* sorted, int n, int gmin, int gmax, int* scratch) {
  if (gmin < 0) return {n, n, n};
  int below0 = 0, below_min = 0, upto_max = 0;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const int g = sorted[i];
    below0 += g < 0;
    below_min += g < gmin;
    upto_max += g <= gmax;
  }
  below0 = block_sum(below0, scratch);
  below_min = block_sum(below_min, scratch);
  upto_max = block_sum(upto_max, scratch);
  return {below0, below_min, below0 + (upto_max - below_min)};
}

// Stages rows [0, R) of a tile into dst (row pitch LD): row r is token tok[r] of src (element
// offset base + tok·tok_stride, feature dimension contiguous); tok[r] < 0 gives a zero row.
template <typename scalar_t, typename acc_t, int R, int D, int LD>
__device__ PYIQA_FAST_INLINE void load_rows(acc_t* dst, const scalar_t* src, int64_t base, int64_t tok_stride,
                                            const int* tok) {
  static_assert((R * D) % kThreads == 0, "tile elements must split evenly over the block");
#pragma unroll 4
  for (int e = threadIdx.x; e < R * D; e += kThreads) {
    const int r = e / D, c = e % D;
    const int t = tok[r];
    dst[r * LD + c] = t >= 0 ? static_cast<acc_t>(Elem<scalar_t>::to_float(src[base + t * tok_stride + c])) : acc_t(0);
  }
}

// ---- forward -----------------------------------------------------------------------------------

template <typename scalar_t, int D>
__global__ void __launch_bounds__(kThreads) block_attention_fwd_kernel(const CudaParams p) {
  using Cfg = FwdCfg<scalar_t, D>;
  using acc_t = typename Cfg::acc_t;
  constexpr int BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, LP = Cfg::LP;
  constexpr int TM = BQ / 16, TN = BK / 16, TD = D / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  acc_t* Qs = reinterpret_cast<acc_t*>(smem_raw);
  acc_t* Ks = Qs + BQ * LD;
  acc_t* Vs = Ks + BK * LD;
  acc_t* Ps = Vs + BK * LD;
  int* qtok = reinterpret_cast<int*>(Ps + BQ * LP);
  int* ktok = qtok + BQ;
  int* kgrp = ktok + BK;
  __shared__ int scratch[kThreads / 32];

  const int tid = threadIdx.x, tr = tid >> 4, tc = tid & 15;
  const int nq = static_cast<int>(p.q_len), nk = static_cast<int>(p.k_len);
  const int64_t ntiles = (nq + BQ - 1) / BQ;
  const int64_t bh = blockIdx.x / ntiles;
  const int q0 = static_cast<int>(blockIdx.x % ntiles) * BQ;
  const int qcount = min(BQ, nq - q0);
  const int64_t b = bh / p.heads, h = bh % p.heads;
  const int32_t* q_order = p.q_order + b * p.q_layout_stride;
  const int32_t* q_sorted = p.q_sorted + b * p.q_layout_stride;
  const int32_t* k_order = p.k_order + b * p.k_layout_stride;
  const int32_t* k_sorted = p.k_sorted + b * p.k_layout_stride;
  const auto* q = static_cast<const scalar_t*>(p.q);
  const auto* k = static_cast<const scalar_t*>(p.k);
  const auto* v = static_cast<const scalar_t*>(p.v);
  const acc_t scale = static_cast<acc_t>(p.scale);

  const Visit keys = visit_range(k_sorted, nk, q_sorted[q0], q_sorted[q0 + qcount - 1], scratch);

  int qg[TM];
  bool qvalid[TM];
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int r = tr + 16 * i;
    qvalid[i] = r < qcount;
    qg[i] = qvalid[i] ? q_sorted[q0 + r] : 0;
  }
  if (tid < BQ) qtok[tid] = tid < qcount ? q_order[q0 + tid] : -1;
  __syncthreads();
  load_rows<scalar_t, acc_t, BQ, D, LD>(Qs, q, b * p.q_stride[0] + h * p.q_stride[1], p.q_stride[2], qtok);

  acc_t m[TM], l[TM], o[TM][TD];
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    m[i] = neg_inf<acc_t>();
    l[i] = acc_t(0);
#pragma unroll
    for (int j = 0; j < TD; ++j) o[i][j] = acc_t(0);
  }

  for (int v0 = 0; v0 < keys.count; v0 += BK) {
    const int kcount = min(BK, keys.count - v0);
    __syncthreads();  // the previous tile's readers of ktok, Ks, Vs, Ps are done (and Qs is staged)
    if (tid < BK) {
      int t = -1, g = 0;
      if (tid < kcount) {
        const int pos = keys.pos(v0 + tid);
        t = k_order[pos];
        g = k_sorted[pos];
      }
      ktok[tid] = t;
      kgrp[tid] = g;
    }
    __syncthreads();
    load_rows<scalar_t, acc_t, BK, D, LD>(Ks, k, b * p.k_stride[0] + h * p.k_stride[1], p.k_stride[2], ktok);
    load_rows<scalar_t, acc_t, BK, D, LD>(Vs, v, b * p.v_stride[0] + h * p.v_stride[1], p.v_stride[2], ktok);
    __syncthreads();

    // S = Q·Kᵀ for rows tr + 16i, keys tc + 16j.
    acc_t s[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) s[i][j] = acc_t(0);
#pragma unroll 8
    for (int kk = 0; kk < D; ++kk) {
      acc_t a[TM], bk[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = Qs[(tr + 16 * i) * LD + kk];
#pragma unroll
      for (int j = 0; j < TN; ++j) bk[j] = Ks[(tc + 16 * j) * LD + kk];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) s[i][j] += a[i] * bk[j];
    }

    // Mask, scale, online softmax; P to shared memory, α kept per row.
    acc_t alpha[TM];
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      acc_t mx = neg_inf<acc_t>();
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int c = tc + 16 * j;
        const bool ok = qvalid[i] && c < kcount && allowed(qg[i], kgrp[c]);
        s[i][j] = ok ? s[i][j] * scale : neg_inf<acc_t>();
        mx = max_(mx, s[i][j]);
      }
      mx = half_warp_max(mx);
      const acc_t m_new = max_(m[i], mx);
      // m_new = −inf: nothing allowed yet (O and l are 0); α = 1 avoids exp(−inf − (−inf)).
      alpha[i] = m_new == neg_inf<acc_t>() ? acc_t(1) : exp_(m[i] - m_new);
      acc_t sum = acc_t(0);
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const acc_t pv = s[i][j] == neg_inf<acc_t>() ? acc_t(0) : exp_(s[i][j] - m_new);
        Ps[(tr + 16 * i) * LP + tc + 16 * j] = pv;
        sum += pv;
      }
      sum = half_warp_sum(sum);
      l[i] = l[i] * alpha[i] + sum;
      m[i] = m_new;
    }
    __syncthreads();

    // O = α·O + P·V for rows tr + 16i, features tc + 16j.
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TD; ++j) o[i][j] *= alpha[i];
#pragma unroll 8
    for (int kk = 0; kk < BK; ++kk) {
      acc_t a[TM], bv[TD];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = Ps[(tr + 16 * i) * LP + kk];
#pragma unroll
      for (int j = 0; j < TD; ++j) bv[j] = Vs[kk * LD + tc + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TD; ++j) o[i][j] += a[i] * bv[j];
    }
  }

  auto* out = static_cast<scalar_t*>(p.out);
  auto* lse = static_cast<acc_t*>(p.lse);
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    if (!qvalid[i]) continue;
    const int64_t row = bh * nq + qtok[tr + 16 * i];
    const acc_t inv = l[i] > acc_t(0) ? acc_t(1) / l[i] : acc_t(0);
#pragma unroll
    for (int j = 0; j < TD; ++j) out[row * D + tc + 16 * j] = Elem<scalar_t>::from_double(o[i][j] * inv);
    if (tc == 0) lse[row] = l[i] > acc_t(0) ? m[i] + log_(l[i]) : neg_inf<acc_t>();
  }
}

// ---- backward ----------------------------------------------------------------------------------

// delta_i = Σ_c dO_ic · O_ic, one warp per query row (fixed order: lane-strided sum, xor tree).
template <typename scalar_t, int D>
__global__ void __launch_bounds__(kThreads) block_attention_bwd_delta_kernel(const CudaBwdParams bp) {
  using acc_t = typename Acc<scalar_t>::type;
  const CudaParams& p = bp.fwd;
  const int64_t rows = p.batch * p.heads * p.q_len;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
  if (row >= rows) return;  // whole warps leave together
  const int lane = threadIdx.x & 31;
  const int64_t bh = row / p.q_len, i = row % p.q_len, b = bh / p.heads, h = bh % p.heads;
  const auto* go = static_cast<const scalar_t*>(bp.grad_out) + b * bp.grad_out_stride[0] +
                   h * bp.grad_out_stride[1] + i * bp.grad_out_stride[2];
  const auto* o = static_cast<const scalar_t*>(p.out) + row * D;
  acc_t sum = acc_t(0);
#pragma unroll
  for (int c = lane; c < D; c += 32) {
    sum += static_cast<acc_t>(Elem<scalar_t>::to_float(go[c])) * static_cast<acc_t>(Elem<scalar_t>::to_float(o[c]));
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) static_cast<acc_t*>(bp.delta)[row] = sum;
}

// S = Q·Kᵀ and dP = dO·Vᵀ for query rows tr + 16i and key columns tc + 16j of the staged tiles.
template <typename acc_t, int D, int LD, int TQ, int TK>
__device__ PYIQA_FAST_INLINE void scores_and_dp(const acc_t* Qs, const acc_t* dOs, const acc_t* Ks, const acc_t* Vs,
                                                int tr, int tc, acc_t (&s)[TQ][TK], acc_t (&dp)[TQ][TK]) {
#pragma unroll
  for (int i = 0; i < TQ; ++i)
#pragma unroll
    for (int j = 0; j < TK; ++j) s[i][j] = dp[i][j] = acc_t(0);
#pragma unroll 4
  for (int kk = 0; kk < D; ++kk) {
    acc_t aq[TQ], ad[TQ], bk[TK], bv[TK];
#pragma unroll
    for (int i = 0; i < TQ; ++i) {
      aq[i] = Qs[(tr + 16 * i) * LD + kk];
      ad[i] = dOs[(tr + 16 * i) * LD + kk];
    }
#pragma unroll
    for (int j = 0; j < TK; ++j) {
      bk[j] = Ks[(tc + 16 * j) * LD + kk];
      bv[j] = Vs[(tc + 16 * j) * LD + kk];
    }
#pragma unroll
    for (int i = 0; i < TQ; ++i)
#pragma unroll
      for (int j = 0; j < TK; ++j) {
        s[i][j] += aq[i] * bk[j];
        dp[i][j] += ad[i] * bv[j];
      }
  }
}

// Per key tile: dV = Σ_q Pᵀ·dO, dK = scale · Σ_q dSᵀ·Q over the query tiles that may see it.
template <typename scalar_t, int D>
__global__ void __launch_bounds__(kThreads) block_attention_bwd_dkdv_kernel(const CudaBwdParams bp) {
  using Cfg = BwdCfg<scalar_t, D>;
  using acc_t = typename Cfg::acc_t;
  constexpr int BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, LP = Cfg::LP;
  constexpr int TQ = BQ / 16, TK = BK / 16, TD = D / 16;
  const CudaParams& p = bp.fwd;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  acc_t* Ks = reinterpret_cast<acc_t*>(smem_raw);
  acc_t* Vs = Ks + BK * LD;
  acc_t* Qs = Vs + BK * LD;
  acc_t* dOs = Qs + BQ * LD;
  acc_t* Ps = dOs + BQ * LD;
  acc_t* dSs = Ps + BQ * LP;
  acc_t* lse_s = dSs + BQ * LP;
  acc_t* delta_s = lse_s + BQ;
  int* qtok = reinterpret_cast<int*>(delta_s + BQ);
  int* qgrp = qtok + BQ;
  int* ktok = qgrp + BQ;
  __shared__ int scratch[kThreads / 32];

  const int tid = threadIdx.x, tr = tid >> 4, tc = tid & 15;
  const int nq = static_cast<int>(p.q_len), nk = static_cast<int>(p.k_len);
  const int64_t ntiles = (nk + BK - 1) / BK;
  const int64_t bh = blockIdx.x / ntiles;
  const int k0 = static_cast<int>(blockIdx.x % ntiles) * BK;
  const int kcount = min(BK, nk - k0);
  const int64_t b = bh / p.heads, h = bh % p.heads;
  const int32_t* q_order = p.q_order + b * p.q_layout_stride;
  const int32_t* q_sorted = p.q_sorted + b * p.q_layout_stride;
  const int32_t* k_order = p.k_order + b * p.k_layout_stride;
  const int32_t* k_sorted = p.k_sorted + b * p.k_layout_stride;
  const auto* lse = static_cast<const acc_t*>(p.lse) + bh * nq;
  const auto* delta = static_cast<const acc_t*>(bp.delta) + bh * nq;
  const acc_t scale = static_cast<acc_t>(p.scale);

  // Symmetric rule: a key tile with a global key is seen by every query.
  const Visit queries = visit_range(q_sorted, nq, k_sorted[k0], k_sorted[k0 + kcount - 1], scratch);

  int kg[TK];
  bool kvalid[TK];
#pragma unroll
  for (int j = 0; j < TK; ++j) {
    const int c = tc + 16 * j;
    kvalid[j] = c < kcount;
    kg[j] = kvalid[j] ? k_sorted[k0 + c] : 0;
  }
  if (tid < BK) ktok[tid] = tid < kcount ? k_order[k0 + tid] : -1;
  __syncthreads();
  load_rows<scalar_t, acc_t, BK, D, LD>(Ks, static_cast<const scalar_t*>(p.k), b * p.k_stride[0] + h * p.k_stride[1],
                                        p.k_stride[2], ktok);
  load_rows<scalar_t, acc_t, BK, D, LD>(Vs, static_cast<const scalar_t*>(p.v), b * p.v_stride[0] + h * p.v_stride[1],
                                        p.v_stride[2], ktok);

  acc_t dk[TK][TD], dv[TK][TD];
#pragma unroll
  for (int i = 0; i < TK; ++i)
#pragma unroll
    for (int j = 0; j < TD; ++j) dk[i][j] = dv[i][j] = acc_t(0);

  for (int v0 = 0; v0 < queries.count; v0 += BQ) {
    const int qcount = min(BQ, queries.count - v0);
    __syncthreads();  // the previous tile's readers are done (and Ks, Vs are staged)
    if (tid < BQ) {
      int t = -1, g = 0;
      acc_t L = neg_inf<acc_t>(), dl = acc_t(0);
      if (tid < qcount) {
        const int pos = queries.pos(v0 + tid);
        t = q_order[pos];
        g = q_sorted[pos];
        L = lse[t];
        dl = delta[t];
      }
      qtok[tid] = t;
      qgrp[tid] = g;
      lse_s[tid] = L;
      delta_s[tid] = dl;
    }
    __syncthreads();
    load_rows<scalar_t, acc_t, BQ, D, LD>(Qs, static_cast<const scalar_t*>(p.q), b * p.q_stride[0] + h * p.q_stride[1],
                                          p.q_stride[2], qtok);
    load_rows<scalar_t, acc_t, BQ, D, LD>(dOs, static_cast<const scalar_t*>(bp.grad_out),
                                          b * bp.grad_out_stride[0] + h * bp.grad_out_stride[1],
                                          bp.grad_out_stride[2], qtok);
    __syncthreads();

    acc_t s[TQ][TK], dp[TQ][TK];
    scores_and_dp<acc_t, D, LD, TQ, TK>(Qs, dOs, Ks, Vs, tr, tc, s, dp);
#pragma unroll
    for (int i = 0; i < TQ; ++i) {
      const int r = tr + 16 * i;
      const int g = qgrp[r];
      const acc_t L = lse_s[r], dl = delta_s[r];
      const bool row_ok = r < qcount && L > neg_inf<acc_t>();
#pragma unroll
      for (int j = 0; j < TK; ++j) {
        const bool ok = row_ok && kvalid[j] && allowed(g, kg[j]);
        const acc_t pv = ok ? exp_(s[i][j] * scale - L) : acc_t(0);
        Ps[r * LP + tc + 16 * j] = pv;
        dSs[r * LP + tc + 16 * j] = ok ? pv * (dp[i][j] - dl) : acc_t(0);
      }
    }
    __syncthreads();

    // dV += Pᵀ·dO, dK += dSᵀ·Q for key rows tr + 16i, features tc + 16j.
#pragma unroll 4
    for (int kk = 0; kk < BQ; ++kk) {
      acc_t ap[TK], ads[TK], bdo[TD], bq[TD];
#pragma unroll
      for (int i = 0; i < TK; ++i) {
        ap[i] = Ps[kk * LP + tr + 16 * i];
        ads[i] = dSs[kk * LP + tr + 16 * i];
      }
#pragma unroll
      for (int j = 0; j < TD; ++j) {
        bdo[j] = dOs[kk * LD + tc + 16 * j];
        bq[j] = Qs[kk * LD + tc + 16 * j];
      }
#pragma unroll
      for (int i = 0; i < TK; ++i)
#pragma unroll
        for (int j = 0; j < TD; ++j) {
          dv[i][j] += ap[i] * bdo[j];
          dk[i][j] += ads[i] * bq[j];
        }
    }
  }

  auto* grad_k = static_cast<scalar_t*>(bp.grad_k);
  auto* grad_v = static_cast<scalar_t*>(bp.grad_v);
#pragma unroll
  for (int i = 0; i < TK; ++i) {
    const int c = tr + 16 * i;
    if (c >= kcount) continue;
    const int64_t row = bh * nk + ktok[c];
#pragma unroll
    for (int j = 0; j < TD; ++j) {
      grad_k[row * D + tc + 16 * j] = Elem<scalar_t>::from_double(dk[i][j] * scale);
      grad_v[row * D + tc + 16 * j] = Elem<scalar_t>::from_double(dv[i][j]);
    }
  }
}

// Per query tile: dQ = scale · Σ_k dS·K over the key tiles it may see (the forward's iteration).
template <typename scalar_t, int D>
__global__ void __launch_bounds__(kThreads) block_attention_bwd_dq_kernel(const CudaBwdParams bp) {
  using Cfg = BwdCfg<scalar_t, D>;
  using acc_t = typename Cfg::acc_t;
  constexpr int BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, LP = Cfg::LP;
  constexpr int TQ = BQ / 16, TK = BK / 16, TD = D / 16;
  const CudaParams& p = bp.fwd;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  acc_t* Qs = reinterpret_cast<acc_t*>(smem_raw);
  acc_t* dOs = Qs + BQ * LD;
  acc_t* Ks = dOs + BQ * LD;
  acc_t* Vs = Ks + BK * LD;
  acc_t* dSs = Vs + BK * LD;
  int* qtok = reinterpret_cast<int*>(dSs + BQ * LP);
  int* ktok = qtok + BQ;
  int* kgrp = ktok + BK;
  __shared__ int scratch[kThreads / 32];

  const int tid = threadIdx.x, tr = tid >> 4, tc = tid & 15;
  const int nq = static_cast<int>(p.q_len), nk = static_cast<int>(p.k_len);
  const int64_t ntiles = (nq + BQ - 1) / BQ;
  const int64_t bh = blockIdx.x / ntiles;
  const int q0 = static_cast<int>(blockIdx.x % ntiles) * BQ;
  const int qcount = min(BQ, nq - q0);
  const int64_t b = bh / p.heads, h = bh % p.heads;
  const int32_t* q_order = p.q_order + b * p.q_layout_stride;
  const int32_t* q_sorted = p.q_sorted + b * p.q_layout_stride;
  const int32_t* k_order = p.k_order + b * p.k_layout_stride;
  const int32_t* k_sorted = p.k_sorted + b * p.k_layout_stride;
  const auto* lse = static_cast<const acc_t*>(p.lse) + bh * nq;
  const auto* delta = static_cast<const acc_t*>(bp.delta) + bh * nq;
  const acc_t scale = static_cast<acc_t>(p.scale);

  const Visit keys = visit_range(k_sorted, nk, q_sorted[q0], q_sorted[q0 + qcount - 1], scratch);

  int qg[TQ];
  bool qok[TQ];
  acc_t L[TQ], dl[TQ];
#pragma unroll
  for (int i = 0; i < TQ; ++i) {
    const int r = tr + 16 * i;
    const bool valid = r < qcount;
    qg[i] = valid ? q_sorted[q0 + r] : 0;
    L[i] = valid ? lse[q_order[q0 + r]] : neg_inf<acc_t>();
    dl[i] = valid ? delta[q_order[q0 + r]] : acc_t(0);
    qok[i] = valid && L[i] > neg_inf<acc_t>();
  }
  if (tid < BQ) qtok[tid] = tid < qcount ? q_order[q0 + tid] : -1;
  __syncthreads();
  load_rows<scalar_t, acc_t, BQ, D, LD>(Qs, static_cast<const scalar_t*>(p.q), b * p.q_stride[0] + h * p.q_stride[1],
                                        p.q_stride[2], qtok);
  load_rows<scalar_t, acc_t, BQ, D, LD>(dOs, static_cast<const scalar_t*>(bp.grad_out),
                                        b * bp.grad_out_stride[0] + h * bp.grad_out_stride[1], bp.grad_out_stride[2],
                                        qtok);

  acc_t dq[TQ][TD];
#pragma unroll
  for (int i = 0; i < TQ; ++i)
#pragma unroll
    for (int j = 0; j < TD; ++j) dq[i][j] = acc_t(0);

  for (int v0 = 0; v0 < keys.count; v0 += BK) {
    const int kcount = min(BK, keys.count - v0);
    __syncthreads();  // the previous tile's readers are done (and Qs, dOs are staged)
    if (tid < BK) {
      int t = -1, g = 0;
      if (tid < kcount) {
        const int pos = keys.pos(v0 + tid);
        t = k_order[pos];
        g = k_sorted[pos];
      }
      ktok[tid] = t;
      kgrp[tid] = g;
    }
    __syncthreads();
    load_rows<scalar_t, acc_t, BK, D, LD>(Ks, static_cast<const scalar_t*>(p.k),
                                          b * p.k_stride[0] + h * p.k_stride[1], p.k_stride[2], ktok);
    load_rows<scalar_t, acc_t, BK, D, LD>(Vs, static_cast<const scalar_t*>(p.v),
                                          b * p.v_stride[0] + h * p.v_stride[1], p.v_stride[2], ktok);
    __syncthreads();

    acc_t s[TQ][TK], dp[TQ][TK];
    scores_and_dp<acc_t, D, LD, TQ, TK>(Qs, dOs, Ks, Vs, tr, tc, s, dp);
#pragma unroll
    for (int i = 0; i < TQ; ++i) {
#pragma unroll
      for (int j = 0; j < TK; ++j) {
        const int c = tc + 16 * j;
        const bool ok = qok[i] && c < kcount && allowed(qg[i], kgrp[c]);
        const acc_t pv = ok ? exp_(s[i][j] * scale - L[i]) : acc_t(0);
        dSs[(tr + 16 * i) * LP + c] = ok ? pv * (dp[i][j] - dl[i]) : acc_t(0);
      }
    }
    __syncthreads();

    // dQ += dS·K for rows tr + 16i, features tc + 16j.
#pragma unroll 8
    for (int kk = 0; kk < BK; ++kk) {
      acc_t a[TQ], bk[TD];
#pragma unroll
      for (int i = 0; i < TQ; ++i) a[i] = dSs[(tr + 16 * i) * LP + kk];
#pragma unroll
      for (int j = 0; j < TD; ++j) bk[j] = Ks[kk * LD + tc + 16 * j];
#pragma unroll
      for (int i = 0; i < TQ; ++i)
#pragma unroll
        for (int j = 0; j < TD; ++j) dq[i][j] += a[i] * bk[j];
    }
  }

  auto* grad_q = static_cast<scalar_t*>(bp.grad_q);
#pragma unroll
  for (int i = 0; i < TQ; ++i) {
    const int r = tr + 16 * i;
    if (r >= qcount) continue;
    const int64_t row = bh * nq + qtok[r];
#pragma unroll
    for (int j = 0; j < TD; ++j) grad_q[row * D + tc + 16 * j] = Elem<scalar_t>::from_double(dq[i][j] * scale);
  }
}

// ---- launchers ---------------------------------------------------------------------------------

thread_local cudaError_t last_error = cudaSuccess;

Status checked(cudaError_t error) {
  last_error = error;
  return error == cudaSuccess ? Status::kOk : Status::kLaunchFailed;
}

int64_t num_tiles(int64_t n, int tile) { return (n + tile - 1) / tile; }

// Launches kernel over `blocks` blocks with `smem` bytes of dynamic shared memory (> 48 KB needs
// the opt-in attribute, set per call: it is per device and cheap).
template <typename Kernel, typename Arg>
Status launch(Kernel kernel, int64_t blocks, size_t smem, cudaStream_t stream, const Arg& arg) {
  if (blocks <= 0) return Status::kOk;
  if (blocks > INT_MAX) return Status::kInvalidArgument;
  if (smem > 0 &&
      checked(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem))) !=
          Status::kOk) {
    return Status::kLaunchFailed;
  }
  kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(arg);
  return checked(cudaGetLastError());
}

template <typename scalar_t, int D>
Status launch_fwd_typed(const CudaParams& p, cudaStream_t stream) {
  using Cfg = FwdCfg<scalar_t, D>;
  return launch(block_attention_fwd_kernel<scalar_t, D>, p.batch * p.heads * num_tiles(p.q_len, Cfg::BQ), Cfg::kSmem,
                stream, p);
}

template <typename scalar_t, int D>
Status launch_bwd_typed(const CudaBwdParams& bp, cudaStream_t stream) {
  using Cfg = BwdCfg<scalar_t, D>;
  const CudaParams& p = bp.fwd;
  const int64_t bh = p.batch * p.heads;
  Status s = launch(block_attention_bwd_delta_kernel<scalar_t, D>, num_tiles(bh * p.q_len, kThreads / 32), 0, stream,
                    bp);
  if (s != Status::kOk) return s;
  s = launch(block_attention_bwd_dkdv_kernel<scalar_t, D>, bh * num_tiles(p.k_len, Cfg::BK), Cfg::kSmemDkdv, stream,
             bp);
  if (s != Status::kOk) return s;
  return launch(block_attention_bwd_dq_kernel<scalar_t, D>, bh * num_tiles(p.q_len, Cfg::BQ), Cfg::kSmemDq, stream,
                bp);
}

template <template <typename, int> class Fn, typename P>
Status dispatch(const CudaParams& p, const P& params, cudaStream_t stream) {
  switch (p.dtype) {
#define PYIQA_FAST_BA_CASE(DTYPE, T)                                  \
  case DTYPE:                                                         \
    switch (p.head_dim) {                                             \
      case 32: return Fn<T, 32>::run(params, stream);                 \
      case 64: return Fn<T, 64>::run(params, stream);                 \
      case 128: return Fn<T, 128>::run(params, stream);               \
      default: return Status::kInvalidArgument;                       \
    }
    PYIQA_FAST_BA_CASE(DType::kFloat32, float)
    PYIQA_FAST_BA_CASE(DType::kFloat64, double)
    PYIQA_FAST_BA_CASE(DType::kFloat16, __half)
    PYIQA_FAST_BA_CASE(DType::kBFloat16, __nv_bfloat16)
#undef PYIQA_FAST_BA_CASE
  }
  return Status::kUnsupportedDType;
}

template <typename T, int D> struct FwdFn {
  static Status run(const CudaParams& p, cudaStream_t stream) { return launch_fwd_typed<T, D>(p, stream); }
};
template <typename T, int D> struct BwdFn {
  static Status run(const CudaBwdParams& p, cudaStream_t stream) { return launch_bwd_typed<T, D>(p, stream); }
};

bool valid_common(const CudaParams& p) {
  if (p.batch < 0 || p.heads < 0 || p.q_len < 0 || p.k_len < 0) return false;
  if (p.q_len > kCudaMaxLen || p.k_len > kCudaMaxLen || !cuda_supports_head_dim(p.head_dim)) return false;
  if (p.q_len > 0 && (p.q == nullptr || p.q_order == nullptr || p.q_sorted == nullptr)) return false;
  if (p.k_len > 0 && (p.k == nullptr || p.v == nullptr || p.k_order == nullptr || p.k_sorted == nullptr)) return false;
  if (p.q_layout_stride < 0 || p.k_layout_stride < 0) return false;
  return true;
}

}  // namespace

const char* block_attention_cuda_error() { return last_error == cudaSuccess ? "" : cudaGetErrorString(last_error); }

Status launch_block_attention_fwd(const CudaParams& p, cudaStream_t stream) {
  if (!valid_common(p)) return Status::kInvalidArgument;
  if (p.batch == 0 || p.heads == 0 || p.q_len == 0) return Status::kOk;
  if (p.out == nullptr || p.lse == nullptr) return Status::kInvalidArgument;
  return dispatch<FwdFn>(p, p, stream);
}

Status launch_block_attention_bwd(const CudaBwdParams& bp, cudaStream_t stream) {
  const CudaParams& p = bp.fwd;
  if (!valid_common(p)) return Status::kInvalidArgument;
  if (p.batch == 0 || p.heads == 0) return Status::kOk;
  if (p.q_len > 0 && (p.out == nullptr || p.lse == nullptr || bp.grad_out == nullptr || bp.grad_q == nullptr ||
                      bp.delta == nullptr)) {
    return Status::kInvalidArgument;
  }
  if (p.k_len > 0 && (bp.grad_k == nullptr || bp.grad_v == nullptr)) return Status::kInvalidArgument;
  return dispatch<BwdFn>(p, bp, stream);
}

}  // namespace pyiqa_fast::block_attention
