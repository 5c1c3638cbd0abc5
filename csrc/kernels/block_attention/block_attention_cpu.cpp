// block_attention — CPU kernel.
//
// Algorithm: per (sample, head), bucket the queries by group id: the global queries (id < 0) see
// every key; the queries of group g see the global keys and the keys of g. Each bucket is a dense
// attention over exactly the keys it may see, so no masked pair is ever computed: for SHDIQA's
// 2-block partition that is half of the patch pairs, for the 2×2 grid three quarters. Within a
// bucket, rows are processed in chunks of kRowChunk: gather (scale·q) rows, S = Q·Kᵀ, softmax with
// lse, O = P·V scattered back to the token rows. The backward recomputes P from lse and forms
// dP = dO·Vᵀ, dS = P∘(dP − δ) with δ_i = dO_i·O_i, dQ = scale·dS·K, dK += dSᵀ·(scale·Q),
// dV += Pᵀ·dO; keys seen by several buckets (the global ones) are accumulated bucket after bucket
// in a fixed order, so results are deterministic and independent of the thread split.
//
// GEMMs: one register-blocked micro-kernel (4 rows × 2 vectors, GCC vector extensions) over
// buffers padded to whole blocks with zeros, compiled twice: for AVX2+FMA (chosen at run time) and
// for baseline x86-64. Work per bucket fits in L2 (S chunk 64 × keys, K/V panels keys × d).
// Precision: float for fp32 (and fp16/bf16 inputs, upcast by the binding), double for fp64;
// exp is a vectorised Cephes-style polynomial for float (≤ 2 ulp), std::exp for double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/block_attention/block_attention.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PYIQA_FAST_X86_DISPATCH 1
#define PYIQA_FAST_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PYIQA_FAST_X86_DISPATCH 0
#define PYIQA_FAST_ALWAYS_INLINE inline
#endif

// 256-bit vectors pass through always_inline helpers only, so no call crosses the ABI boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace pyiqa_fast::block_attention {
namespace {

constexpr int64_t kRowChunk = 64;  // query rows per S chunk: bounds the buffers at 64 × keys
constexpr int64_t kBlockRows = 4;  // micro-kernel rows

template <typename T>
struct Vec {
  static constexpr int64_t kLanes = 32 / sizeof(T);
  typedef T type __attribute__((vector_size(32)));
};

template <typename T>
PYIQA_FAST_ALWAYS_INLINE typename Vec<T>::type load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
PYIQA_FAST_ALWAYS_INLINE void store(T* p, typename Vec<T>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// C[M×N] (+)= A·B with A(i, k) = a[i·a_row + k·a_col], B row-major (ldb), C row-major (ldc).
// M is a multiple of kBlockRows and N of 2 vectors: callers pad with zeros.
template <typename T>
PYIQA_FAST_ALWAYS_INLINE void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t a_row, int64_t a_col,
                                   const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = Vec<T>::kLanes;
  for (int64_t i = 0; i < M; i += kBlockRows) {
    const T* a0 = a + i * a_row;
    const T* a1 = a0 + a_row;
    const T* a2 = a1 + a_row;
    const T* a3 = a2 + a_row;
    for (int64_t j = 0; j < N; j += 2 * W) {
      V c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {};
      const T* bj = b + j;
      for (int64_t k = 0; k < K; ++k) {
        const V b0 = load(bj + k * ldb);
        const V b1 = load(bj + k * ldb + W);
        const T x0 = a0[k * a_col], x1 = a1[k * a_col], x2 = a2[k * a_col], x3 = a3[k * a_col];
        c00 += x0 * b0;
        c01 += x0 * b1;
        c10 += x1 * b0;
        c11 += x1 * b1;
        c20 += x2 * b0;
        c21 += x2 * b1;
        c30 += x3 * b0;
        c31 += x3 * b1;
      }
      T* c0 = c + i * ldc + j;
      const V rows[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
      for (int r = 0; r < 4; ++r) {
        T* cr = c0 + r * ldc;
        if (accumulate) {
          store(cr, load(cr) + rows[r][0]);
          store(cr + W, load(cr + W) + rows[r][1]);
        } else {
          store(cr, rows[r][0]);
          store(cr + W, rows[r][1]);
        }
      }
    }
  }
}

// exp(x) for x ≤ 0 (softmax arguments): Cephes expf range reduction and polynomial, 8 lanes.
PYIQA_FAST_ALWAYS_INLINE Vec<float>::type vexp(Vec<float>::type x) {
  using V = Vec<float>::type;
  typedef int32_t VI __attribute__((vector_size(32)));
  const V lo = V{} - 87.3f;
  x = x < lo ? lo : x;  // exp(−87.3) ≈ 1.2e-38: below that the result is flushed to 0 below
  V n = x * 1.44269504088896341f + 12582912.0f;  // round to nearest via the 1.5·2^23 shift
  n -= 12582912.0f;
  V r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const VI e = (__builtin_convertvector(n, VI) + 127) << 23;
  V scale;
  std::memcpy(&scale, &e, sizeof(scale));
  const V out = p * scale;
  return x <= lo ? V{} : out;
}

// In place: row ← exp(row − m) over n valid entries (the padding stays 0); returns their sum.
template <typename T>
PYIQA_FAST_ALWAYS_INLINE T exp_shifted(T* row, int64_t n, T m) {
  T sum = 0;
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float>) {
    using V = Vec<float>::type;
    constexpr int64_t W = Vec<float>::kLanes;
    V acc = {};
    for (; j + W <= n; j += W) {
      const V e = vexp(load(row + j) - m);
      store(row + j, e);
      acc += e;
    }
    for (int64_t l = 0; l < W; ++l) sum += acc[l];
    if (j < n) {  // tail: through the vector path on a padded copy
      float tail[W] = {};
      for (int64_t l = 0; l < n - j; ++l) tail[l] = row[j + l] - m;
      const V e = vexp(load(tail));
      for (int64_t l = 0; l < n - j; ++l) {
        row[j + l] = e[l];
        sum += e[l];
      }
    }
  } else {
    for (; j < n; ++j) sum += (row[j] = std::exp(row[j] - m));
  }
  return sum;
}

// Token indices of one sample's layout: global queries/keys and, per group, its queries/keys.
struct Layout {
  const int32_t* q_row = nullptr;
  const int32_t* k_row = nullptr;
  std::vector<int64_t> q_tokens, k_tokens;    // queries / keys sorted by group, globals first
  std::vector<int64_t> q_start, k_begin, k_end;  // bucket b: q_tokens[q_start[b], q_start[b+1]),
                                                 // its group keys k_tokens[k_begin[b], k_end[b])
  int64_t k_globals = 0;                         // k_tokens[0, k_globals) are the global keys
  bool global_bucket = false;                    // bucket 0 holds the global queries

  void build(const int32_t* q_ids, int64_t q_len, const int32_t* k_ids, int64_t k_len) {
    if (q_ids == q_row && k_ids == k_row) return;  // same layout as the previous (sample, head)
    q_row = q_ids;
    k_row = k_ids;
    sort_tokens(q_ids, q_len, q_tokens);
    sort_tokens(k_ids, k_len, k_tokens);
    k_globals = 0;
    while (k_globals < k_len && k_ids[k_tokens[k_globals]] < 0) ++k_globals;
    q_start.clear();
    k_begin.clear();
    k_end.clear();
    int64_t i = 0, kb = k_globals;
    global_bucket = q_len > 0 && q_ids[q_tokens[0]] < 0;
    if (global_bucket) {
      q_start.push_back(0);
      k_begin.push_back(k_globals);
      k_end.push_back(k_globals);  // unused: the global bucket sees every key
      while (i < q_len && q_ids[q_tokens[i]] < 0) ++i;
    }
    while (i < q_len) {
      const int32_t g = q_ids[q_tokens[i]];
      q_start.push_back(i);
      while (i < q_len && q_ids[q_tokens[i]] == g) ++i;
      while (kb < k_len && k_ids[k_tokens[kb]] < g) ++kb;
      int64_t ke = kb;
      while (ke < k_len && k_ids[k_tokens[ke]] == g) ++ke;
      k_begin.push_back(kb);
      k_end.push_back(ke);
      kb = ke;
    }
    q_start.push_back(q_len);
  }

  int64_t buckets() const { return static_cast<int64_t>(q_start.size()) - 1; }

 private:
  static void sort_tokens(const int32_t* ids, int64_t n, std::vector<int64_t>& tokens) {
    tokens.resize(n);
    for (int64_t t = 0; t < n; ++t) tokens[t] = t;
    // Negative ids are global: they sort first, as one group.
    std::stable_sort(tokens.begin(), tokens.end(),
                     [ids](int64_t a, int64_t b) { return std::max(ids[a], -1) < std::max(ids[b], -1); });
  }
};

// Per-thread scratch, grown on demand and reused across (sample, head) pairs.
template <typename T>
struct Scratch {
  Layout layout;
  std::vector<int64_t> keys;                     // the bucket's key tokens: globals, then the group's
  std::vector<T> k_rows, k_cols, v_rows, v_cols;  // keys × d (rows) and d × keys (cols) panels
  std::vector<T> q, s, dp, dout, dq, dk, dv;
};

template <typename T>
void resize_zero(std::vector<T>& v, int64_t n) {
  v.assign(static_cast<size_t>(n), T(0));
}

// The keys a bucket sees, in a fixed order: every key for the global bucket, else the global keys
// followed by the keys of the bucket's group.
inline void bucket_keys(const Layout& layout, int64_t bucket, int64_t k_len, std::vector<int64_t>& keys) {
  keys.clear();
  if (layout.global_bucket && bucket == 0) {
    for (int64_t t = 0; t < k_len; ++t) keys.push_back(t);
    return;
  }
  keys.insert(keys.end(), layout.k_tokens.begin(), layout.k_tokens.begin() + layout.k_globals);
  keys.insert(keys.end(), layout.k_tokens.begin() + layout.k_begin[bucket],
              layout.k_tokens.begin() + layout.k_end[bucket]);
}

// Panel of rows [keys × dp] and/or its transpose [dp × keys_p] from x (token stride, d features).
template <typename T>
PYIQA_FAST_ALWAYS_INLINE void gather_panels(const T* x, int64_t token_stride, const std::vector<int64_t>& keys,
                                            int64_t d, int64_t dp, int64_t keys_p, std::vector<T>* rows,
                                            std::vector<T>* cols) {
  const int64_t n = static_cast<int64_t>(keys.size());
  if (rows) resize_zero(*rows, keys_p * dp);
  if (cols) resize_zero(*cols, dp * keys_p);
  for (int64_t j = 0; j < n; ++j) {
    const T* src = x + keys[j] * token_stride;
    if (rows) std::memcpy(rows->data() + j * dp, src, d * sizeof(T));
    if (cols)
      for (int64_t c = 0; c < d; ++c) (*cols)[c * keys_p + j] = src[c];
  }
}

template <typename T>
PYIQA_FAST_ALWAYS_INLINE void fwd_pair(const CpuParams<T>& p, int64_t pair, Scratch<T>& w) {
  constexpr int64_t W2 = 2 * Vec<T>::kLanes;
  const int64_t b = pair / p.heads, h = pair % p.heads, d = p.head_dim;
  const int64_t dp = round_up(d, W2);
  const T* q = p.q + b * p.q_stride[0] + h * p.q_stride[1];
  const T* k = p.k + b * p.k_stride[0] + h * p.k_stride[1];
  const T* v = p.v + b * p.v_stride[0] + h * p.v_stride[1];
  T* out = p.out + pair * p.q_len * d;
  T* lse = p.lse + pair * p.q_len;
  Layout& layout = w.layout;
  layout.build(p.q_groups + b * p.q_groups_stride, p.q_len, p.k_groups + b * p.k_groups_stride, p.k_len);

  for (int64_t bucket = 0; bucket < layout.buckets(); ++bucket) {
    bucket_keys(layout, bucket, p.k_len, w.keys);
    const int64_t nk = static_cast<int64_t>(w.keys.size());
    const int64_t nkp = round_up(nk, W2);
    if (nk > 0) {
      gather_panels<T>(k, p.k_stride[2], w.keys, d, dp, nkp, nullptr, &w.k_cols);
      gather_panels<T>(v, p.v_stride[2], w.keys, d, dp, nkp, &w.v_rows, nullptr);
    }
    for (int64_t r0 = layout.q_start[bucket]; r0 < layout.q_start[bucket + 1]; r0 += kRowChunk) {
      const int64_t rows = std::min(kRowChunk, layout.q_start[bucket + 1] - r0);
      const int64_t* tokens = layout.q_tokens.data() + r0;
      if (nk == 0) {  // no key to attend to: zeros, lse = −inf
        for (int64_t r = 0; r < rows; ++r) {
          std::fill(out + tokens[r] * d, out + tokens[r] * d + d, T(0));
          lse[tokens[r]] = -std::numeric_limits<T>::infinity();
        }
        continue;
      }
      const int64_t rp = round_up(rows, kBlockRows);
      resize_zero(w.q, rp * dp);
      for (int64_t r = 0; r < rows; ++r) {
        const T* src = q + tokens[r] * p.q_stride[2];
        for (int64_t c = 0; c < d; ++c) w.q[r * dp + c] = p.scale * src[c];
      }
      w.s.resize(rp * nkp);
      gemm<T>(rp, nkp, d, w.q.data(), dp, 1, w.k_cols.data(), nkp, w.s.data(), nkp, false);
      for (int64_t r = 0; r < rows; ++r) {
        T* srow = w.s.data() + r * nkp;
        const T m = *std::max_element(srow, srow + nk);
        const T sum = exp_shifted(srow, nk, m);
        const T inv = T(1) / sum;
        for (int64_t j = 0; j < nk; ++j) srow[j] *= inv;
        std::fill(srow + nk, srow + nkp, T(0));
        lse[tokens[r]] = m + std::log(sum);
      }
      for (int64_t r = rows; r < rp; ++r) std::fill(w.s.data() + r * nkp, w.s.data() + (r + 1) * nkp, T(0));
      resize_zero(w.dq, rp * dp);  // O chunk
      gemm<T>(rp, dp, nkp, w.s.data(), nkp, 1, w.v_rows.data(), dp, w.dq.data(), dp, false);
      for (int64_t r = 0; r < rows; ++r) std::memcpy(out + tokens[r] * d, w.dq.data() + r * dp, d * sizeof(T));
    }
  }
}

template <typename T>
PYIQA_FAST_ALWAYS_INLINE void bwd_pair(const CpuBwdParams<T>& bp, int64_t pair, Scratch<T>& w) {
  const CpuParams<T>& p = bp.fwd;
  constexpr int64_t W2 = 2 * Vec<T>::kLanes;
  const int64_t b = pair / p.heads, h = pair % p.heads, d = p.head_dim;
  const int64_t dp = round_up(d, W2);
  const T* q = p.q + b * p.q_stride[0] + h * p.q_stride[1];
  const T* k = p.k + b * p.k_stride[0] + h * p.k_stride[1];
  const T* v = p.v + b * p.v_stride[0] + h * p.v_stride[1];
  const T* dout = bp.grad_out + b * bp.grad_out_stride[0] + h * bp.grad_out_stride[1];
  const T* out = p.out + pair * p.q_len * d;
  const T* lse = p.lse + pair * p.q_len;
  T* grad_q = bp.grad_q + pair * p.q_len * d;
  T* grad_k = bp.grad_k + pair * p.k_len * d;
  T* grad_v = bp.grad_v + pair * p.k_len * d;
  std::fill(grad_k, grad_k + p.k_len * d, T(0));
  std::fill(grad_v, grad_v + p.k_len * d, T(0));
  Layout& layout = w.layout;
  layout.build(p.q_groups + b * p.q_groups_stride, p.q_len, p.k_groups + b * p.k_groups_stride, p.k_len);

  for (int64_t bucket = 0; bucket < layout.buckets(); ++bucket) {
    bucket_keys(layout, bucket, p.k_len, w.keys);
    const int64_t nk = static_cast<int64_t>(w.keys.size());
    const int64_t nkp = round_up(nk, W2);
    const int64_t q_begin = layout.q_start[bucket], q_end = layout.q_start[bucket + 1];
    if (nk == 0) {
      for (int64_t i = q_begin; i < q_end; ++i) {
        const int64_t t = layout.q_tokens[i];
        std::fill(grad_q + t * d, grad_q + t * d + d, T(0));
      }
      continue;
    }
    gather_panels<T>(k, p.k_stride[2], w.keys, d, dp, nkp, &w.k_rows, &w.k_cols);
    gather_panels<T>(v, p.v_stride[2], w.keys, d, dp, nkp, nullptr, &w.v_cols);
    resize_zero(w.dk, nkp * dp);
    resize_zero(w.dv, nkp * dp);
    for (int64_t r0 = q_begin; r0 < q_end; r0 += kRowChunk) {
      const int64_t rows = std::min(kRowChunk, q_end - r0);
      const int64_t rp = round_up(rows, kBlockRows);
      const int64_t* tokens = layout.q_tokens.data() + r0;
      resize_zero(w.q, rp * dp);
      resize_zero(w.dout, rp * dp);
      for (int64_t r = 0; r < rows; ++r) {
        const T* qs = q + tokens[r] * p.q_stride[2];
        const T* gs = dout + tokens[r] * bp.grad_out_stride[2];
        for (int64_t c = 0; c < d; ++c) w.q[r * dp + c] = p.scale * qs[c];
        std::memcpy(w.dout.data() + r * dp, gs, d * sizeof(T));
      }
      w.s.resize(rp * nkp);
      w.dp.resize(rp * nkp);
      gemm<T>(rp, nkp, d, w.q.data(), dp, 1, w.k_cols.data(), nkp, w.s.data(), nkp, false);
      gemm<T>(rp, nkp, d, w.dout.data(), dp, 1, w.v_cols.data(), nkp, w.dp.data(), nkp, false);
      for (int64_t r = 0; r < rp; ++r) {
        T* srow = w.s.data() + r * nkp;
        T* dprow = w.dp.data() + r * nkp;
        if (r >= rows) {  // padding rows contribute nothing
          std::fill(srow, srow + nkp, T(0));
          std::fill(dprow, dprow + nkp, T(0));
          continue;
        }
        const int64_t t = tokens[r];
        T delta = 0;
        for (int64_t c = 0; c < d; ++c) delta += dout[t * bp.grad_out_stride[2] + c] * out[t * d + c];
        exp_shifted(srow, nk, lse[t]);  // P
        for (int64_t j = 0; j < nk; ++j) dprow[j] = srow[j] * (dprow[j] - delta);  // dS
        std::fill(srow + nk, srow + nkp, T(0));
        std::fill(dprow + nk, dprow + nkp, T(0));
      }
      resize_zero(w.dq, rp * dp);
      gemm<T>(rp, dp, nkp, w.dp.data(), nkp, 1, w.k_rows.data(), dp, w.dq.data(), dp, false);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < d; ++c) grad_q[tokens[r] * d + c] = p.scale * w.dq[r * dp + c];
      // dK += dSᵀ·(scale·Q), dV += Pᵀ·dO: A is read transposed (row stride 1, column stride nkp).
      gemm<T>(nkp, dp, rp, w.dp.data(), 1, nkp, w.q.data(), dp, w.dk.data(), dp, true);
      gemm<T>(nkp, dp, rp, w.s.data(), 1, nkp, w.dout.data(), dp, w.dv.data(), dp, true);
    }
    for (int64_t j = 0; j < nk; ++j) {
      const int64_t t = w.keys[j];
      for (int64_t c = 0; c < d; ++c) {
        grad_k[t * d + c] += w.dk[j * dp + c];
        grad_v[t * d + c] += w.dv[j * dp + c];
      }
    }
  }
}

template <typename T>
void fwd_range_generic(const CpuParams<T>& p, int64_t begin, int64_t end) {
  Scratch<T> scratch;
  for (int64_t pair = begin; pair < end; ++pair) fwd_pair(p, pair, scratch);
}

template <typename T>
void bwd_range_generic(const CpuBwdParams<T>& p, int64_t begin, int64_t end) {
  Scratch<T> scratch;
  for (int64_t pair = begin; pair < end; ++pair) bwd_pair(p, pair, scratch);
}

#if PYIQA_FAST_X86_DISPATCH
// The same code compiled for AVX2 + FMA (the callees are always_inline, so they inherit the
// target); chosen at run time, so the library still loads on baseline x86-64.
template <typename T>
__attribute__((target("avx2,fma"))) void fwd_range_avx2(const CpuParams<T>& p, int64_t begin, int64_t end) {
  Scratch<T> scratch;
  for (int64_t pair = begin; pair < end; ++pair) fwd_pair(p, pair, scratch);
}

template <typename T>
__attribute__((target("avx2,fma"))) void bwd_range_avx2(const CpuBwdParams<T>& p, int64_t begin, int64_t end) {
  Scratch<T> scratch;
  for (int64_t pair = begin; pair < end; ++pair) bwd_pair(p, pair, scratch);
}

bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#endif

template <typename T>
bool valid(const CpuParams<T>& p) {
  return p.batch >= 0 && p.heads >= 0 && p.q_len >= 0 && p.k_len >= 0 && p.head_dim >= 1 && p.q && p.k && p.v &&
         p.q_groups && p.k_groups && p.out && p.lse;
}

}  // namespace

template <typename T>
Status block_attention_fwd_cpu(const CpuParams<T>& params, int64_t begin, int64_t end) {
  if (!valid(params)) return Status::kInvalidArgument;
#if PYIQA_FAST_X86_DISPATCH
  if (has_avx2_fma()) {
    fwd_range_avx2(params, begin, end);
    return Status::kOk;
  }
#endif
  fwd_range_generic(params, begin, end);
  return Status::kOk;
}

template <typename T>
Status block_attention_bwd_cpu(const CpuBwdParams<T>& params, int64_t begin, int64_t end) {
  if (!valid(params.fwd) || !params.grad_out || !params.grad_q || !params.grad_k || !params.grad_v)
    return Status::kInvalidArgument;
#if PYIQA_FAST_X86_DISPATCH
  if (has_avx2_fma()) {
    bwd_range_avx2(params, begin, end);
    return Status::kOk;
  }
#endif
  bwd_range_generic(params, begin, end);
  return Status::kOk;
}

template Status block_attention_fwd_cpu<float>(const CpuParams<float>&, int64_t, int64_t);
template Status block_attention_fwd_cpu<double>(const CpuParams<double>&, int64_t, int64_t);
template Status block_attention_bwd_cpu<float>(const CpuBwdParams<float>&, int64_t, int64_t);
template Status block_attention_bwd_cpu<double>(const CpuBwdParams<double>&, int64_t, int64_t);

}  // namespace pyiqa_fast::block_attention
