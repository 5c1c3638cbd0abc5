// Standalone test of the margin_ranking_loss kernels, without torch: the CPU kernel against an
// O(n²) double loop and a hand-computed case; with PYIQA_FAST_WITH_CUDA, the CUDA launcher
// against the CPU kernel over launch shapes (one block, full block, finalize kernel, prime n).
// It is the target of `make sanitize` (compute-sanitizer memcheck / racecheck / initcheck).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/margin_ranking_loss/margin_ranking_loss.h"

#if PYIQA_FAST_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace mrl = pyiqa_fast::margin_ranking_loss;

namespace {

int failures = 0;

void expect_close(double actual, double expected, double tol, const char* what, int64_t n) {
  if (!(std::fabs(actual - expected) <= tol * (1.0 + std::fabs(expected)))) {
    std::printf("FAIL %s (n=%lld): %.17g vs %.17g\n", what, static_cast<long long>(n), actual, expected);
    ++failures;
  }
}

// The published double loop, with clamp's historical subgradient 1 at 0.
template <typename T>
void brute_force(const std::vector<T>& p, const std::vector<T>& y, T m, double* loss, std::vector<double>* grad) {
  const int64_t n = static_cast<int64_t>(p.size());
  const double c = 2.0 / (static_cast<double>(n) * (n - 1));
  long double total = 0.0L;  // ~n²/2 terms: double accumulation would drift by ~1e-10 at n = 9001
  grad->assign(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      const double sign = (y[i] > y[j]) - (y[i] < y[j]);
      const T argument = static_cast<T>(static_cast<T>(-sign) * static_cast<T>(p[i] - p[j]) + m);
      if (argument >= 0) {
        total += argument;
        (*grad)[i] -= sign * c;
        (*grad)[j] += sign * c;
      }
    }
  }
  *loss = static_cast<double>(c * total);
}

template <typename T>
void run_cpu(const std::vector<T>& p, const std::vector<T>& y, T m, double* loss, std::vector<T>* grad) {
  mrl::CpuParams<T> params;
  params.n = static_cast<int64_t>(p.size());
  params.pred = p.data();
  params.target = y.data();
  params.margin = m;
  params.loss = loss;
  grad->resize(p.size());
  params.grad = grad->data();
  const mrl::ParallelFor serial = [](int64_t b, int64_t e, const std::function<void(int64_t, int64_t)>& f) { f(b, e); };
  if (mrl::margin_ranking_loss_fwd_cpu<T>(params, serial) != pyiqa_fast::Status::kOk) {
    std::printf("FAIL cpu kernel returned an error\n");
    ++failures;
  }
}

template <typename T>
void random_case(int64_t n, int levels, std::mt19937& rng, std::vector<T>* p, std::vector<T>* y) {
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> level(0, levels - 1);
  p->resize(n);
  y->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    (*p)[i] = static_cast<T>(normal(rng));
    (*y)[i] = static_cast<T>(level(rng));
  }
}

void test_cpu(std::mt19937& rng) {
  // Hand-computed: pred [3, 2, 1, 0], target [0, 0, 1, 2], margin 0.5: tie 0.5 + 2.5 + 3.5 + 1.5 + 2.5 + 1.5.
  {
    const std::vector<double> p{3, 2, 1, 0}, y{0, 0, 1, 2};
    double loss;
    std::vector<double> grad;
    run_cpu(p, y, 0.5, &loss, &grad);
    expect_close(loss, 12.0 / 6.0, 1e-15, "golden loss", 4);
    const double want[] = {2.0 / 6, 2.0 / 6, -1.0 / 6, -3.0 / 6};
    for (int i = 0; i < 4; ++i) expect_close(grad[i], want[i], 1e-15, "golden grad", 4);
  }
  for (int64_t n : {2, 3, 17, 100, 1000, 9001}) {  // 9001: many merge levels; the parallel path is tested from Python
    for (int levels : {1, 3, 50, 1 << 30}) {  // 1 << 30: (almost) all targets distinct
      std::vector<double> p, y;
      random_case(n, levels, rng, &p, &y);
      // Integer predictions and margin put hinge arguments exactly at 0.
      if (levels == 3) for (auto& v : p) v = std::round(v * 2);
      const double m = levels == 3 ? 1.0 : 0.3;
      double loss, expected_loss;
      std::vector<double> grad, expected_grad;
      run_cpu(p, y, m, &loss, &grad);
      brute_force(p, y, m, &expected_loss, &expected_grad);
      expect_close(loss, expected_loss, 1e-12, "cpu loss", n);
      for (int64_t i = 0; i < n; ++i) expect_close(grad[i], expected_grad[i], 1e-12, "cpu grad", n);
    }
  }
}

#if PYIQA_FAST_WITH_CUDA
template <typename T>
void test_cuda_case(int64_t n, bool has_margin, std::mt19937& rng) {
  std::vector<T> p, y;
  random_case(n, 7, rng, &p, &y);
  const double margin = 0.25;
  T m = static_cast<T>(margin);
  if (!has_margin) {
    m = static_cast<T>(0.25 * mrl::target_std_cpu<T>(y.data(), 1, n));
  }
  double expected_loss;
  std::vector<T> expected_grad;
  run_cpu(p, y, m, &expected_loss, &expected_grad);

  T *d_p, *d_y, *d_grad, *d_loss;
  double* d_partials;
  const int64_t blocks = mrl::cuda_num_blocks(n);
  cudaMalloc(&d_p, n * sizeof(T));
  cudaMalloc(&d_y, n * sizeof(T));
  cudaMalloc(&d_grad, n * sizeof(T));
  cudaMalloc(&d_loss, sizeof(T));
  cudaMalloc(&d_partials, blocks * sizeof(double));
  cudaMemcpy(d_p, p.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  cudaMemcpy(d_y, y.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  mrl::CudaParams params;
  params.n = n;
  params.pred = d_p;
  params.target = d_y;
  params.dtype = sizeof(T) == 8 ? pyiqa_fast::DType::kFloat64 : pyiqa_fast::DType::kFloat32;
  params.has_margin = has_margin;
  params.margin = margin;
  params.margin_scale = 0.25;
  params.loss = d_loss;
  params.grad = d_grad;
  params.partials = d_partials;
  if (mrl::launch_margin_ranking_loss_fwd(params, nullptr) != pyiqa_fast::Status::kOk ||
      cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("FAIL cuda launch (n=%lld)\n", static_cast<long long>(n));
    ++failures;
  }
  T loss;
  std::vector<T> grad(n);
  cudaMemcpy(&loss, d_loss, sizeof(T), cudaMemcpyDeviceToHost);
  cudaMemcpy(grad.data(), d_grad, n * sizeof(T), cudaMemcpyDeviceToHost);
  const double tol = sizeof(T) == 8 ? 1e-12 : 1e-5;
  expect_close(loss, expected_loss, tol, "cuda loss", n);
  for (int64_t i = 0; i < n; ++i) expect_close(grad[i], expected_grad[i], tol, "cuda grad", n);
  cudaFree(d_p);
  cudaFree(d_y);
  cudaFree(d_grad);
  cudaFree(d_loss);
  cudaFree(d_partials);
}

void test_cuda(std::mt19937& rng) {
  for (int64_t n : {2, 100, 256, 257, 1031, 4099}) {
    for (bool has_margin : {false, true}) {
      test_cuda_case<double>(n, has_margin, rng);
      test_cuda_case<float>(n, has_margin, rng);
    }
  }
}
#endif

}  // namespace

int main() {
  std::mt19937 rng(0);
  test_cpu(rng);
#if PYIQA_FAST_WITH_CUDA
  test_cuda(rng);
#endif
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
  return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
