// Standalone test of the block_attention kernels, without torch, against a naive double-precision
// reference (dense loops over the mask rule gq < 0 || gk < 0 || gq == gk). With
// PYIQA_FAST_WITH_CUDA: the CUDA launchers (forward and backward) over ViT layouts (vertical,
// horizontal, 2×2 grid, per-sample and shared group rows), a decoder-style cross attention with a
// query group that no key has (empty row: out 0, lse −inf, zero gradients), all-global queries,
// many global tokens (several query tiles with globals), odd lengths, head_dim 32/64/128, fp32,
// fp64 and fp16, strided (B, N, H, d) inputs, and bitwise run-to-run determinism. Without CUDA:
// the CPU kernel through the header API. It is the target of `make sanitize`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <type_traits>
#include <vector>

#include "kernels/block_attention/block_attention.h"

#if PYIQA_FAST_WITH_CUDA
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

namespace ba = pyiqa_fast::block_attention;

namespace {

int failures = 0;

// One test problem; tensors are logical (B, H, N, d) contiguous doubles holding values that are
// exactly representable in the dtype under test.
struct Problem {
  const char* name = "";
  int64_t B = 1, H = 1, Nq = 0, Nk = 0, D = 32;
  int64_t Gq = 1, Gk = 1;  // group rows: 1 (shared) or B
  std::vector<int32_t> qg, kg;
  double scale = 1.0;
  std::vector<double> q, k, v, dout;
};

struct Result {
  std::vector<double> out, lse, dq, dk, dv;
};

int32_t qgroup(const Problem& P, int64_t b, int64_t i) { return P.qg[(P.Gq == 1 ? 0 : b) * P.Nq + i]; }
int32_t kgroup(const Problem& P, int64_t b, int64_t j) { return P.kg[(P.Gk == 1 ? 0 : b) * P.Nk + j]; }
bool allowed(int32_t gq, int32_t gk) { return gq < 0 || gk < 0 || gq == gk; }

Result reference(const Problem& P) {
  const int64_t D = P.D;
  Result R;
  R.out.assign(P.B * P.H * P.Nq * D, 0.0);
  R.lse.assign(P.B * P.H * P.Nq, -INFINITY);
  R.dq.assign(P.B * P.H * P.Nq * D, 0.0);
  R.dk.assign(P.B * P.H * P.Nk * D, 0.0);
  R.dv.assign(P.B * P.H * P.Nk * D, 0.0);
  std::vector<double> s(P.Nk), prob(P.Nk);
  for (int64_t b = 0; b < P.B; ++b) {
    for (int64_t h = 0; h < P.H; ++h) {
      const int64_t bh = b * P.H + h;
      const double* q = &P.q[bh * P.Nq * D];
      const double* k = &P.k[bh * P.Nk * D];
      const double* v = &P.v[bh * P.Nk * D];
      const double* dout = &P.dout[bh * P.Nq * D];
      for (int64_t i = 0; i < P.Nq; ++i) {
        double m = -INFINITY;
        for (int64_t j = 0; j < P.Nk; ++j) {
          s[j] = -INFINITY;
          if (!allowed(qgroup(P, b, i), kgroup(P, b, j))) continue;
          double dot = 0;
          for (int64_t c = 0; c < D; ++c) dot += q[i * D + c] * k[j * D + c];
          s[j] = P.scale * dot;
          m = std::max(m, s[j]);
        }
        if (m == -INFINITY) continue;  // empty row: out 0, lse −inf, no gradient
        double l = 0;
        for (int64_t j = 0; j < P.Nk; ++j) l += (prob[j] = s[j] == -INFINITY ? 0.0 : std::exp(s[j] - m));
        double* o = &R.out[(bh * P.Nq + i) * D];
        for (int64_t j = 0; j < P.Nk; ++j) {
          prob[j] /= l;
          for (int64_t c = 0; c < D; ++c) o[c] += prob[j] * v[j * D + c];
        }
        R.lse[bh * P.Nq + i] = m + std::log(l);
        double delta = 0;
        for (int64_t c = 0; c < D; ++c) delta += dout[i * D + c] * o[c];
        for (int64_t j = 0; j < P.Nk; ++j) {
          if (prob[j] == 0) continue;
          double dp = 0;
          for (int64_t c = 0; c < D; ++c) dp += dout[i * D + c] * v[j * D + c];
          const double ds = prob[j] * (dp - delta);
          for (int64_t c = 0; c < D; ++c) {
            R.dq[(bh * P.Nq + i) * D + c] += P.scale * ds * k[j * D + c];
            R.dk[(bh * P.Nk + j) * D + c] += P.scale * ds * q[i * D + c];
            R.dv[(bh * P.Nk + j) * D + c] += prob[j] * dout[i * D + c];
          }
        }
      }
    }
  }
  return R;
}

void compare(const std::vector<double>& got, const std::vector<double>& want, double tol, const Problem& P,
             const char* dtype, const char* what) {
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    const bool ok = std::isinf(w) ? g == w : (std::isfinite(g) && std::fabs(g - w) <= tol * (1.0 + std::fabs(w)));
    if (!ok && bad++ == 0) first = static_cast<int64_t>(i);
  }
  if (bad) {
    std::printf("FAIL %s [%s] %s: %lld of %zu entries differ; first at %lld: %.10g vs %.10g\n", P.name, dtype, what,
                static_cast<long long>(bad), want.size(), static_cast<long long>(first), got[first], want[first]);
    ++failures;
  }
}

// ---- problems ------------------------------------------------------------------------------------

// The 197 ViT tokens: CLS (−1), then 14 × 14 patches in raster order.
std::vector<int32_t> vit_groups(const char* mode) {
  std::vector<int32_t> g(197, -1);
  for (int p = 0; p < 196; ++p) {
    const int r = p / 14, c = p % 14;
    if (!std::strcmp(mode, "vertical")) g[p + 1] = c < 7 ? 0 : 1;
    if (!std::strcmp(mode, "horizontal")) g[p + 1] = r < 7 ? 0 : 1;
    if (!std::strcmp(mode, "grid")) g[p + 1] = (r < 7 ? 0 : 2) + (c < 7 ? 0 : 1);
  }
  return g;
}

std::vector<int32_t> random_groups(int64_t n, int groups, double global_fraction, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> g(0, groups - 1);
  std::vector<int32_t> out(n);
  for (auto& x : out) x = u(rng) < global_fraction ? -1 - static_cast<int32_t>(u(rng) * 3) : g(rng);  // −1..−3
  return out;
}

void fill(Problem* P, std::mt19937& rng, bool half) {
  std::normal_distribution<double> normal;
  auto gen = [&](std::vector<double>* x, int64_t n) {
    x->resize(n);
    for (auto& e : *x) {
      e = normal(rng);
      // fp16-exact values: multiples of 2^-6 below 32 in magnitude have at most 11 significant bits.
      if (half) e = std::ldexp(std::round(std::ldexp(std::clamp(e, -31.0, 31.0), 6)), -6);
      else e = static_cast<double>(static_cast<float>(e));
    }
  };
  gen(&P->q, P->B * P->H * P->Nq * P->D);
  gen(&P->k, P->B * P->H * P->Nk * P->D);
  gen(&P->v, P->B * P->H * P->Nk * P->D);
  gen(&P->dout, P->B * P->H * P->Nq * P->D);
  P->scale = 1.0 / std::sqrt(static_cast<double>(P->D));
}

Problem self_problem(const char* name, int64_t B, int64_t H, int64_t D, std::vector<std::vector<int32_t>> rows) {
  Problem P;
  P.name = name;
  P.B = B;
  P.H = H;
  P.D = D;
  P.Nq = P.Nk = static_cast<int64_t>(rows[0].size());
  P.Gq = P.Gk = static_cast<int64_t>(rows.size());
  for (auto& r : rows) P.qg.insert(P.qg.end(), r.begin(), r.end());
  P.kg = P.qg;
  return P;
}

std::vector<Problem> problems(std::mt19937& rng) {
  std::vector<Problem> ps;
  ps.push_back(self_problem("vit vertical shared", 2, 3, 64, {vit_groups("vertical")}));
  ps.push_back(self_problem("vit grid/horizontal per-sample", 2, 3, 64, {vit_groups("grid"), vit_groups("horizontal")}));
  ps.push_back(self_problem("vit grid d32", 1, 2, 32, {vit_groups("grid")}));
  ps.push_back(self_problem("vit grid d128", 2, 1, 128, {vit_groups("grid")}));
  {  // Decoder cross attention: 8 queries (global, blocks 0..2, block 7 that no key has), keys = 196
     // grid patches + 4 block features, no global key.
    Problem P;
    P.name = "cross, empty query group";
    P.B = 2, P.H = 2, P.D = 32, P.Nq = 8, P.Nk = 200;
    P.qg = {-1, 0, 0, 1, 1, 2, 7, 3};
    std::vector<int32_t> kg = vit_groups("grid");
    kg.erase(kg.begin());
    for (int32_t g = 0; g < 4; ++g) kg.push_back(g);
    P.kg = kg;
    ps.push_back(P);
  }
  {
    Problem P = self_problem("all-global queries", 2, 2, 128, {random_groups(70, 3, 0.1, rng)});
    P.qg.assign(70, -1);
    ps.push_back(P);
  }
  {
    Problem P;
    P.name = "odd lengths 37x130 per-sample";
    P.B = 2, P.H = 2, P.D = 32, P.Nq = 37, P.Nk = 130, P.Gq = 2, P.Gk = 2;
    for (int b = 0; b < 2; ++b) {
      auto q = random_groups(37, 5, 0.15, rng), k = random_groups(130, 5, 0.1, rng);
      P.qg.insert(P.qg.end(), q.begin(), q.end());
      P.kg.insert(P.kg.end(), k.begin(), k.end());
    }
    ps.push_back(P);
    P.name = "odd lengths 37x130 d128";
    P.D = 128;
    ps.push_back(P);
  }
  ps.push_back(self_problem("many globals (several global q/k tiles)", 1, 2, 64, {random_groups(300, 4, 0.5, rng)}));
  {  // Many groups, no global key, some query groups without keys.
    Problem P;
    P.name = "530 tokens, 12 groups, no globals";
    P.B = 1, P.H = 2, P.D = 64, P.Nq = 530, P.Nk = 530;
    P.qg = random_groups(530, 12, 0.0, rng);
    P.kg = random_groups(530, 10, 0.0, rng);
    ps.push_back(P);
  }
  {
    Problem P;
    P.name = "single query and key";
    P.B = 3, P.H = 1, P.D = 64, P.Nq = 1, P.Nk = 1;
    P.qg = {4};
    P.kg = {4};
    ps.push_back(P);
  }
  return ps;
}

#if PYIQA_FAST_WITH_CUDA
// ---- CUDA ----------------------------------------------------------------------------------------

#define CHECK_CUDA(expr)                                                                    \
  do {                                                                                      \
    const cudaError_t e_ = (expr);                                                          \
    if (e_ != cudaSuccess) {                                                                \
      std::printf("FAIL %s:%d %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      ++failures;                                                                           \
    }                                                                                       \
  } while (0)

template <typename T> T to_elem(double x) { return static_cast<T>(x); }
template <> __half to_elem<__half>(double x) { return __float2half(static_cast<float>(x)); }
template <typename T> double from_elem(T x) { return static_cast<double>(x); }
template <> double from_elem<__half>(__half x) { return static_cast<double>(__half2float(x)); }

template <typename T> constexpr pyiqa_fast::DType dtype_of();
template <> constexpr pyiqa_fast::DType dtype_of<float>() { return pyiqa_fast::DType::kFloat32; }
template <> constexpr pyiqa_fast::DType dtype_of<double>() { return pyiqa_fast::DType::kFloat64; }
template <> constexpr pyiqa_fast::DType dtype_of<__half>() { return pyiqa_fast::DType::kFloat16; }
template <typename T> const char* dtype_name() { return sizeof(T) == 8 ? "fp64" : sizeof(T) == 4 ? "fp32" : "fp16"; }

struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) { CHECK_CUDA(cudaMalloc(&ptr, bytes > 0 ? bytes : 1)); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <typename T>
void upload(DeviceBuffer& dst, const std::vector<T>& src) {
  CHECK_CUDA(cudaMemcpy(dst.ptr, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice));
}

template <typename T>
std::vector<T> download(const DeviceBuffer& src, size_t n) {
  std::vector<T> out(n);
  CHECK_CUDA(cudaMemcpy(out.data(), src.ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
  return out;
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& x) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = from_elem(x[i]);
  return out;
}

// The binding's layout: per group row, a stable argsort and the sorted ids.
void host_layout(const std::vector<int32_t>& g, int64_t rows, int64_t n, std::vector<int32_t>* order,
                 std::vector<int32_t>* sorted) {
  order->resize(rows * n);
  sorted->resize(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    int32_t* o = order->data() + r * n;
    std::iota(o, o + n, 0);
    std::stable_sort(o, o + n, [&](int32_t a, int32_t b) { return g[r * n + a] < g[r * n + b]; });
    for (int64_t i = 0; i < n; ++i) (*sorted)[r * n + i] = g[r * n + o[i]];
  }
}

// A logical (B, H, N, d) tensor stored (B, N, H, d) when `bnhd` (strided like a transposed view).
template <typename T>
std::vector<T> store(const std::vector<double>& x, const Problem& P, int64_t n, bool bnhd, int64_t (&stride)[3]) {
  const int64_t D = P.D;
  if (bnhd) {
    stride[0] = n * P.H * D, stride[1] = D, stride[2] = P.H * D;
  } else {
    stride[0] = P.H * n * D, stride[1] = n * D, stride[2] = D;
  }
  std::vector<T> out(x.size());
  for (int64_t b = 0; b < P.B; ++b)
    for (int64_t h = 0; h < P.H; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < D; ++c)
          out[b * stride[0] + h * stride[1] + i * stride[2] + c] = to_elem<T>(x[((b * P.H + h) * n + i) * D + c]);
  return out;
}

template <typename T>
void run_cuda(const Problem& P, const Result& want, bool bnhd) {
  using acc_t = std::conditional_t<sizeof(T) == 8, double, float>;
  const double tol = sizeof(T) == 8 ? 1e-11 : sizeof(T) == 4 ? 1e-4 : 1e-2;
  const int64_t nq = P.B * P.H * P.Nq * P.D, nk = P.B * P.H * P.Nk * P.D, rows = P.B * P.H * P.Nq;

  ba::CudaParams p;
  p.batch = P.B, p.heads = P.H, p.q_len = P.Nq, p.k_len = P.Nk, p.head_dim = P.D;
  p.dtype = dtype_of<T>();
  p.scale = P.scale;
  int64_t go_stride[3];
  const auto hq = store<T>(P.q, P, P.Nq, bnhd, p.q_stride), hk = store<T>(P.k, P, P.Nk, bnhd, p.k_stride),
             hv = store<T>(P.v, P, P.Nk, bnhd, p.v_stride), hgo = store<T>(P.dout, P, P.Nq, bnhd, go_stride);
  std::vector<int32_t> qo, qs, ko, ks;
  host_layout(P.qg, P.Gq, P.Nq, &qo, &qs);
  host_layout(P.kg, P.Gk, P.Nk, &ko, &ks);
  DeviceBuffer dq_in(nq * sizeof(T)), dk_in(nk * sizeof(T)), dv_in(nk * sizeof(T)), dgo(nq * sizeof(T));
  DeviceBuffer dqo(qo.size() * 4), dqs(qs.size() * 4), dko(ko.size() * 4), dks(ks.size() * 4);
  DeviceBuffer dout(nq * sizeof(T)), dlse(rows * sizeof(acc_t)), ddelta(rows * sizeof(acc_t));
  DeviceBuffer dgq(nq * sizeof(T)), dgk(nk * sizeof(T)), dgv(nk * sizeof(T));
  upload(dq_in, hq), upload(dk_in, hk), upload(dv_in, hv), upload(dgo, hgo);
  upload(dqo, qo), upload(dqs, qs), upload(dko, ko), upload(dks, ks);
  p.q = dq_in.ptr, p.k = dk_in.ptr, p.v = dv_in.ptr;
  p.q_order = static_cast<int32_t*>(dqo.ptr), p.q_sorted = static_cast<int32_t*>(dqs.ptr);
  p.k_order = static_cast<int32_t*>(dko.ptr), p.k_sorted = static_cast<int32_t*>(dks.ptr);
  p.q_layout_stride = P.Gq == 1 ? 0 : P.Nq;
  p.k_layout_stride = P.Gk == 1 ? 0 : P.Nk;
  p.out = dout.ptr, p.lse = dlse.ptr;

  char label[160];
  std::snprintf(label, sizeof(label), "%s d=%lld%s", P.name, static_cast<long long>(P.D), bnhd ? " (B,N,H,d)" : "");
  Problem named = P;
  named.name = label;
  const pyiqa_fast::Status fs = ba::launch_block_attention_fwd(p, nullptr);
  if (fs != pyiqa_fast::Status::kOk) {
    std::printf("FAIL %s [%s]: forward launch: %s (%s)\n", label, dtype_name<T>(), pyiqa_fast::status_string(fs),
                ba::block_attention_cuda_error());
    ++failures;
    return;
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  const auto out = download<T>(dout, nq);
  const auto lse = download<acc_t>(dlse, rows);
  compare(to_double(out), want.out, tol, named, dtype_name<T>(), "out");
  compare(to_double(lse), want.lse, tol, named, dtype_name<T>(), "lse");

  ba::CudaBwdParams bp;
  bp.fwd = p;
  bp.grad_out = dgo.ptr;
  std::memcpy(bp.grad_out_stride, go_stride, sizeof(go_stride));
  bp.grad_q = dgq.ptr, bp.grad_k = dgk.ptr, bp.grad_v = dgv.ptr, bp.delta = ddelta.ptr;
  const pyiqa_fast::Status bs = ba::launch_block_attention_bwd(bp, nullptr);
  if (bs != pyiqa_fast::Status::kOk) {
    std::printf("FAIL %s [%s]: backward launch: %s (%s)\n", label, dtype_name<T>(), pyiqa_fast::status_string(bs),
                ba::block_attention_cuda_error());
    ++failures;
    return;
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  const auto gq = download<T>(dgq, nq), gk = download<T>(dgk, nk), gv = download<T>(dgv, nk);
  compare(to_double(gq), want.dq, tol, named, dtype_name<T>(), "grad_q");
  compare(to_double(gk), want.dk, tol, named, dtype_name<T>(), "grad_k");
  compare(to_double(gv), want.dv, tol, named, dtype_name<T>(), "grad_v");

  // Determinism: a second run is bitwise identical.
  CHECK_CUDA(cudaMemset(dout.ptr, 0xff, nq * sizeof(T)));
  CHECK_CUDA(cudaMemset(dgk.ptr, 0xff, nk * sizeof(T)));
  if (ba::launch_block_attention_fwd(p, nullptr) != pyiqa_fast::Status::kOk ||
      ba::launch_block_attention_bwd(bp, nullptr) != pyiqa_fast::Status::kOk) {
    std::printf("FAIL %s [%s]: relaunch\n", label, dtype_name<T>());
    ++failures;
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  const auto out2 = download<T>(dout, nq);
  const auto gk2 = download<T>(dgk, nk);
  if (std::memcmp(out.data(), out2.data(), nq * sizeof(T)) != 0 ||
      std::memcmp(gk.data(), gk2.data(), nk * sizeof(T)) != 0) {
    std::printf("FAIL %s [%s]: results differ between two runs\n", label, dtype_name<T>());
    ++failures;
  }
}

void test_cuda(std::mt19937& rng) {
  for (Problem P : problems(rng)) {
    fill(&P, rng, /*half=*/false);
    const Result want = reference(P);
    run_cuda<float>(P, want, false);
    run_cuda<double>(P, want, false);
    if (P.Nq == 197) run_cuda<float>(P, want, true);
  }
  for (Problem P : problems(rng)) {  // fp16 on fp16-exact inputs, a few shapes
    if (P.Nq != 197 && P.Nk != 130) continue;
    fill(&P, rng, /*half=*/true);
    run_cuda<__half>(P, reference(P), false);
  }
  // Invalid head_dim: a status, no launch.
  ba::CudaParams bad;
  bad.batch = bad.heads = bad.q_len = bad.k_len = 1;
  bad.head_dim = 80;
  if (ba::launch_block_attention_fwd(bad, nullptr) != pyiqa_fast::Status::kInvalidArgument) {
    std::printf("FAIL head_dim 80 was not rejected\n");
    ++failures;
  }
}

#else
// ---- CPU (the header API; block_attention_cpu.cpp) ----------------------------------------------

template <typename T>
void run_cpu(const Problem& P, const Result& want) {
  const int64_t D = P.D;
  auto cast = [](const std::vector<double>& x) { return std::vector<T>(x.begin(), x.end()); };
  const auto q = cast(P.q), k = cast(P.k), v = cast(P.v), dout = cast(P.dout);
  std::vector<T> out(q.size()), lse(P.B * P.H * P.Nq), gq(q.size()), gk(k.size()), gv(v.size());
  ba::CpuParams<T> p;
  p.batch = P.B, p.heads = P.H, p.q_len = P.Nq, p.k_len = P.Nk, p.head_dim = D;
  const int64_t qs[3] = {P.H * P.Nq * D, P.Nq * D, D}, ks[3] = {P.H * P.Nk * D, P.Nk * D, D};
  p.q = q.data(), p.k = k.data(), p.v = v.data();
  std::memcpy(p.q_stride, qs, sizeof(qs));
  std::memcpy(p.k_stride, ks, sizeof(ks));
  std::memcpy(p.v_stride, ks, sizeof(ks));
  p.q_groups = P.qg.data(), p.q_groups_stride = P.Gq == 1 ? 0 : P.Nq;
  p.k_groups = P.kg.data(), p.k_groups_stride = P.Gk == 1 ? 0 : P.Nk;
  p.scale = static_cast<T>(P.scale);
  p.out = out.data(), p.lse = lse.data();
  ba::CpuBwdParams<T> bp;
  bp.fwd = p;
  bp.grad_out = dout.data();
  std::memcpy(bp.grad_out_stride, qs, sizeof(qs));
  bp.grad_q = gq.data(), bp.grad_k = gk.data(), bp.grad_v = gv.data();
  if (ba::block_attention_fwd_cpu<T>(p, 0, P.B * P.H) != pyiqa_fast::Status::kOk ||
      ba::block_attention_bwd_cpu<T>(bp, 0, P.B * P.H) != pyiqa_fast::Status::kOk) {
    std::printf("FAIL %s: cpu kernel returned an error\n", P.name);
    ++failures;
    return;
  }
  const char* name = sizeof(T) == 8 ? "fp64" : "fp32";
  const double tol = sizeof(T) == 8 ? 1e-11 : 1e-4;
  auto wide = [](const std::vector<T>& x) { return std::vector<double>(x.begin(), x.end()); };
  compare(wide(out), want.out, tol, P, name, "out");
  compare(wide(lse), want.lse, tol, P, name, "lse");
  compare(wide(gq), want.dq, tol, P, name, "grad_q");
  compare(wide(gk), want.dk, tol, P, name, "grad_k");
  compare(wide(gv), want.dv, tol, P, name, "grad_v");
}

void test_cpu(std::mt19937& rng) {
  for (Problem P : problems(rng)) {
    fill(&P, rng, /*half=*/false);
    const Result want = reference(P);
    run_cpu<double>(P, want);
    run_cpu<float>(P, want);
  }
}
#endif

}  // namespace

int main() {
  std::mt19937 rng(0);
#if PYIQA_FAST_WITH_CUDA
  test_cuda(rng);
#else
  test_cpu(rng);
#endif
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
  return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
